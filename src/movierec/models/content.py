"""Content-based filtering on movie metadata: :class:`ContentBased`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.common.batch import batch_shape, segment_argmax
from movierec.models.common.foldin import fold_ratings
from movierec.models.common.reasons import explained_columns
from movierec.models.common.topk import top_ids

_PROFILE_BATCH = 256  # users whose dense profiles are built at once
_YEAR_RE = re.compile(r"\(\s*\d{4}\s*\)")


def _block_genres(catalog: ItemCatalog, ids: np.ndarray) -> tuple[sp.csr_matrix, list[str]]:
    mat, names = catalog.genre_matrix(ids)
    return normalize(mat.astype(np.float64)), [f"genre:{g}" for g in names]


def _block_decades(
    catalog: ItemCatalog, ids: np.ndarray, smoothing: float
) -> tuple[sp.csr_matrix, list[str]]:
    """Decade one-hot with ``smoothing`` on the two adjacent decades, L2-normalised rows."""
    years = catalog.frame["year"].reindex(ids).to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(years)
    if not known.any():
        return sp.csr_matrix((ids.size, 0)), []
    decades = np.where(known, np.floor(np.nan_to_num(years) / 10) * 10, np.nan)
    lo, hi = int(np.nanmin(decades)), int(np.nanmax(decades))
    names = list(range(lo, hi + 10, 10))
    rows, cols, vals = [], [], []
    for r in np.flatnonzero(known):
        c = (int(decades[r]) - lo) // 10
        for dc, w in ((0, 1.0), (-1, smoothing), (1, smoothing)):
            if 0 <= c + dc < len(names) and w > 0:
                rows.append(r)
                cols.append(c + dc)
                vals.append(w)
    mat = sp.csr_matrix((vals, (rows, cols)), shape=(ids.size, len(names)))
    return normalize(mat), [f"decade:{d}s" for d in names]


def _block_titles(catalog: ItemCatalog, ids: np.ndarray) -> tuple[sp.csr_matrix, list[str]]:
    """TF-IDF of title words (year removed), words that occur in ≥ 2 titles only."""
    titles = catalog.frame["title"].reindex(ids).fillna("").astype(str)
    docs = [_YEAR_RE.sub(" ", t) for t in titles]
    vec = TfidfVectorizer(
        lowercase=True, stop_words="english", min_df=2, token_pattern=r"(?u)\b[^\W\d_]{3,}\b"
    )
    try:
        mat = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return sp.csr_matrix((ids.size, 0)), []
    return sp.csr_matrix(mat, dtype=np.float64), [f"title:{w}" for w in vec.get_feature_names_out()]


class ContentBased(Recommender):
    """Content-based filtering: cosine between a user's taste profile and movie profiles.

    Movie profile ``x_i`` (one row of ``features_``): the concatenation of three separately
    L2-normalised blocks, weighted and L2-normalised again:
    genres (binary), release decade (one-hot, ``year_smoothing`` on neighbouring decades),
    title words (TF-IDF; year removed, words in ≥ 2 titles). User profile
    ``p_u = Σ_j w_uj x_j / Σ_j |w_uj|`` over the movies ``j`` the user rated, with
    ``w_uj = r_uj − μ_u`` (``weighting="centered"``) or ``w_uj = 1[r_uj ≥ like_threshold]``
    (``"liked"``; users with no such rating fall back to centred weights, users with
    all-equal ratings to uniform weights). Score ``s_ui = cos(p_u, x_i) = x_i·p_u / ‖p_u‖``.
    Movies without ratings are scored like any other (content needs no history).

    Args:
        genre_weight, year_weight, title_weight: block weights ≥ 0 (not all 0).
        year_smoothing: weight of the adjacent decades in the decade block, in [0, 1].
        weighting: ``"centered"`` or ``"liked"``.
        like_threshold: rating counted as "liked".

    Attributes:
        features_: CSR ``(n_items, n_features)`` unit-norm movie profiles (zero rows for
            movies missing from the catalogue).
        feature_names_: ``n_features`` names, ``"genre:Action"``, ``"decade:1990s"``,
            ``"title:star"``.
    """

    name = "content"
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"fold_in", "explain", "explain_ratings", "similar_items"}
    )

    def __init__(
        self,
        genre_weight: float = 1.94,
        year_weight: float = 0.59,
        title_weight: float = 0.04,
        year_smoothing: float = 0.5,
        weighting: str = "centered",
        like_threshold: float = 4.0,
    ) -> None:
        self.genre_weight = genre_weight
        self.year_weight = year_weight
        self.title_weight = title_weight
        self.year_smoothing = year_smoothing
        self.weighting = weighting
        self.like_threshold = like_threshold

    def _validate(self) -> None:
        weights = (self.genre_weight, self.year_weight, self.title_weight)
        for key, w in zip(("genre_weight", "year_weight", "title_weight"), weights, strict=True):
            if not isinstance(w, int | float) or not w >= 0:
                raise ConfigError(f"content: {key} must be a number >= 0, got {w!r}")
        if sum(weights) <= 0:
            raise ConfigError("content: at least one of the block weights must be > 0")
        if not isinstance(self.year_smoothing, int | float) or not 0 <= self.year_smoothing <= 1:
            raise ConfigError(
                f"content: year_smoothing must be in [0, 1], got {self.year_smoothing}"
            )
        if self.weighting not in ("centered", "liked"):
            raise ConfigError(
                f"content: weighting must be 'centered' or 'liked', got {self.weighting!r}"
            )

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        if items is None:
            raise ConfigError("content: needs the movie catalogue (movies.csv) to fit")
        ids = data.items.ids
        blocks = [
            (self.genre_weight, _block_genres(items, ids)),
            (self.year_weight, _block_decades(items, ids, float(self.year_smoothing))),
            (self.title_weight, _block_titles(items, ids)),
        ]
        mats, names = [], []
        for w, (mat, block_names) in blocks:
            if w > 0 and mat.shape[1] > 0:
                mats.append(mat * float(w))
                names += block_names
        if not mats:
            raise ConfigError("content: the catalogue has no usable genres, years or titles")
        self.features_ = normalize(sp.hstack(mats).tocsr()).astype(np.float32)
        self.feature_names_ = names

    # ------------------------------------------------------------------ profiles
    def _weights(self, ratings: sp.csr_matrix) -> sp.csr_matrix:
        """Profile weights ``w_uj``, CSR with the pattern of ``ratings`` (b × n_items)."""
        r = sp.csr_matrix(ratings, dtype=np.float64)
        counts = np.diff(r.indptr)
        sums = np.asarray(r.sum(axis=1)).ravel()
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        centred = r.data - np.repeat(means, counts)
        w = centred
        if self.weighting == "liked":
            liked = (r.data >= float(self.like_threshold)).astype(np.float64)
            has = self._row_sums(r, liked)
            w = np.where(np.repeat(has > 0, counts), liked, centred)
        flat = np.repeat(self._row_sums(r, np.abs(w)) <= 1e-12, counts)
        w = np.where(flat, 1.0, w)  # all-equal ratings: uniform weights
        return sp.csr_matrix((w, r.indices, r.indptr), shape=r.shape)

    @staticmethod
    def _row_sums(pattern: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
        m = sp.csr_matrix((values, pattern.indices, pattern.indptr), shape=pattern.shape)
        return np.asarray(m.sum(axis=1)).ravel()

    def profiles(self, ratings: sp.csr_matrix) -> np.ndarray:
        """Unit-norm user profiles, shape ``(b, n_features)`` (zero rows without ratings)."""
        p = (self._weights(ratings) @ self.features_.astype(np.float64)).toarray()
        norms = np.linalg.norm(p, axis=1, keepdims=True)
        return np.divide(p, norms, out=np.zeros_like(p), where=norms > 1e-12)

    def _scores(self, ratings: sp.csr_matrix) -> np.ndarray:
        p = self.profiles(ratings)
        return np.asarray(self.features_.astype(np.float64) @ p.T, dtype=np.float64).T.astype(
            np.float32
        )

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Cosine between user profiles and every movie profile, shape ``(b, n_items)``."""
        self._check_fitted()
        return self._scores(self.data_.matrix[np.asarray(user_rows, dtype=np.int64)])

    def _row(self, ratings: Mapping[int, float]) -> sp.csr_matrix:
        cols, vals = fold_ratings(self.data_, ratings)
        shape = (1, self.data_.n_items)
        return sp.csr_matrix((vals, (np.zeros(cols.size, np.int64), cols)), shape=shape)

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        self._check_fitted()
        return self._scores(self._row(ratings))[0]

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Movies with the most similar content profile (cosine), the movie itself excluded."""
        self._check_fitted()
        if int(n) < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        cols = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        sims = np.asarray((self.features_[cols] @ self.features_.T).todense(), dtype=np.float32)
        sims[np.arange(cols.size), cols] = -np.inf
        return top_ids(sims, int(n), self.data_.items.ids)

    # ------------------------------------------------------------------ explanations
    def contributions(self, profile: np.ndarray, item_col: int) -> dict[str, float]:
        """Per-feature terms ``x_if · p_f`` of the cosine score (only non-zero ones)."""
        row = self.features_[int(item_col)]
        return {
            self.feature_names_[f]: float(v) * float(profile[f])
            for f, v in zip(row.indices, row.data, strict=True)
            if float(v) * float(profile[f]) != 0
        }

    def explain_profile(self, profile: np.ndarray, item_cols: np.ndarray) -> list[str]:
        """Reasons from the features that add most to each score (see :meth:`explain`) for
        the columns ``item_cols`` (``-1``: padding); ``""`` for a movie no feature adds to."""
        cols = np.asarray(item_cols, dtype=np.int64)[None, :]
        return self.explain_profiles(np.asarray(profile)[None, :], cols)[0]

    def explain_profiles(self, profiles: np.ndarray, item_cols: np.ndarray) -> list[list[str]]:
        """:meth:`explain_profile` for ``b`` profiles (shape ``(b, n_features)``) and their
        columns ``item_cols`` (shape ``(b, n)``), vectorised over every (user, movie) pair.

        Per pair the terms ``x_if · p_f`` of the movie's features: the positive genre terms,
        largest first (ties: genre name descending), name up to three; else the largest
        term (first in feature order) if positive: its decade or title word.
        """
        b, n = item_cols.shape
        out: list[list[str]] = [[""] * n for _ in range(b)]
        pairs = np.flatnonzero(item_cols.ravel() >= 0)
        if pairs.size == 0:
            return out
        feats = self.features_
        cols = item_cols.ravel()[pairs]
        lens = np.diff(feats.indptr)[cols]
        pair = np.repeat(np.arange(pairs.size), lens)
        entry = np.repeat(feats.indptr[cols] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        f = feats.indices[entry]
        term = feats.data[entry].astype(np.float64) * profiles[pairs[pair] // n, f]
        keep = term != 0
        pair, f, term = pair[keep], f[keep], term[keep]
        names = self.feature_names_
        is_genre, name_rank = self._genre_ranks()
        g = is_genre[f] & (term > 0)
        order = np.lexsort((-name_rank[f[g]], -term[g], pair[g]))
        gp, gf = pair[g][order], f[g][order]
        first = np.r_[True, gp[1:] != gp[:-1]]
        place = np.arange(gp.size) - np.maximum.accumulate(np.where(first, np.arange(gp.size), 0))
        said: dict[int, list[str]] = {}
        for p, feature in zip(gp[place < 3].tolist(), gf[place < 3].tolist(), strict=True):
            said.setdefault(p, []).append(names[feature][6:])
        best_term, best_at = segment_argmax(
            term[:, None], np.searchsorted(pair, np.arange(pairs.size + 1))
        )
        for p in range(pairs.size):
            u, r = divmod(int(pairs[p]), n)
            if p in said:
                out[u][r] = f"matches your favourite genres: {', '.join(said[p])}"
            elif best_at[p, 0] >= 0 and best_term[p, 0] > 0:
                kind, _, value = names[int(f[best_at[p, 0]])].partition(":")
                if kind == "decade":
                    out[u][r] = f"from the {value}, a decade you like"
                else:
                    out[u][r] = f"its title shares the word “{value}” with movies you liked"
        return out

    def _genre_ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """``(is_genre, name_rank)`` per feature: genre features and their rank by name."""
        names = np.asarray(self.feature_names_, dtype=object)
        is_genre = np.array([str(x).startswith("genre:") for x in names], dtype=bool)
        rank = np.empty(names.size, dtype=np.int64)
        rank[np.argsort(names.astype(str), kind="stable")] = np.arange(names.size)
        return is_genre, rank

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}``."""
        self._check_fitted()
        cols = self._explained(item_ids)
        return self.explain_profile(self.profiles(self._row(ratings))[0], cols)

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """Names the genres (else decade / title word) whose profile terms add most to the
        cosine score ``x_i·p_u``: "matches your favourite genres: Sci-Fi, Action"."""
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch (vectorised; see :meth:`Recommender.explain_users`)."""
        self._check_fitted()
        users, items = batch_shape(user_ids, item_ids)
        rows = self.data_.users.index(users)
        cols = self._explained(items.ravel()).reshape(items.shape)
        out: list[list[str]] = []
        for a in range(0, users.size, _PROFILE_BATCH):
            block = slice(a, a + _PROFILE_BATCH)
            profiles = self.profiles(self.data_.matrix[rows[block]])
            out += self.explain_profiles(profiles, cols[block])
        return out

    def _explained(self, item_ids: Any) -> np.ndarray:
        """Columns of the movies to explain, ``-1`` at padding ids."""
        cols, valid = explained_columns(self.data_, item_ids)
        return np.where(valid, cols, -1)
