"""Settings (environment prefix ``MOVIEREC_``) and the on-disk artifact layout.

The layout keeps the seed project's paths under a working directory (``--home`` /
``MOVIEREC_HOME``, default: the current directory)::

    data/raw/ml-100k/                 original GroupLens files
    data/raw/ratings.csv              converted ratings (userId,movieId,rating,timestamp)
    data/raw/movies.csv               converted movies (UTF-8)
    data/processed/ratings_clean.csv  filtered ratings
    models/recommender.npz            the trained model (arrays + JSON metadata, no pickle)
    logs/runs.jsonl                   one JSON line per step run
    reports/<protocol>/               evaluation reports
    db/movierec.db                    SQLite recommendation store
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from movierec.errors import ConfigError


class Settings(BaseSettings):
    """Process-wide defaults; every field can be set as ``MOVIEREC_<FIELD>``.

    This is the one home of the pipeline's defaults: :meth:`PipelineConfig.from_settings`
    lays command-line options over it.
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


def get_settings() -> Settings:
    """Read settings from the environment (not cached: tests change the environment)."""
    return Settings()


Engine = Literal["local", "spark"]


class PipelineConfig(BaseModel):
    """Everything one pipeline run (or one of its steps) needs, built once.

    Fields that have a ``MOVIEREC_*`` setting take its value unless an option overrides it
    (:meth:`from_settings`); the others have their defaults here. The database URL is a
    secret: it is masked wherever the config is shown or stored (Prefect's flow-run
    parameters included); :attr:`database_url` gives the real value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    dataset: str
    source: str | None
    db_url: SecretStr | None
    model: str
    min_user_ratings: int
    min_item_ratings: int
    download_timeout: float
    download_retries: int
    model_params: dict[str, Any] = Field(default_factory=dict)
    user: int = 1
    n: int = Field(5, ge=1)
    store_n: int = Field(10, ge=0)
    engine: Engine = "local"
    spark_master: str = "local[*]"

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> PipelineConfig:
        """The settings (``MOVIEREC_*``) with every option that is not ``None`` laid over.

        Raises:
            ConfigError: an unknown option name or dataset.
        """
        from movierec.data.datasets import get_dataset

        settings = settings or get_settings()
        unknown = sorted(set(options) - set(cls.model_fields))
        if unknown:
            raise ConfigError(f"unknown pipeline option(s): {', '.join(unknown)}")
        values: dict[str, Any] = {
            name: getattr(settings, name)
            for name in cls.model_fields
            if name in Settings.model_fields
        }
        values.update({k: v for k, v in options.items() if v is not None})
        values["home"] = Path(values["home"]).expanduser()
        values["dataset"] = get_dataset(values["dataset"]).name
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(map(str, first["loc"]))
            raise ConfigError(
                f"{name} must be {_expected(first)}, got {first.get('input')!r}"
            ) from None

    @property
    def layout(self) -> Layout:
        """The artifact layout of :attr:`home` for :attr:`dataset`."""
        return Layout(self.home, self.dataset)

    @property
    def database_url(self) -> str | None:
        """The store URL as given (``None``: ``MOVIEREC_DB_URL`` or SQLite under ``home``)."""
        return self.db_url.get_secret_value() if self.db_url is not None else None


def _expected(error: Any) -> str:
    """What a pydantic error says the value should be, in words ("an integer >= 1")."""
    ctx = error.get("ctx") or {}
    for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            return f"a number {op} {ctx[key]}"
    return str(error.get("msg", "valid")).lower().removeprefix("input should be ")


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
