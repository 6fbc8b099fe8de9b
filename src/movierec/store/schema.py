"""Tables of the recommendation store (SQLAlchemy 2 typed declarative mapping).

Schema (version :data:`SCHEMA_VERSION`)::

    schema_version(version)                   one row: the schema this database holds
    movies(id, title, year, genres)           MovieLens movieId, title, year, '|'-joined genres
    runs(id, model, params, data_fingerprint,  one row per stored model run; params/metrics
         metrics, n_users, n_recommendations,  are JSON; status is writing|complete|failed;
         created, status, is_current, writer)  at most one complete run is current; writer
                                               is host:pid:start of the writing process
    recommendations(run_id, user_id, rank,     top-N per user of a run (external MovieLens
                    movie_id, score,           ids, rank 1 = best)
                    explanation)

  since version 2 (the living pipeline: feedback in, model versions out)::

    users(id, token_hash, created, changed)    MovieLens users (imported) and people who signed
                                               up through the service (token_hash: SHA-256 of
                                               their token; NULL for imported users); changed:
                                               Unix time of the last rating write (NULL: none)
    ratings(user_id, movie_id, rating,         one row per (user, movie): the source of truth
            updated)                           once imported; updated in Unix seconds (the
                                               MovieLens timestamp for imported rows)
    model_versions(id, model, params, path,    every registered model file (path relative to
         sha256, metrics, data_fingerprint,    the home), what it was trained on and how it
         code_version, n_ratings,              scored on the hold-out against production
         ratings_as_of, created)
    production(id, version_id,                 one row (id 1): the version in production and
               previous_version_id, updated)   the one before it (what rollback returns to)
    promotions(id, version_id,                 every change of the production pointer
               previous_version_id, action,
               reason, created)
    runs.model_version                         the model version that wrote a run (NULL: a
                                               model file that was never registered)

``recommendations.movie_id`` deliberately has no foreign key to ``movies``: a run stays
readable even if a later catalogue drops a movie, and bulk loads skip the FK check.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 3
"""Bump when a table changes; add the upgrade step to ``movierec.store.engine.MIGRATIONS``."""

STATUS_WRITING = "writing"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every store table."""

    type_annotation_map = {dict[str, Any]: JSON}


class SchemaVersion(Base):
    """The single-row table recording which schema version the database holds."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class Movie(Base):
    """One movie of the catalogue (MovieLens ``movieId``)."""

    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    genres: Mapped[str] = mapped_column(Text, default="")


class Run(Base):
    """One model run whose recommendations are stored.

    ``status`` goes ``writing`` → ``complete`` (or ``failed``); only a complete run can be
    current, and the partial unique index guarantees at most one current run. ``writer``
    identifies the process writing it (see :mod:`movierec.store.lifecycle`); added in
    schema version 2.
    """

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    n_users: Mapped[int] = mapped_column(Integer, default=0)
    n_recommendations: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_WRITING)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    writer: Mapped[str] = mapped_column(String(255), default="", server_default="")
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)

    __table_args__ = (
        Index(
            "ix_runs_one_current",
            "is_current",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )


class Recommendation(Base):
    """One recommended movie for one user in one run."""

    __tablename__ = "recommendations"

    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    """A person who rates: a MovieLens user (imported) or one created through the service."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    changed: Mapped[float | None] = mapped_column(Float, nullable=True, default=None, index=True)


class Rating(Base):
    """One user's current rating of one movie (external MovieLens ids)."""

    __tablename__ = "ratings"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float, index=True)


class ModelVersion(Base):
    """One registered model file and what it was trained on."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    code_version: Mapped[str] = mapped_column(String(128), default="")
    n_ratings: Mapped[int] = mapped_column(Integer, default=0)
    ratings_as_of: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class Production(Base):
    """The production pointer: one row (``id = 1``) the service polls."""

    __tablename__ = "production"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("model_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("model_versions.id"), nullable=True
    )
    updated: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class Promotion(Base):
    """One change of the production pointer (``promote``, ``rollback``), oldest first."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("model_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


LIVING_TABLES = ("users", "ratings", "model_versions", "production", "promotions")
"""The tables schema version 2 added (created by the 1 -> 2 migration)."""

SCHEMA_VERSION_TABLE = cast(Table, SchemaVersion.__table__)
MOVIES = cast(Table, Movie.__table__)
RUNS = cast(Table, Run.__table__)
RECOMMENDATIONS = cast(Table, Recommendation.__table__)
USERS = cast(Table, User.__table__)
RATINGS = cast(Table, Rating.__table__)
MODEL_VERSIONS = cast(Table, ModelVersion.__table__)
PRODUCTION = cast(Table, Production.__table__)
PROMOTIONS = cast(Table, Promotion.__table__)
"""The Core tables (typed) for bulk statements."""

RECOMMENDATION_COLUMNS = ("run_id", "user_id", "rank", "movie_id", "score", "explanation")
"""Column order used by bulk loads (executemany / COPY)."""

RATING_COLUMNS = ("user_id", "movie_id", "rating", "updated")
"""Column order of the ratings bulk load."""
