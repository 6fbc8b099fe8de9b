"""Validation carves of a training matrix: a share of every user's ratings held out, random
or newest, for models that choose something at fit time on data they were not fitted on
(the self-fitting blends, AutoRec's tail shrinkage).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from movierec.errors import ConfigError
from movierec.interactions import Interactions

__all__ = ["CARVES", "carve_holdout"]

CARVES = ("random", "newest")


def carve_holdout(
    data: Interactions, fraction: float, seed: int, how: str = "random"
) -> tuple[Interactions, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out ``floor(fraction · n_u)`` ratings of every user ``u``: random ones
    (``how="random"``, seeded) or the user's newest (``how="newest"``, by timestamp, ties
    broken by the larger column; the carve of time-split protocols).

    Returns:
        ``(rest, rows, cols, ratings)``: ``rest`` has the same vocabularies as ``data``
        without the held-out ratings; ``rows``/``cols`` (int64 indices) and ``ratings``
        (float64) are the held-out triples, shape ``(n_hold,)``. Users with fewer than
        ``1 / fraction`` ratings keep all of them.

    Raises:
        ConfigError: an unknown ``how``, or ``"newest"`` on data without timestamps.
    """
    m = data.matrix
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), counts)
    cols = m.indices.astype(np.int64)
    if how == "random":
        rand = np.random.default_rng(seed).random(m.nnz)
        order = np.lexsort((rand, rows))
    elif how == "newest":
        if data.timestamps is None:
            raise ConfigError("a newest-ratings carve needs timestamps")
        ts = data.timestamps.tocsr().data.astype(np.int64)
        order = np.lexsort((-cols, -ts, rows))
    else:
        raise ConfigError(f"carve must be one of {', '.join(CARVES)}, got {how!r}")
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)
    hold = rank < np.floor(fraction * counts[rows])

    def keep(values: np.ndarray, dtype: Any) -> sp.csr_matrix:
        return sp.csr_matrix(
            (values[~hold], (rows[~hold], cols[~hold])), shape=m.shape, dtype=dtype
        )

    ts = None
    if data.timestamps is not None:
        ts = keep(data.timestamps.tocsr().data, np.int64)
    rest = Interactions(keep(m.data, np.float32), data.users, data.items, ts, data.rating_scale)
    return rest, rows[hold], cols[hold], m.data[hold].astype(np.float64)
