"""``GET /runs``, ``GET /runs/{id}``, ``GET /runs/{id}/leaderboard``, leaderboards and plots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.routes.params import RunId
from movierec.api.schemas import ErrorBody, Leaderboard, LeaderboardIndex, RunOut

router = APIRouter(tags=["runs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown run or no report"}
}
Name = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


@router.get("/runs", response_model=list[RunOut])
async def list_runs(serving: ServingDep, gates: GatesDep) -> list[RunOut]:
    """Every stored run, newest first (empty without a store)."""
    return await gates.store.run(serving.runs)


@router.get("/runs/{run_id}", response_model=RunOut, responses=NOT_FOUND)
async def get_run(run_id: RunId, serving: ServingDep, gates: GatesDep) -> RunOut:
    """One stored run."""
    return await gates.store.run(serving.run, run_id)


@router.get("/runs/{run_id}/leaderboard", response_model=Leaderboard, responses=NOT_FOUND)
async def run_leaderboard(run_id: RunId, serving: ServingDep, gates: GatesDep) -> Leaderboard:
    """The evaluation leaderboard (reports/<protocol>/leaderboard.json) of the run's protocol."""
    return await gates.store.run(serving.run_leaderboard, run_id)


@router.get("/leaderboards", response_model=LeaderboardIndex)
def leaderboards(serving: ServingDep) -> LeaderboardIndex:
    """Protocols that have a leaderboard under reports/."""
    return LeaderboardIndex(protocols=serving.protocols())


@router.get("/leaderboards/{protocol}", response_model=Leaderboard, responses=NOT_FOUND)
def leaderboard(protocol: Name, serving: ServingDep) -> Leaderboard:
    """reports/<protocol>/leaderboard.json and the URLs of its plots."""
    return serving.leaderboard(protocol)


@router.get(
    "/reports/{protocol}/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, **NOT_FOUND},
)
def report_plot(protocol: Name, name: Name, serving: ServingDep) -> FileResponse:
    """A PNG plot of an evaluation report."""
    return FileResponse(serving.plot_path(protocol, name), media_type="image/png")
