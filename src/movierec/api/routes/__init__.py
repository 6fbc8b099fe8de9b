"""HTTP routes: thin glue from FastAPI to :class:`movierec.api.service.Serving`."""
