"""Settings (environment prefix ``MOVIEREC_``) and the on-disk artifact layout.

The layout keeps the seed project's paths under a working directory (``--home`` /
``MOVIEREC_HOME``, default: the current directory)::

    data/raw/ml-100k/                 original GroupLens files
    data/raw/ratings.csv              converted ratings (userId,movieId,rating,timestamp)
    data/raw/movies.csv               converted movies (UTF-8)
    data/processed/ratings_clean.csv  filtered ratings
    models/recommender.npz            the trained model (arrays + JSON metadata, no pickle)
    models/versions/                  registered model versions (movierec retrain)
    mlflow/                           the local MLflow tracking store (mlflow.db, artifacts/)
    logs/runs.jsonl                   one JSON line per step run
    reports/<protocol>/               evaluation reports
    db/movierec.db                    SQLite recommendation store
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide defaults; every field can be set as ``MOVIEREC_<FIELD>``.

    This is the one home of the pipeline's defaults:
    :meth:`movierec.pipeline_config.PipelineConfig.from_settings` lays command-line options
    over it.
    """

    model_config = SettingsConfigDict(env_prefix="MOVIEREC_", extra="ignore")

    home: Path = Path(".")
    dataset: str = "ml-100k"
    source: str | None = None
    db_url: str | None = None
    min_user_ratings: int = 5
    min_item_ratings: int = 20
    model: str = "user-knn"
    download_timeout: float = 60.0
    download_retries: int = 3
    promote_margin: float = 0.01
    tracking: bool = True
    threads: int = 0
    """Threads of the compiled models (0: every available core; see :mod:`movierec.threads`)."""
    swap_poll: float = 2.0
    """Seconds between a server process's polls of the production pointer (0: never swap;
    see :mod:`movierec.api.swap`)."""
    admin_token: str | None = None
    """A bearer token that may write any user's ratings over HTTP, MovieLens users' too
    (unset: nobody can write to imported users)."""


def get_settings() -> Settings:
    """Read settings from the environment (not cached: tests change the environment)."""
    return Settings()


@dataclass(frozen=True)
class Layout:
    """Paths of every artifact under one working directory ``home``."""

    home: Path
    dataset: str = "ml-100k"

    @property
    def raw_dir(self) -> Path:
        return self.home / "data" / "raw"

    @property
    def dataset_dir(self) -> Path:
        """Where the original release files are extracted (``data/raw/<dataset>/``)."""
        return self.raw_dir / self.dataset

    @property
    def ratings_csv(self) -> Path:
        return self.raw_dir / "ratings.csv"

    @property
    def movies_csv(self) -> Path:
        return self.raw_dir / "movies.csv"

    @property
    def processed_dir(self) -> Path:
        return self.home / "data" / "processed"

    @property
    def clean_ratings_csv(self) -> Path:
        return self.processed_dir / "ratings_clean.csv"

    @property
    def clean_ratings_parquet(self) -> Path:
        """The filtered ratings of the Spark engine (``data/processed/ratings_clean.parquet``)."""
        return self.processed_dir / "ratings_clean.parquet"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def model_path(self) -> Path:
        return self.models_dir / "recommender.npz"

    @property
    def versions_dir(self) -> Path:
        """Registered model versions (``models/versions/<model>-<sha12>.npz``)."""
        return self.models_dir / "versions"

    @property
    def tracking_dir(self) -> Path:
        """The local MLflow tracking store (``mlflow/mlflow.db`` and ``mlflow/artifacts``)."""
        return self.home / "mlflow"

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "runs.jsonl"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def db_path(self) -> Path:
        return self.home / "db" / "movierec.db"

    @property
    def default_db_url(self) -> str:
        return f"sqlite:///{self.db_path.resolve()}"
