"""Synthetic MovieLens-shaped data at any scale, written in the ml-25m format.

The generative model (all draws from one ``numpy.random.Generator(seed)``):

* **user activity** ``c_u = c_min + X_u`` with ``X_u ~ LogNormal(0, 1.1)`` rescaled so that
  ``sum_u c_u = n_ratings`` exactly, capped at half the catalogue (``c_min`` = 20 like the
  ml-25m release, lower when the requested mean is small);
* **movie popularity** ``p_j = 0.999 w_j / sum(w) + 0.001 / n_movies`` with
  ``w_j ~ LogNormal(0, 2.3)`` (a heavy tail: the top 1% of movies draw about 40% of the
  ratings, the median movie a small fraction of the mean; the floor lets any movie be drawn);
* **which movies** user ``u`` rated: successive sampling without replacement proportional to
  ``p`` (draw with replacement, keep the first ``c_u`` distinct movies in draw order, redraw
  for any shortfall), so pairs are unique by construction;
* **ratings** ``r_ui = round_s(mu + b_u + b_i + q_u . v_i + e_ui)`` clipped to the scale, with
  ``mu = 3.25``, ``b_u ~ N(0, 0.4^2)``, ``b_i ~ N(0, 0.45^2) + 0.15 z(log p_i)`` (popular
  movies rate a little higher), ``q_u, v_i ~ N(0, I/k)·1.1`` with ``k = 8`` latent factors,
  ``e_ui ~ N(0, 0.65^2)``; ``round_s`` rounds to half stars for the 45% of users who use
  them and to whole stars otherwise (so whole stars dominate, as in MovieLens);
* **genres**: the 19 ml-25m genres, a movie has those whose score ``v_i . g + noise`` clears
  a threshold (at least one; 0.5% of movies get ``(no genres listed)``), so genres carry
  signal that content models can learn;
* **timestamps**: each user is active in a window inside 1996-2019; ratings fall uniformly
  in it; titles are ``Synthetic Movie <id> (<year>)``; movieIds are sparse (as in ml-25m).

Users are generated in chunks of about ``chunk_ratings`` ratings, so memory stays bounded
(~50 bytes a rating of the chunk) whatever ``n_ratings`` is; ``ratings.csv`` is sorted by
``userId, movieId`` like the real file.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from movierec.atomic import atomic_path, write_text_atomic
from movierec.data.releases import rating_text
from movierec.errors import ConfigError

log = logging.getLogger(__name__)

GENRES = (
    "Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror IMAX Musical Mystery Romance Sci-Fi Thriller War Western"
).split()
RANK = 8
_T0 = 820_454_400  # 1996-01-01
_T1 = 1_574_208_000  # 2019-11-20
_COUNT_RE = re.compile(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([kmgb]?)\s*", re.I)
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}


def parse_count(text: str | int) -> int:
    """Parse a human count: ``"25M"`` → 25,000,000, ``"162k"`` → 162,000, ``"1.5m"``,
    ``"62,423"``, ``"1e6"``, or a plain int.

    Raises:
        ConfigError: not a positive whole count.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value: float = text
    else:
        match = _COUNT_RE.fullmatch(str(text))
        if not match:
            raise ConfigError(f"not a count: {text!r} (use e.g. 25M, 162k, 1000)")
        value = (
            float(match.group(1).replace(",", "").replace("_", ""))
            * _SUFFIX[match.group(2).lower()]
        )
    if value < 1 or value != int(value):
        raise ConfigError(f"not a positive whole count: {text!r}")
    return int(value)


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`synthesize` wrote."""

    ratings_path: Path
    movies_path: Path
    n_ratings: int
    n_users: int
    n_movies: int
    seconds: float


@dataclass(frozen=True)
class _World:
    """The latent model shared by all chunks (index space: user 0..n-1, movie 0..m-1)."""

    movie_ids: np.ndarray  # (m,) int64 external movieIds, increasing
    cdf: np.ndarray  # (m,) float64 cumulative popularity, cdf[-1] == 1
    movie_bias: np.ndarray  # (m,) float32
    movie_factors: np.ndarray  # (m, RANK) float32
    counts: np.ndarray  # (n,) int64 ratings per user


def _user_counts(rng: np.random.Generator, n_ratings: int, n_users: int, cap: int) -> np.ndarray:
    mean = n_ratings / n_users
    c_min = int(min(20, max(1, mean // 3)))
    if mean > cap:
        raise ConfigError(
            f"{n_ratings} ratings from {n_users} users need more than {cap} movies per user; "
            "ask for more movies or users"
        )
    x = rng.lognormal(0.0, 1.1, n_users)
    counts = c_min + np.floor(x * (n_ratings - c_min * n_users) / x.sum()).astype(np.int64)
    counts = np.minimum(counts, cap)
    for _ in range(100):  # hand out the remainder (rounding, capping) in proportion to counts
        short = n_ratings - int(counts.sum())
        if short == 0:
            break
        room = np.flatnonzero(counts < cap)
        add = rng.multinomial(short, counts[room] / counts[room].sum())
        counts[room] = np.minimum(counts[room] + add, cap)
    return counts


def _world(rng: np.random.Generator, n_ratings: int, n_users: int, n_movies: int) -> _World:
    movie_ids = np.sort(rng.choice(np.arange(1, 3 * n_movies + 1), n_movies, replace=False))
    weight = rng.lognormal(0.0, 2.3, n_movies)
    weight = 0.999 * weight / weight.sum() + 0.001 / n_movies
    cdf = np.cumsum(weight / weight.sum())
    cdf[-1] = 1.0
    log_pop = np.log(weight)
    bias = rng.normal(0, 0.45, n_movies) + 0.15 * (log_pop - log_pop.mean()) / log_pop.std()
    factors = rng.normal(0, 1.1 / np.sqrt(RANK), (n_movies, RANK))
    counts = _user_counts(rng, n_ratings, n_users, cap=max(1, n_movies // 2))
    return _World(movie_ids, cdf, bias.astype(np.float32), factors.astype(np.float32), counts)


def _sample_pairs(
    rng: np.random.Generator, counts: np.ndarray, cdf: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, movie) pairs: ``counts[u]`` movies for local user ``u``.

    Each round draws ``need + need/8 + 4`` movies with replacement for every user still
    short, and keeps the first distinct ones in draw order (successive sampling); users
    filled leave the working set, so later rounds touch only the few heavy users.

    Returns ``(user, movie)`` index arrays sorted by user then movie.
    """
    n_movies = cdf.size
    pending = np.ones(counts.size, dtype=bool)
    need = counts.copy()
    keys = np.empty(0, dtype=np.int64)  # accepted keys (user * n_movies + movie) of pending users
    done: list[np.ndarray] = []
    for _ in range(500):
        todo = np.flatnonzero(pending)
        if todo.size == 0:
            break
        user = np.repeat(todo, need[todo] + need[todo] // 8 + 4)
        movie = np.searchsorted(cdf, rng.random(user.size), side="right")
        new = user.astype(np.int64) * n_movies + np.minimum(movie, n_movies - 1)
        allkeys = np.concatenate([keys, new])  # earlier acceptances come first
        uniq, first = np.unique(allkeys, return_index=True)
        u = uniq // n_movies
        order = np.argsort(u * allkeys.size + first)  # by user, then draw order
        uo = u[order]
        pos = np.arange(order.size) - np.searchsorted(uo, np.arange(counts.size))[uo]
        keep = np.zeros(uniq.size, dtype=bool)
        keep[order[pos < counts[uo]]] = True
        accepted = uniq[keep]
        owner = accepted // n_movies
        got = np.bincount(owner, minlength=counts.size)
        full = got == counts
        done.append(accepted[full[owner]])
        keys = accepted[~full[owner]]
        pending &= ~full
        need = counts - got
    else:  # pragma: no cover - needs an absurd popularity skew
        raise ConfigError("could not draw distinct movies for every user; ask for more movies")
    out = np.concatenate(done)
    out.sort(kind="stable")  # concatenation of sorted runs: cheap
    return out // n_movies, out % n_movies


def _chunk_ratings(
    rng: np.random.Generator, world: _World, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ratings of the users ``users`` (consecutive indices): (user, movie, rating, timestamp)."""
    local, movie = _sample_pairs(rng, world.counts[users], world.cdf)
    n = users.size
    ub = rng.normal(0, 0.4, n).astype(np.float32)
    uf = rng.normal(0, 1.1 / np.sqrt(RANK), (n, RANK)).astype(np.float32)
    halves = rng.random(n) < 0.45
    start = rng.uniform(_T0, _T1 - 86_400, n)
    span = np.minimum(rng.lognormal(16.0, 2.0, n), _T1 - start)
    x = 3.25 + ub[local] + world.movie_bias[movie]
    x += np.einsum("ij,ij->i", uf[local], world.movie_factors[movie])
    x += rng.normal(0, 0.65, local.size).astype(np.float32)
    step = np.where(halves[local], 2.0, 1.0).astype(np.float32)
    rating = np.clip(np.rint(x * step) / step, np.where(halves[local], 0.5, 1.0), 5.0)
    ts = (start[local] + rng.random(local.size) * span[local]).astype(np.int64)
    return users[local] + 1, world.movie_ids[movie], rating.astype(np.float32), ts


def _movies_frame(rng: np.random.Generator, world: _World) -> pd.DataFrame:
    m = world.movie_ids.size
    loadings = rng.normal(0, 1.0, (RANK, len(GENRES)))
    score = world.movie_factors @ loadings + rng.normal(0, 1.0, (m, len(GENRES)))
    score += np.linspace(1.0, -1.0, len(GENRES))[rng.permutation(len(GENRES))]  # common/rare
    has = score > 2.0
    has[np.arange(m), score.argmax(axis=1)] = True
    names = np.array(GENRES, dtype=object)
    genres = np.array(["|".join(names[row]) for row in has], dtype=object)
    genres[rng.random(m) < 0.005] = "(no genres listed)"
    year = np.clip(np.rint(2019 - rng.exponential(18.0, m)), 1902, 2019).astype(int)
    titles = [f"Synthetic Movie {i} ({y})" for i, y in zip(world.movie_ids, year, strict=True)]
    return pd.DataFrame({"movieId": world.movie_ids, "title": titles, "genres": genres})


def synthesize(
    n_ratings: int,
    n_users: int,
    n_movies: int,
    seed: int,
    out_dir: str | Path,
    chunk_ratings: int = 2_000_000,
) -> SynthSummary:
    """Write ``ratings.csv`` and ``movies.csv`` in the ml-25m format to ``out_dir``.

    Args:
        n_ratings: exact number of ratings (rows of ``ratings.csv``).
        n_users: users (userId ``1..n_users``; each has at least one rating).
        n_movies: movies in ``movies.csv`` (sparse movieIds in ``1..3 n_movies``); not
            every movie need be rated.
        seed: the same seed writes byte-identical files.
        out_dir: created if missing; both files are written atomically.
        chunk_ratings: ratings generated per chunk of users (bounds memory).

    Returns:
        A :class:`SynthSummary`.

    Raises:
        ConfigError: sizes that cannot be satisfied (more ratings than users x movies/2).
    """
    n_ratings, n_users, n_movies = (parse_count(v) for v in (n_ratings, n_users, n_movies))
    if n_ratings < n_users:
        raise ConfigError(f"{n_ratings} ratings cannot cover {n_users} users (one each at least)")
    begin = time.perf_counter()
    rng = np.random.default_rng(seed)
    world = _world(rng, n_ratings, n_users, n_movies)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    movies = _movies_frame(rng, world)
    movies_path = out_dir / "movies.csv"
    write_text_atomic(movies_path, movies.to_csv(index=False, lineterminator="\n"))
    ratings_path = out_dir / "ratings.csv"
    bounds = np.searchsorted(
        np.cumsum(world.counts), np.arange(chunk_ratings, n_ratings, chunk_ratings)
    )
    edges = np.unique(np.concatenate([[0], bounds + 1, [n_users]]))
    written = 0
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with atomic_path(ratings_path) as tmp, tmp.open("wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            user, movie, rating, ts = _chunk_ratings(rng, world, np.arange(lo, hi))
            table = pa.table(
                {
                    "userId": user.astype(np.int32),
                    "movieId": movie.astype(np.int32),
                    "rating": rating_text(rating),
                    "timestamp": ts,
                }
            )
            pacsv.write_csv(table, fh, options)
            written += user.size
            log.debug("synth: users %d-%d, %d ratings so far", lo, hi, written)
    seconds = time.perf_counter() - begin
    log.info(
        "synth: %d ratings, %d users, %d movies in %.1f s", written, n_users, n_movies, seconds
    )
    return SynthSummary(ratings_path, movies_path, written, n_users, n_movies, seconds)
