"""Shared fixtures: the real MovieLens data in ../shared/data (skipped with a reason if absent)

and one Prefect test server for every flow test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Tracking (MLflow) costs seconds per command; the tests that check it turn it on.
os.environ.setdefault("MOVIEREC_TRACKING", "0")


def _shared_data() -> Path:
    env = os.environ.get("MOVIEREC_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


SHARED_DATA = _shared_data()

STRICT = os.environ.get("MOVIEREC_STRICT_TESTS", "") not in ("", "0")
"""``make test`` and CI set ``MOVIEREC_STRICT_TESTS=1``: a missing browser, PostgreSQL server,
Java runtime or real-data folder then fails the tests that need it instead of skipping them."""


def unavailable(reason: str) -> None:
    """Skip (or, in strict mode, fail) a test whose infrastructure is missing."""
    if STRICT:
        pytest.fail(f"{reason} (MOVIEREC_STRICT_TESTS is set: this must be available)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real ml-100k and ml-latest-small); skips when it is absent."""
    if not (SHARED_DATA / "ml-100k" / "u.data").is_file():
        unavailable(f"real MovieLens data not found at {SHARED_DATA} (set MOVIEREC_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ml100k_dir(shared_data: Path) -> Path:
    """The extracted real ml-100k folder (read-only: never write into it)."""
    return shared_data / "ml-100k"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server (and database) shared by every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


_PREFECT_ENV = ("PREFECT_API_URL", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")


@pytest.fixture(autouse=True)
def _prefect_env_restored() -> Iterator[None]:
    """Each test starts with the Prefect variables the session started with: a test that runs
    a flow or a server in this process (Prefect's temporary server, ``movierec schedule``)
    must not point later tests' subprocesses at a server that is gone."""
    before = {name: os.environ.get(name) for name in _PREFECT_ENV}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
