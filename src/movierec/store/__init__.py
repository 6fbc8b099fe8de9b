"""The recommendation store: SQLAlchemy 2 tables on SQLite (default) or PostgreSQL.

Writers call :func:`write_run`; readers use the functions of :mod:`movierec.store.queries`.
Feedback (users, ratings) lives in :mod:`movierec.store.ratings`; model versions and the
production pointer in :mod:`movierec.store.versions`.
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
from movierec.store.ratings import (
    ImportResult,
    StoredRating,
    create_user,
    delete_rating,
    import_ratings,
    put_rating,
    ratings_frame,
    ratings_since,
    user_ratings,
    users_changed_since,
    verify_token,
)
from movierec.store.schema import SCHEMA_VERSION
from movierec.store.versions import (
    PointerChange,
    VersionInfo,
    list_versions,
    production_pointer,
    production_version,
    promote,
    register_version,
    rollback,
)
from movierec.store.writer import RunMeta, recommendations_frame, write_run

__all__ = [
    "SCHEMA_VERSION",
    "ImportResult",
    "PointerChange",
    "RunInfo",
    "RunMeta",
    "StoredRating",
    "StoredRecommendation",
    "VersionInfo",
    "check_schema",
    "create_user",
    "current_run",
    "delete_rating",
    "ensure_schema",
    "export_run",
    "get_run",
    "import_ratings",
    "list_runs",
    "list_versions",
    "load_movies",
    "prune_runs",
    "make_engine",
    "production_pointer",
    "production_version",
    "promote",
    "put_rating",
    "ratings_frame",
    "ratings_since",
    "recommendations_frame",
    "register_version",
    "resolve_db_url",
    "rollback",
    "runs_table",
    "safe_url",
    "user_ratings",
    "user_recommendations",
    "users_changed_since",
    "verify_token",
    "write_run",
]
