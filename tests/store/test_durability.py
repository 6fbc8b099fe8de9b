"""A rating write is durable once :func:`put_rating` / :func:`delete_rating` returns: a
process writing in a loop is killed with SIGKILL, and every write it acknowledged (the
function returned, then it printed the write) is in the store afterwards (SQLite and
PostgreSQL). The writer and the bookkeeping: :mod:`movierec.testing.crash`."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from movierec.store import ensure_schema, import_ratings, make_engine, user_ratings
from movierec.testing.crash import expected_state, operations, run_and_kill
from tests.store.test_ratings import catalog

pytestmark = pytest.mark.slow

USERS, MOVIES = list(range(1, 21)), list(range(1, 201))


def test_operations_are_what_the_check_assumes() -> None:
    ops = operations(5, 4000, USERS, MOVIES)
    puts = [(u, m) for kind, u, m, _ in ops if kind == "put"]
    deletes = [(u, m) for kind, u, m, _ in ops if kind == "delete"]
    assert len(ops) == 4000 and len(set(puts)) == len(puts)  # each pair put once
    assert len(set(deletes)) == len(deletes) and set(deletes) <= set(puts)
    for i, (kind, u, m, _) in enumerate(ops):  # a pair is deleted only after its put
        if kind == "delete":
            assert ("put", u, m) in {(k, uu, mm) for k, uu, mm, _ in ops[:i]}
    state = expected_state([("put", 1, 1, 4), ("delete", 1, 1, 0), ("put", 2, 2, 5)], 1)
    assert state == {(1, 1): None}  # the op in flight (pair (2, 2)) is left out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_acknowledged_writes_survive_kill_9(db_url: str, tmp_path: Path, seed: int) -> None:
    engine = make_engine(db_url)
    ensure_schema(engine)
    users = pd.DataFrame(
        {"userId": np.array(USERS), "movieId": 1, "rating": np.float32(3), "timestamp": 0}
    )
    import_ratings(engine, users, catalog(MOVIES))
    with engine.begin() as conn:  # start from users without ratings
        conn.execute(text("DELETE FROM ratings"))
    ops = operations(seed, 4000, USERS, MOVIES)
    kill_after = random.Random(seed).randint(100, 600)
    acked = run_and_kill(db_url, ops, kill_after, tmp_path)
    assert acked >= kill_after
    expected = expected_state(ops, acked)
    stored = {
        (r.user_id, r.movie_id): int(r.rating) for u in USERS for r in user_ratings(engine, u)
    }
    assert sum(v is not None for v in expected.values()) > 50
    lost = {k: v for k, v in expected.items() if stored.get(k) != v}
    assert lost == {}, f"{len(lost)} acknowledged writes lost or wrong after kill -9"
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
