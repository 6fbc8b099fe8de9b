"""A rating write is durable once :func:`put_rating` / :func:`delete_rating` returns: a
process writing in a loop is killed with SIGKILL, and every write it acknowledged (the
function returned, then it printed the write) is in the store afterwards (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from movierec.store import ensure_schema, import_ratings, make_engine, user_ratings
from tests.store.test_ratings import catalog

pytestmark = pytest.mark.slow

WRITER = """
import json, sys
from movierec.data.datasets import WHOLE_STARS
from movierec.store import delete_rating, make_engine, put_rating
engine = make_engine(sys.argv[1])
ops = json.load(open(sys.argv[2]))
print("ready", flush=True)
for i, (kind, user, movie, rating) in enumerate(ops):
    if kind == "put":
        put_rating(engine, user, movie, rating, scale=WHOLE_STARS)
    else:
        delete_rating(engine, user, movie)
    print(i, flush=True)
"""


def operations(seed: int, n: int = 4000) -> list[tuple[str, int, int, int]]:
    """Puts on fresh (user, movie) pairs and deletes of pairs put earlier; each pair is put
    once and deleted at most once, so the last op touching a pair decides its state."""
    rng = random.Random(seed)
    pairs = [(u, m) for u in range(1, 21) for m in range(1, 201)]
    rng.shuffle(pairs)
    ops: list[tuple[str, int, int, int]] = []
    put: list[tuple[int, int]] = []
    for u, m in pairs[:n]:
        if put and rng.random() < 0.2:
            du, dm = put.pop(rng.randrange(len(put)))
            ops.append(("delete", du, dm, 0))
        ops.append(("put", u, m, rng.randint(1, 5)))
        put.append((u, m))
    return ops[:n]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_acknowledged_writes_survive_kill_9(db_url: str, tmp_path: Path, seed: int) -> None:
    engine = make_engine(db_url)
    ensure_schema(engine)
    users = pd.DataFrame(
        {"userId": np.arange(1, 21), "movieId": 1, "rating": np.float32(3), "timestamp": 0}
    )
    import_ratings(engine, users, catalog(list(range(1, 201))))
    with engine.begin() as conn:  # start from users without ratings
        conn.execute(text("DELETE FROM ratings"))
    ops = operations(seed)
    ops_file = tmp_path / f"ops{seed}.json"
    ops_file.write_text(json.dumps(ops))
    kill_after = random.Random(seed).randint(100, 600)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_url, str(ops_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    rest = proc.stdout.read()
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    for line in rest.split():
        acked = max(acked, int(line))
    assert acked >= kill_after
    expected: dict[tuple[int, int], int | None] = {}
    for kind, u, m, r in ops[: acked + 1]:
        expected[(u, m)] = r if kind == "put" else None
    if acked + 1 < len(ops):  # the write in flight when killed may or may not have landed
        expected.pop((ops[acked + 1][1], ops[acked + 1][2]), None)
    stored = {
        (r.user_id, r.movie_id): int(r.rating)
        for u in range(1, 21)
        for r in user_ratings(engine, u)
    }
    assert sum(v is not None for v in expected.values()) > 50
    lost = {k: v for k, v in expected.items() if stored.get(k) != v}
    assert lost == {}, f"{len(lost)} acknowledged writes lost or wrong after kill -9"
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
