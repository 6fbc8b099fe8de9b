"""``GET /``: the web page (one Jinja2 template + a little vanilla JS calling the JSON API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from movierec.api.deps import ServingDep

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, serving: ServingDep) -> HTMLResponse:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "index.html", {"meta": serving.metadata()})
