"""The core value types: id vocabularies, the user×item rating matrix, the movie catalogue.

Matrix row/column indices never leave the library: everything users see (CLI, API, DB,
reports) speaks external MovieLens ids. :class:`Vocabulary` converts between the two.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from movierec.errors import DataError, UnknownIdError

if TYPE_CHECKING:
    import pandas as pd

USER_COL = "userId"
ITEM_COL = "movieId"
RATING_COL = "rating"
TIME_COL = "timestamp"


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """A sorted set of external ids; ``index(ids)`` maps them to 0..n-1.

    Attributes:
        ids: shape ``(n,)`` int64, strictly increasing external ids; row/column ``i``
            of a matrix holds external id ``ids[i]``.
    """

    ids: np.ndarray
    kind: str = "id"

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=np.int64)
        if ids.ndim != 1 or (ids.size > 1 and np.any(np.diff(ids) <= 0)):
            raise DataError(f"{self.kind} vocabulary must be strictly increasing unique ids")
        object.__setattr__(self, "ids", ids)

    @classmethod
    def from_values(cls, values: Any, kind: str = "id") -> Vocabulary:
        """The sorted distinct ids of ``values``: ``np.unique``, or in O(n) by ``bincount``
        when ``values`` are many non-negative integers of small range (MovieLens ids)."""
        arr = np.asarray(values)
        if _dense_range(arr) is not None:
            return cls(np.flatnonzero(np.bincount(arr)).astype(np.int64), kind=kind)
        return cls(np.unique(np.asarray(arr, dtype=np.int64)), kind=kind)

    def __len__(self) -> int:
        return int(self.ids.size)

    def __contains__(self, external_id: object) -> bool:
        try:
            value = int(external_id)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False
        pos = int(np.searchsorted(self.ids, value))
        return pos < self.ids.size and int(self.ids[pos]) == value

    def contains(self, external_ids: Any) -> np.ndarray:
        """Boolean mask, same shape as ``external_ids``: which ids are known."""
        return self.positions(external_ids) >= 0

    def positions(self, external_ids: Any) -> np.ndarray:
        """Index of each id, ``-1`` for an unknown one; int64, same shape as
        ``external_ids`` (:meth:`index` without the error)."""
        arr = np.asarray(external_ids, dtype=np.int64)
        if not self.ids.size:
            return np.full(arr.shape, -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.ids, arr), 0, self.ids.size - 1)
        return np.where(self.ids[pos] == arr, pos, -1)

    def index(self, external_ids: Any) -> np.ndarray:
        """Row/column indices of ``external_ids``; :class:`UnknownIdError` if one is unknown.

        ``searchsorted`` (O(n log V)); for many non-negative integer ids of small range, one
        gather from a dense lookup table of length ``max id + 1`` (O(n + max id)) instead.
        """
        arr = np.asarray(external_ids)
        pos = self._lookup(arr, np.int64)
        if pos is not None:
            return pos
        arr = np.asarray(arr, dtype=np.int64)
        known = self.contains(arr)
        if not np.all(known):
            missing = np.atleast_1d(arr)[~np.atleast_1d(known)]
            shown = ", ".join(str(int(x)) for x in missing[:5])
            more = f" (and {missing.size - 5} more)" if missing.size > 5 else ""
            raise UnknownIdError(f"unknown {self.kind} id: {shown}{more}")
        return np.searchsorted(self.ids, arr)

    def _lookup(self, arr: np.ndarray, dtype: type[np.integer]) -> np.ndarray | None:
        """Positions of ``arr`` from a dense lookup table, or ``None`` when that path does not
        apply (see :func:`_dense_range`) or an id is unknown (the caller's slow path then
        raises)."""
        top = _dense_range(arr)
        if top is None or not self.ids.size or top > self.ids[-1] or self.ids[0] < 0:
            return None
        lut = np.full(int(self.ids[-1]) + 1, -1, dtype=dtype)
        lut[self.ids] = np.arange(self.ids.size, dtype=dtype)
        pos = lut[arr]
        return pos if pos.min() >= 0 else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and np.array_equal(self.ids, other.ids)

    def __hash__(self) -> int:
        return hash(self.ids.tobytes())


_DENSE_MIN = 1 << 15  # below this many ids, sorting is as cheap as a lookup table
_CHUNK = 1 << 20  # rows per step of the order check (its temporaries stay in cache)


def _codes32(vocab: Vocabulary, ids: pd.Series) -> np.ndarray:
    """Row/column indices of ``ids`` as int32 when a lookup table applies, else
    :meth:`Vocabulary.index` (int64; it raises on an unknown id)."""
    arr = ids.to_numpy()
    pos = vocab._lookup(arr, np.int32) if len(vocab) < 2**31 else None
    return pos if pos is not None else vocab.index(arr)


def _csr_ordered(rows: np.ndarray, cols: np.ndarray) -> bool:
    """True when the pairs are sorted by row, then strictly by column within a row (CSR
    order with sorted indices and no duplicates). O(n), in cache-sized chunks."""
    for start in range(0, max(rows.size - 1, 0), _CHUNK):
        r = rows[start : start + _CHUNK + 1]
        c = cols[start : start + _CHUNK + 1]
        step = r[1:] > r[:-1]
        if not np.all(step | ((r[1:] == r[:-1]) & (c[1:] > c[:-1]))):
            return False
    return True


def _dense_range(arr: np.ndarray) -> int | None:
    """``arr.max()`` when ``arr`` holds at least ``_DENSE_MIN`` non-negative integers whose
    maximum is below ``arr.size + 2**20`` (a lookup table of at most one entry per input id
    plus 2**20), else ``None`` (use sorting)."""
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or arr.dtype == np.uint64:
        return None
    if arr.size < _DENSE_MIN:
        return None
    lo, hi = int(arr.min()), int(arr.max())
    return hi if lo >= 0 and hi < arr.size + (1 << 20) else None


@dataclass(frozen=True, eq=False)
class Interactions:
    """Explicit ratings as a CSR matrix with its id vocabularies.

    Attributes:
        matrix: CSR, shape ``(n_users, n_items)``, float32 ratings; sorted indices, no
            explicit zeros (a stored value is a rating, ratings are > 0).
        users: row vocabulary (MovieLens ``userId``).
        items: column vocabulary (MovieLens ``movieId``).
        timestamps: optional CSR of the same sparsity pattern holding Unix timestamps
            (int64), or ``None``.
        rating_scale: ``(min, max)`` of the rating scale, e.g. ``(1.0, 5.0)``.
    """

    matrix: sp.csr_matrix
    users: Vocabulary
    items: Vocabulary
    timestamps: sp.csr_matrix | None = None
    rating_scale: tuple[float, float] = (1.0, 5.0)
    _fingerprint: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        m = sp.csr_matrix(self.matrix, dtype=np.float32)
        m.sort_indices()
        if m.shape != (len(self.users), len(self.items)):
            raise DataError(
                f"matrix shape {m.shape} does not match vocabularies "
                f"({len(self.users)} users, {len(self.items)} items)"
            )
        object.__setattr__(self, "matrix", m)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        users: Vocabulary | None = None,
        items: Vocabulary | None = None,
        rating_scale: tuple[float, float] | None = None,
    ) -> Interactions:
        """Build from a frame with ``userId, movieId, rating[, timestamp]`` columns.

        Given vocabularies fix the row/column order (e.g. a test split that must align with
        its training split); rows whose ids are not in them raise :class:`UnknownIdError`.
        """
        missing = {USER_COL, ITEM_COL, RATING_COL} - set(frame.columns)
        if missing:
            raise DataError(f"ratings are missing column(s): {', '.join(sorted(missing))}")
        users = users or Vocabulary.from_values(frame[USER_COL], kind="user")
        items = items or Vocabulary.from_values(frame[ITEM_COL], kind="movie")
        rows, cols = _codes32(users, frame[USER_COL]), _codes32(items, frame[ITEM_COL])
        ratings = frame[RATING_COL].to_numpy(dtype=np.float32, copy=True)
        stamps = frame[TIME_COL].to_numpy(dtype=np.int64) if TIME_COL in frame.columns else None
        shape = (len(users), len(items))
        if _csr_ordered(rows, cols):  # every MovieLens file: the CSR arrays are the columns
            indptr = np.zeros(shape[0] + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
            indices = cols
        else:  # one CSR of the rows' positions gives the order of both value arrays
            order = sp.csr_matrix((np.arange(len(frame)), (rows, cols)), shape=shape)
            if order.nnz != len(frame):
                raise DataError("duplicate (userId, movieId) pairs in ratings")
            order.sort_indices()
            ratings = ratings[order.data]
            stamps = None if stamps is None else stamps[order.data]
            indptr, indices = order.indptr, order.indices
        matrix = sp.csr_matrix((ratings, indices, indptr), shape=shape, dtype=np.float32)
        timestamps = None
        if stamps is not None:
            timestamps = sp.csr_matrix(
                (stamps.copy(), indices.copy(), indptr.copy()), shape=shape, dtype=np.int64
            )
        if rating_scale is None:
            rating_scale = (1.0, 5.0) if ratings.size == 0 else _infer_scale(ratings)
        return cls(matrix, users, items, timestamps, rating_scale)

    def to_frame(self) -> pd.DataFrame:
        """Ratings as a frame with external ids (``userId, movieId, rating[, timestamp]``)."""
        import pandas as pd

        coo = self.matrix.tocoo()
        out = pd.DataFrame(
            {
                USER_COL: self.users.ids[coo.row],
                ITEM_COL: self.items.ids[coo.col],
                RATING_COL: coo.data.astype(np.float32),
            }
        )
        if self.timestamps is not None:
            out[TIME_COL] = self.timestamps.tocoo().data
        return out

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape  # type: ignore[return-value]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def fingerprint(self) -> str:
        """SHA-256 (hex, first 16 chars) of ids, pattern and ratings: identifies the data."""
        if not self._fingerprint:
            h = hashlib.sha256()
            m = self.matrix
            for arr in (self.users.ids, self.items.ids, m.indptr, m.indices, m.data):
                h.update(np.ascontiguousarray(arr).tobytes())
            self._fingerprint.append(h.hexdigest()[:16])
        return self._fingerprint[0]

    def seen_items(self, user_row: int) -> np.ndarray:
        """Column indices rated by the user at row ``user_row``."""
        m = self.matrix
        return m.indices[m.indptr[user_row] : m.indptr[user_row + 1]]

    def user_means(self) -> np.ndarray:
        """Shape ``(n_users,)`` mean rating per user (0 for users without ratings)."""
        counts = np.diff(self.matrix.indptr)
        sums = np.asarray(self.matrix.sum(axis=1)).ravel()
        return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0).astype(np.float32)


def _infer_scale(ratings: np.ndarray) -> tuple[float, float]:
    """MovieLens scales: half-star releases are 0.5–5, the others 1–5."""
    has_half = bool(np.any(np.mod(ratings, 1.0) != 0)) or float(ratings.min()) < 1.0
    return (0.5, 5.0) if has_half else (1.0, 5.0)


_ARTICLES = "The|A|An|Les|Le|La|L'|Il|Gli|Lo|El|Los|Las|Das|Der|Die|Det|Den|Un|Une|Una|Uno"
_TRAILING_ARTICLE = re.compile(rf"^(?P<body>.+), (?P<article>{_ARTICLES})$")
_TRAILING_GROUPS = re.compile(r"^(?P<main>.*?)(?P<groups>(?: \([^()]*\))*)\s*$")
_GROUP = re.compile(r" \(([^()]*)\)")


def _article_first(text: str) -> str:
    found = _TRAILING_ARTICLE.match(text)
    if found is None:
        return text
    article = found["article"]
    return f"{article}{'' if article.endswith(chr(39)) else ' '}{found['body']}"


def display_title(title: str) -> str:
    """A MovieLens title in natural word order, the form every door shows.

    MovieLens moves a leading article to the end: ``"Godfather, The (1972)"`` becomes
    ``"The Godfather (1972)"``, ``"City of Lost Children, The (Cité des enfants perdus, La)
    (1995)"`` becomes ``"The City of Lost Children (La Cité des enfants perdus) (1995)"``,
    ``"Appartement, L' (1996)"`` becomes ``"L'Appartement (1996)"``. Other titles are
    returned unchanged.
    """
    parts = _TRAILING_GROUPS.match(title)
    if parts is None:  # pragma: no cover - the pattern matches any string
        return title
    groups = _GROUP.sub(lambda g: f" ({_article_first(g[1])})", parts["groups"])
    return _article_first(parts["main"]) + groups


@dataclass(frozen=True, eq=False)
class ItemCatalog:
    """Movie metadata indexed by MovieLens ``movieId``, held as columns (no pandas: loading
    a model and printing one user's list does not import it).

    Attributes:
        ids: shape ``(m,)`` int64, strictly increasing ``movieId``.
        titles: ``m`` titles as the release writes them (``"Godfather, The (1972)"``).
        years: shape ``(m,)`` int64 release years, ``-1`` when unknown.
        genres: ``m`` ``|``-joined genre strings (``""`` when none).
    """

    ids: np.ndarray
    titles: list[str]
    years: np.ndarray
    genres: list[str]
    vocab: Vocabulary = field(init=False, repr=False)
    """The ids as a :class:`Vocabulary` (it checks they are strictly increasing)."""

    def __post_init__(self) -> None:
        vocab = Vocabulary(self.ids, kind="catalogue movie")
        years = np.asarray(self.years, dtype=np.int64)
        if not (len(self.titles) == len(self.genres) == len(vocab) == years.size):
            raise DataError("catalogue columns must have one entry per movie")
        object.__setattr__(self, "vocab", vocab)
        object.__setattr__(self, "ids", vocab.ids)
        object.__setattr__(self, "years", years)

    @classmethod
    def from_frame(cls, movies: pd.DataFrame) -> ItemCatalog:
        """From a frame with ``title``, ``genres`` and optionally ``year`` columns, indexed by
        (or with a column) ``movieId``; rows are sorted by id."""
        import pandas as pd

        frame = movies
        if ITEM_COL in frame.columns:
            frame = frame.set_index(ITEM_COL)
        for col in ("title", "genres"):
            if col not in frame.columns:
                raise DataError(f"movies are missing column {col!r}")
        frame = frame.sort_index()
        years = (
            pd.to_numeric(frame["year"], errors="coerce")
            if "year" in frame.columns
            else pd.Series(np.nan, index=frame.index)
        )
        return cls(
            frame.index.to_numpy(dtype=np.int64),
            frame["title"].astype(str).tolist(),
            years.fillna(-1).to_numpy(dtype=np.int64),
            frame["genres"].fillna("").astype(str).tolist(),
        )

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """One row per movie, index ``movieId``; columns ``title`` (str), ``year`` (nullable
        Int64), ``genres`` (str). Built on first use (imports pandas)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "title": self.titles,
                "year": pd.array(np.where(self.years < 0, None, self.years), dtype="Int64"),
                "genres": self.genres,
            },
            index=pd.Index(self.ids, name=ITEM_COL),
        )

    def positions(self, movie_ids: Any) -> np.ndarray:
        """Row of each id in the columns, ``-1`` for ids not in the catalogue; int64, same
        length as ``movie_ids``."""
        return self.vocab.positions(np.atleast_1d(np.asarray(movie_ids, dtype=np.int64)))

    def facts(self, movie_ids: Any) -> list[tuple[str, int | None, str] | None]:
        """``(title, year or None, genres)`` per id (``None`` for an id not in the
        catalogue), in the order given."""
        out: list[tuple[str, int | None, str] | None] = []
        for p in self.positions(movie_ids).tolist():
            if p < 0:
                out.append(None)
                continue
            year = int(self.years[p])
            out.append((self.titles[p], None if year < 0 else year, self.genres[p]))
        return out

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self.vocab

    def __len__(self) -> int:
        return int(self.ids.size)

    def title(self, movie_id: int) -> str:
        """The title as the release writes it (``"Godfather, The (1972)"``); ``KeyError``
        for an id not in the catalogue."""
        p = int(self.positions([int(movie_id)])[0])
        if p < 0:
            raise KeyError(movie_id)
        return self.titles[p]

    def display_title(self, movie_id: int) -> str:
        """The title in natural word order (``"The Godfather (1972)"``): :func:`display_title`."""
        return display_title(self.title(movie_id))

    def genre_names(self) -> list[str]:
        """Sorted genre vocabulary (``(no genres listed)`` and empty are dropped)."""
        names: set[str] = set()
        for g in self.genres:
            names.update(x for x in g.split("|") if x and x != "(no genres listed)")
        return sorted(names)

    def genre_matrix(self, item_ids: np.ndarray) -> tuple[sp.csr_matrix, list[str]]:
        """Binary CSR, shape ``(len(item_ids), n_genres)``, rows in ``item_ids`` order."""
        names = self.genre_names()
        col = {g: j for j, g in enumerate(names)}
        pos = self.positions(item_ids).tolist()
        rows, cols = [], []
        for i, p in enumerate(pos):
            if p < 0:
                continue
            for name in self.genres[p].split("|"):
                if name in col:
                    rows.append(i)
                    cols.append(col[name])
        data = np.ones(len(rows), dtype=np.float32)
        shape = (len(pos), len(names))
        return sp.csr_matrix((data, (rows, cols)), shape=shape), names


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded MovieLens release (``movierec.load``): what a model fits on, plus the rows.

    Attributes:
        name: the release (``ml-100k``, ``ml-latest-small``, ...).
        ratings: every rating, ``userId, movieId, rating[, timestamp]`` (file order).
        catalog: the movies (title, year, genres).
        interactions: the ratings as a user × movie matrix.
    """

    name: str
    ratings: pd.DataFrame
    catalog: ItemCatalog
    interactions: Interactions

    @property
    def movies(self) -> pd.DataFrame:
        """The catalogue as a frame indexed by ``movieId``."""
        return self.catalog.frame

    def __repr__(self) -> str:
        d = self.interactions
        lo, hi = d.rating_scale
        return (
            f"Dataset({self.name!r}: {d.nnz:,} ratings by {d.n_users:,} users of "
            f"{d.n_items:,} movies ({len(self.catalog):,} in the catalogue), {lo:g}-{hi:g})"
        )
