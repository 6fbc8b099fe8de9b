"""How many threads the compiled models use: every available core unless limited.

One process-wide limit (``--threads`` / ``MOVIEREC_THREADS``; 0 = every core this process
may run on). :func:`limit` applies it to everything that runs threads in this process:
``implicit``'s solvers and top-k (models ask :func:`current`), numba's parallel kernels
(``numba.set_num_threads``; numba's pool has every core by default, so numba is imported
here only when a lower limit is asked for) and BLAS / OpenMP pools (``threadpoolctl``).
Results do not depend on the thread count, except where a model says so (``bpr``'s
Hogwild SGD).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["available_cores", "current", "limit", "resolve"]

_limit = 0  # 0: no limit (every available core)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve(threads: int | None) -> int:
    """A thread count: ``threads`` if positive, else the current limit (:func:`current`)."""
    return int(threads) if threads and int(threads) > 0 else current()


def current() -> int:
    """Threads the compiled models use now: the limit set by :func:`limit`, else every
    available core."""
    return min(_limit, available_cores()) if _limit > 0 else available_cores()


@contextmanager
def limit(threads: int) -> Iterator[int]:
    """Run the block with at most ``threads`` threads (0: every available core); yields the
    thread count in effect."""
    global _limit
    previous = _limit
    _limit = max(0, int(threads))
    n = current()
    numba_before = _numba_threads(n)
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(n):
            yield n
    finally:
        _limit = previous
        if numba_before is not None:
            import numba

            numba.set_num_threads(numba_before)


def _numba_threads(n: int) -> int | None:
    """Give numba ``n`` threads; returns the previous count (``None``: nothing changed, as
    numba is not loaded and its default, every core, is asked for)."""
    if "numba" not in sys.modules and n >= available_cores():
        return None
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    before = int(numba.get_num_threads())
    numba.set_num_threads(max(1, min(n, int(numba.config.NUMBA_NUM_THREADS))))
    return before
