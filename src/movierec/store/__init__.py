"""The recommendation store: SQLAlchemy 2 tables on SQLite (default) or PostgreSQL.

Writers call :func:`write_run`; readers use the functions of :mod:`movierec.store.queries`.
"""

from movierec.store.engine import (
    check_schema,
    ensure_schema,
    make_engine,
    resolve_db_url,
    safe_url,
)
from movierec.store.queries import (
    RunInfo,
    StoredRecommendation,
    current_run,
    export_run,
    get_run,
    list_runs,
    load_movies,
    prune_runs,
    runs_table,
    user_recommendations,
)
from movierec.store.schema import SCHEMA_VERSION
from movierec.store.writer import RunMeta, recommendations_frame, write_run

__all__ = [
    "SCHEMA_VERSION",
    "RunInfo",
    "RunMeta",
    "StoredRecommendation",
    "check_schema",
    "current_run",
    "ensure_schema",
    "export_run",
    "get_run",
    "list_runs",
    "load_movies",
    "prune_runs",
    "make_engine",
    "recommendations_frame",
    "resolve_db_url",
    "runs_table",
    "safe_url",
    "user_recommendations",
    "write_run",
]
