"""One pipeline run's configuration: the ``MOVIEREC_*`` settings with options laid over.

Every command builds one :class:`PipelineConfig` (:meth:`PipelineConfig.from_settings`) and
hands it to the step functions (:mod:`movierec.steps`); the Prefect flow takes it as its one
parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from movierec import defaults
from movierec.config import Layout, Settings, get_settings
from movierec.data.datasets import get_dataset
from movierec.errors import ConfigError

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
    promote_margin: float = Field(0.01, ge=0)
    threads: int = Field(0, ge=0)
    model_chosen: bool = True
    """Whether :attr:`model` was asked for (an option or ``MOVIEREC_MODEL``); if not, the
    pipeline may pick a scalable model for large data (:func:`model_for_size`)."""
    model_params: dict[str, Any] = Field(default_factory=dict)
    user: int = defaults.USER
    n: int = Field(defaults.N, ge=1)
    store_n: int = Field(defaults.STORE_N, ge=0)
    engine: Engine = defaults.ENGINE  # type: ignore[assignment]
    spark_master: str = defaults.SPARK_MASTER
    from_store: bool = False

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> PipelineConfig:
        """The settings (``MOVIEREC_*``) with every option that is not ``None`` laid over.

        Raises:
            ConfigError: an unknown option name or dataset.
        """
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
        if "model_chosen" not in options:
            values["model_chosen"] = (
                options.get("model") is not None or "model" in settings.model_fields_set
            )
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


SCALABLE_MODEL = "ials"
"""The model the pipeline trains by default on large data (linear in the ratings, every core)."""

DEFAULT_MODEL_MAX_RATINGS = 2_000_000
"""Above this many (filtered) ratings the pipeline's default model is :data:`SCALABLE_MODEL`
instead of ``user-knn``, whose user-user similarities grow with the square of the users:
ml-100k, ml-latest-small and ml-1m keep ``user-knn``; ml-10m, ml-20m, ml-25m and ml-latest
get ``ials``."""


def model_for_size(cfg: PipelineConfig, n_ratings: int) -> tuple[PipelineConfig, str | None]:
    """The one rule for the pipeline's default model on large data.

    When the model was not asked for (:attr:`PipelineConfig.model_chosen` is false, no
    ``-p`` parameters, local engine) and ``n_ratings`` exceeds
    :data:`DEFAULT_MODEL_MAX_RATINGS`, the config switches to :data:`SCALABLE_MODEL`.

    Returns:
        ``(config, note)``: the config to train with and a one-line note saying what was
        picked and why (``None`` when nothing changed).
    """
    if cfg.model_chosen or cfg.model_params or cfg.engine != "local":
        return cfg, None
    if n_ratings <= DEFAULT_MODEL_MAX_RATINGS:
        return cfg, None
    note = (
        f"{n_ratings:,} ratings is above {DEFAULT_MODEL_MAX_RATINGS:,}: training "
        f"'{SCALABLE_MODEL}' instead of the default '{cfg.model}' (choose one with --model)"
    )
    return cfg.model_copy(update={"model": SCALABLE_MODEL, "model_params": {}}), note


def _expected(error: Any) -> str:
    """What a pydantic error says the value should be, in words ("an integer >= 1")."""
    ctx = error.get("ctx") or {}
    for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            return f"a number {op} {ctx[key]}"
    return str(error.get("msg", "valid")).lower().removeprefix("input should be ")
