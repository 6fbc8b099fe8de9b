"""Store fixtures: the same tests run on SQLite (a temp file) and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from movierec.models.base import Recommender
from movierec.testing import taste_clusters
from tests.conftest import unavailable
from tests.store.toy import ItemCosine, load_ml100k, pg_reachable, pg_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on each backend (PostgreSQL: a unique schema, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'movierec.db'}"
        return
    reason = pg_reachable()
    if reason:
        unavailable(reason)
    with pg_schema_url() as url:
        yield url


@pytest.fixture(scope="session")
def toy_model() -> Recommender:
    """ItemCosine fitted on a synthetic 60 users x 40 movies matrix with a catalogue."""
    data, catalog = taste_clusters()
    return ItemCosine().fit(data, catalog)


@pytest.fixture(scope="session")
def ml100k_model(ml100k_dir: Path) -> Recommender:
    """ItemCosine fitted on the whole real ml-100k (u.data + u.item)."""
    data, catalog = load_ml100k(ml100k_dir)
    return ItemCosine().fit(data, catalog)
