"""Kill -9 during rating writes: the durability check of the store's write functions.

A child process applies a seeded list of operations with
:func:`movierec.store.put_rating` / :func:`movierec.store.delete_rating` and prints each
operation's index once the function has returned (acknowledged); the parent kills it with
SIGKILL after a chosen number of acknowledgements. :func:`expected_state` is then what the
store must hold for every acknowledged write. Used by ``tests/store/test_durability.py``
and ``benchmarks/live.py``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

Op = tuple[str, int, int, int]
"""``(kind, user, movie, rating)``: kind ``put`` or ``delete`` (rating 0)."""

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


def operations(seed: int, n: int, users: list[int], movies: list[int]) -> list[Op]:
    """``n`` operations: puts on fresh ``(user, movie)`` pairs, and (one in five) deletes of
    pairs put earlier. Each pair is put once and deleted at most once, so the last
    operation on a pair decides its state."""
    rng = random.Random(seed)
    pairs = [(u, m) for u in users for m in movies]
    rng.shuffle(pairs)
    ops: list[Op] = []
    put: list[tuple[int, int]] = []
    for u, m in pairs:
        if len(ops) >= n:
            break
        if put and rng.random() < 0.2:
            du, dm = put.pop(rng.randrange(len(put)))
            ops.append(("delete", du, dm, 0))
        ops.append(("put", u, m, rng.randint(1, 5)))
        put.append((u, m))
    return ops[:n]


def run_and_kill(url: str, ops: list[Op], kill_after: int, workdir: Path) -> int:
    """Apply ``ops`` in a child process, SIGKILL it once ``kill_after`` operations are
    acknowledged; return the index of the last acknowledged operation.

    Raises:
        RuntimeError: the child did not start, or ended before it was killed.
    """
    ops_file = Path(workdir) / f"ops-{os.getpid()}-{kill_after}.json"
    ops_file.write_text(json.dumps(ops))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(ops_file)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the writer process did not start")
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    rest = proc.stdout.read()
    proc.wait(30)
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the writer ended with code {proc.returncode} before the kill")
    for line in rest.split():  # acknowledged before the kill, read after it
        acked = max(acked, int(line))
    ops_file.unlink(missing_ok=True)
    return acked


def expected_state(ops: list[Op], acked: int) -> dict[tuple[int, int], int | None]:
    """``(user, movie) -> rating`` (``None``: deleted) that every acknowledged operation
    ``ops[: acked + 1]`` leaves; the pair of the operation in flight at the kill (which may
    or may not have committed) is left out."""
    state: dict[tuple[int, int], int | None] = {}
    for kind, u, m, r in ops[: acked + 1]:
        state[(u, m)] = r if kind == "put" else None
    if acked + 1 < len(ops):
        state.pop((ops[acked + 1][1], ops[acked + 1][2]), None)
    return state
