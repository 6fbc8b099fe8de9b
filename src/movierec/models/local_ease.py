"""Time-local EASE: EASEᴿ whose co-occurrences count only movies rated close in time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.common.validation import check_float, check_int
from movierec.models.ease import EASE

__all__ = ["LocalEASE", "window_blocks"]


def window_blocks(data: Interactions, window: int, offsets: Sequence[int] = (0,)) -> sp.csr_matrix:
    """Each user's ratings, in time order, cut into blocks of ``window`` consecutive ratings.

    Returns the binary pseudo-user matrix ``Xₛ`` of shape ``(n_blocks, n_items)``: for each
    ``offset``, block ``b`` of user ``u`` holds the ratings at positions ``p`` (0-based, by
    timestamp, ties by column) with ``(p + offset) // window == b``; the blocks of all
    offsets are stacked (one time sort serves them all). With one offset every rating is in
    exactly one block, so ``diag(XₛᵀXₛ) = diag(XᵀX)`` (the movies' rating counts).

    Raises:
        ConfigError: ``data`` has no timestamps.
    """
    if data.timestamps is None:
        raise ConfigError("local-ease: needs rating timestamps (the ratings have none)")
    m = data.matrix
    per_user = np.diff(m.indptr)
    rows = np.repeat(np.arange(data.n_users, dtype=np.int64), per_user)
    cols = m.indices[np.lexsort((m.indices, data.timestamps.data, rows))]  # rows stay sorted
    pos = np.arange(m.nnz, dtype=np.int64) - m.indptr[rows]
    blocks, start = [], 0
    for offset in offsets:
        n_blocks = (per_user + int(offset) + window - 1) // window
        first = np.zeros(data.n_users + 1, dtype=np.int64)
        np.cumsum(n_blocks, out=first[1:])
        blocks.append(start + first[rows] + (pos + int(offset)) // window)
        start += int(first[-1])
    return sp.csr_matrix(
        (np.ones(m.nnz * len(offsets)), (np.concatenate(blocks), np.tile(cols, len(offsets)))),
        shape=(start, data.n_items),
    )


class LocalEASE(EASE):
    """EASEᴿ fitted on time-local co-occurrences; scores a user's whole history.

    MovieLens users rate in sessions, and the movies rated within a few ratings of each
    other are related more closely than two movies anywhere in the same history (the site
    showed them together, or the user was thinking of one when rating the other). Here the
    Gram matrix of EASE (Steck 2019) counts co-occurrence only within blocks of ``w``
    consecutive ratings of one user (:func:`window_blocks`; with ``overlap`` also the
    blocks shifted by ``w // 2``, averaged), the idea of session-based item kNN
    (Ludewig & Jannach 2018) carried over to the closed-form autoencoder::

        G = mean over shifts of XₛᵀXₛ,   P = (G + λI)⁻¹,
        B = I − P · diag(1 / diag(P)),   diag(B) = 0,
        score(u) = x_u B         (x_u: the user's whole binary history, shape (n_items,))

    ``diag(G)`` equals EASE's, so as ``w`` grows past the longest history the model is
    EASE. ``score``, ``fold_in`` (a new user needs no timestamps), ``similar_items`` and
    ``explain`` are :class:`~movierec.models.ease.EASE`'s, with this ``B``.

    Args:
        window: ``w``, ratings per block (``>= 2``).
        reg: ``λ > 0``.
        overlap: also count the blocks shifted by half a window.

    The defaults are what ``movierec evaluate --protocol stratified-75-25 --models
    local-ease --tune`` chose on ml-100k (40 Optuna trials on the validation split carved
    out of the training part, seed 43): ``w = 26``, ``λ = 248.7`` (shipped as 250),
    overlap on; validation NDCG@10 0.2806 (EASE tuned the same way: 0.2730). On the test
    part alone it scores NDCG@10 0.4790 / P@10 0.4144, below EASE's 0.4840 / 0.4205:
    its value is the signal it adds to the rank blend.
    Inside :class:`~movierec.models.blend.RankBlend` it runs with the values tuned for the
    blend (``benchmarks/tune_blend.py``).

    Attributes:
        weights_: ``B``, shape ``(n_items, n_items)`` float32.
        cold_items_: shape ``(n_items,)`` bool, movies absent from the training data.
    """

    name: ClassVar[str] = "local-ease"

    def __init__(self, *, window: int = 26, reg: float = 250.0, overlap: bool = True) -> None:
        self.window = window
        self.reg = reg
        self.overlap = overlap
        self.binarize = True  # EASE's scoring input: the binary history

    def _validate(self) -> None:
        check_float(self.name, "reg", self.reg, strict=True)
        check_int(self.name, "window", self.window, minimum=2)
        if not isinstance(self.overlap, bool):
            raise ConfigError(f"{self.name}: overlap must be true or false")

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        self.check_memory(data.n_items)
        window = int(self.window)
        offsets = (0, window // 2) if self.overlap else (0,)
        Xs = window_blocks(data, window, offsets)
        self._fit_gram((Xs.T @ Xs).toarray() / len(offsets), data)
