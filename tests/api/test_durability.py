"""A crash loses no acknowledged rating: ``kill -9`` of a real ``movierec serve`` process in
the middle of a loop of writes, three times, on SQLite and on PostgreSQL.

Four client threads on 127.0.0.1, each as its own user (created through ``POST /users``),
put ratings on movies it has not rated (every pair is written once) and delete some of its
acknowledged ratings. A write counts as acknowledged when its answer (200 or 204) arrived.
After the last kill the store must hold every acknowledged rating with its value, and no
acknowledged delete. Writes in flight at the kill may or may not have landed: those pairs
are not checked. Seeded; bounded (3 rounds of at most 1.5 s of writes).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from movierec.models.registry import make_model
from movierec.store import make_engine
from movierec.store.schema import RATINGS
from tests.api.conftest import free_port
from tests.api.living import import_ml100k, start_serve
from tests.conftest import unavailable
from tests.store.toy import pg_reachable, pg_schema_url

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

ROUNDS = 3
CLIENTS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable_home(request, ml100k, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    make_model("popularity").fit(*ml100k).save(tmp_path / "models" / "recommender.npz")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'movierec.db'}"
        import_ml100k(url, ml100k)
        yield tmp_path, url
        return
    reason = pg_reachable()
    if reason:
        unavailable(reason)
    with pg_schema_url() as url:
        import_ml100k(url, ml100k)
        yield tmp_path, url


def test_kill_9_loses_no_acknowledged_write(durable_home) -> None:
    home, url = durable_home
    rng = random.Random(12)
    acked: dict[tuple[int, int], float | None] = {}  # pair -> rating (None: deleted)
    unsure: set[tuple[int, int]] = set()  # a write to it was in flight at a kill
    lock = threading.Lock()
    users: list[tuple[int, str]] = []
    next_movie = [1] * CLIENTS  # each client rates movies 1, 2, 3, ... once each
    kills = 0
    for _ in range(ROUNDS):
        port = free_port()
        proc = start_serve(home, port, args=["--db-url", url])
        base = f"http://127.0.0.1:{port}"
        if not users:
            with httpx.Client(base_url=base, timeout=10) as http:
                for _ in range(CLIENTS):
                    made = http.post("/users").json()
                    users.append((made["id"], made["token"]))
        dead = threading.Event()

        def client(k: int, base: str, dead: threading.Event) -> None:
            user, token = users[k]
            headers = {"Authorization": f"Bearer {token}"}
            mine: list[int] = []
            with httpx.Client(base_url=base, timeout=10, headers=headers) as http:
                while not dead.is_set():
                    movie = next_movie[k]
                    if movie > 1682:
                        return
                    delete = len(mine) > 3 and movie % 4 == 0
                    target = mine.pop(0) if delete else movie
                    rating = float(1 + movie % 5)
                    pair = (user, target)
                    next_movie[k] += 1  # never the same pair twice, also after a kill
                    try:
                        path = f"/users/{user}/ratings/{target}"
                        if delete:
                            r = http.delete(path)
                        else:
                            r = http.put(path, json={"rating": rating})
                    except httpx.TransportError:
                        with lock:
                            unsure.add(pair)
                        return
                    assert r.status_code in (200, 204), r.text
                    with lock:
                        acked[pair] = None if delete else rating
                    if not delete:
                        mine.append(target)

        threads = [threading.Thread(target=client, args=(k, base, dead)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += proc.returncode == -signal.SIGKILL
        dead.set()
        for t in threads:
            t.join(15)
    engine = make_engine(url)
    ids = [u for u, _ in users]
    with engine.connect() as db:
        rows = db.execute(
            select(RATINGS.c.user_id, RATINGS.c.movie_id, RATINGS.c.rating).where(
                RATINGS.c.user_id.in_(ids)
            )
        ).all()
    engine.dispose()
    stored = {(int(u), int(m)): float(r) for u, m, r in rows}
    checked = {p: v for p, v in acked.items() if p not in unsure}
    assert kills == ROUNDS
    assert sum(v is not None for v in checked.values()) > 50  # real load, not a handful
    assert sum(v is None for v in checked.values()) > 5
    lost = {p: v for p, v in checked.items() if stored.get(p) != v}
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {list(lost.items())[:5]}"
