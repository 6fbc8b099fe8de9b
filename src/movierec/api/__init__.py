"""The HTTP API and web page (FastAPI); build it with :func:`create_app`."""

from movierec.api.app import create_app, serve

__all__ = ["create_app", "serve"]
