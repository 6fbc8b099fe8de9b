"""Small synthetic datasets in the exact ml-100k format, for tests and demos.

:func:`write_ml100k_like` writes ``u.data``, ``u.item`` (ISO-8859-1), ``u.genre``,
``u.user``, ``u.info`` and optionally the five ``u{k}.base``/``u{k}.test`` folds, with the
quirks of the real release that loaders must handle:

- Latin-1 titles: movie 2 is ``Á köldum klaka (Cold Fever) (1994)`` (the real movie 1633),
  movie 4 ``Café au lait (Métisse) (1993)`` without a release date (year from the title);
- movie 3 is ``unknown``: no release date, no IMDb URL, only the ``unknown`` genre flag
  (the real movie 267);
- the first ``n_low_activity`` users have 1-4 ratings (below the seed's threshold of 5),
  and movie popularity is heavy-tailed so that some movies fall below 20 ratings.

Ratings come from latent user/movie biases plus noise, so they are not uniform. The same
``seed`` gives byte-identical files. The digests of these files differ from the registry's,
so pass :func:`content_checksums` as ``download(..., checksums=...)`` when a test installs a
synthetic archive made by :func:`zip_dataset`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np

from movierec.data.datasets import get_dataset
from movierec.data.download import sha256_file

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
LATIN1_TITLE = "Á köldum klaka (Cold Fever) (1994)"
UNDATED_TITLE = "Café au lait (Métisse) (1993)"
SPECIAL_TITLES = {2: LATIN1_TITLE, 3: "unknown", 4: UNDATED_TITLE}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_T0 = 874_724_710  # first timestamp of the real u.data (Sep 1997)
ENCODING = get_dataset("ml-100k").encoding  # of u.item, u.genre, u.user (ISO-8859-1)


def _user_counts(
    rng: np.random.Generator, n_users: int, n_items: int, n_ratings: int, n_low: int
) -> np.ndarray:
    """Ratings per user: ``n_low`` users with 1-4, the others >= 5, summing to ``n_ratings``."""
    low = rng.integers(1, 5, size=n_low)
    n_rest = n_users - n_low
    remaining = n_ratings - int(low.sum())
    if n_rest <= 0 or not (5 * n_rest <= remaining <= n_rest * n_items):
        raise ValueError(
            f"cannot spread {n_ratings} ratings over {n_users} users x {n_items} movies "
            f"with {n_low} low-activity users"
        )
    weights = rng.pareto(1.5, size=n_rest) + 1.0
    counts = 5 + rng.multinomial(remaining - 5 * n_rest, weights / weights.sum())
    while (over := np.clip(counts - n_items, 0, None)).any():  # move overflow to others
        counts -= over
        room = np.flatnonzero(counts < n_items)
        counts[room] += rng.multinomial(int(over.sum()), np.full(room.size, 1 / room.size))
    return np.concatenate([low, counts])


def write_ml100k_like(
    directory: str | Path,
    n_users: int = 40,
    n_items: int = 60,
    n_ratings: int = 1200,
    seed: int = 0,
    *,
    n_low_activity: int = 3,
    splits: bool = True,
) -> Path:
    """Write a synthetic dataset in the exact ml-100k file formats into ``directory``.

    Args:
        directory: created if missing; existing files with the same names are overwritten.
        n_users: users, ids ``1..n_users``; the first ``n_low_activity`` have 1-4 ratings.
        n_items: movies, ids ``1..n_items`` (>= 5: movies 2-4 are the special ones).
        n_ratings: exact number of lines of ``u.data`` (no duplicate user/movie pair).
        seed: random seed (same seed -> same bytes).
        n_low_activity: users below the 5-rating threshold.
        splits: also write ``u1.base``/``u1.test`` … ``u5`` (5 disjoint folds, sorted by
            user then movie, like the real ones).

    Returns:
        ``directory`` as a :class:`Path`.
    """
    if n_items < 5:
        raise ValueError("n_items must be >= 5")
    rng = np.random.default_rng(seed)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    counts = _user_counts(rng, n_users, n_items, n_ratings, n_low_activity)
    # heavy-tailed popularity; the Latin-1 movie is the most popular, 'unknown' is rare
    popularity = 1.0 / (rng.permutation(n_items) + 1.0) ** 1.1
    popularity[1] = popularity.max() * 1.5
    popularity[2] = popularity.min()
    # weighted sampling without replacement, all users at once (Gumbel top-k)
    keys = np.log(popularity)[None, :] + rng.gumbel(size=(n_users, n_items))
    order = np.argsort(-keys, axis=1)
    take = np.arange(n_items)[None, :] < counts[:, None]
    users = np.repeat(np.arange(1, n_users + 1), counts)
    items = order[take] + 1
    user_bias = rng.normal(0.0, 0.5, n_users)
    item_bias = rng.normal(0.0, 0.6, n_items)
    noise = rng.normal(0.0, 0.8, users.size)
    lo, hi = get_dataset("ml-100k").rating_scale
    ratings = np.clip(np.rint(3.5 + user_bias[users - 1] + item_bias[items - 1] + noise), lo, hi)
    stamps = _T0 + rng.integers(0, 20_000_000, size=users.size)
    shuffle = rng.permutation(users.size)
    table = np.column_stack([users, items, ratings.astype(np.int64), stamps])[shuffle]
    _write_u_data(out / "u.data", table)

    _write_u_item(out / "u.item", rng, n_items)
    (out / "u.genre").write_text(
        "".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)) + "\n", encoding=ENCODING
    )
    ages = rng.integers(7, 74, size=n_users)
    sexes = rng.choice(["M", "F"], size=n_users)
    (out / "u.user").write_text(
        "".join(
            f"{u}|{a}|{s}|other|{10000 + u:05d}\n"
            for u, a, s in zip(range(1, n_users + 1), ages, sexes, strict=True)
        ),
        encoding=ENCODING,
    )
    (out / "u.info").write_text(f"{n_users} users\n{n_items} items\n{users.size} ratings\n")
    if splits:
        fold = rng.permutation(users.size) % 5
        for k in range(5):
            _write_u_data(out / f"u{k + 1}.base", _sorted(table[fold != k]))
            _write_u_data(out / f"u{k + 1}.test", _sorted(table[fold == k]))
    return out


def _sorted(table: np.ndarray) -> np.ndarray:
    return table[np.lexsort((table[:, 1], table[:, 0]))]


def _write_u_data(path: Path, table: np.ndarray) -> None:
    np.savetxt(path, table, fmt="%d", delimiter="\t", newline="\n")


def _write_u_item(path: Path, rng: np.random.Generator, n_items: int) -> None:
    years = rng.integers(1930, 1998, size=n_items)
    days = rng.integers(1, 29, size=n_items)
    months = rng.integers(0, 12, size=n_items)
    flags = np.zeros((n_items, len(ML100K_GENRES)), dtype=np.int64)
    for_genres = rng.integers(1, len(ML100K_GENRES), size=(n_items, 2))
    flags[np.arange(n_items), for_genres[:, 0]] = 1
    flags[np.arange(n_items), for_genres[:, 1]] = rng.integers(0, 2, size=n_items)
    lines = []
    for i in range(n_items):
        movie = i + 1
        title = SPECIAL_TITLES.get(movie, f"Synthetic Movie {movie} ({years[i]})")
        if movie == 2:
            years[i] = 1994
        date = f"{days[i]:02d}-{_MONTHS[months[i]]}-{years[i]}"
        url = "http://us.imdb.com/M/title-exact?" + quote(title, encoding=ENCODING)
        row_flags = flags[i]
        if movie == 3:  # like the real movie 267
            date, url = "", ""
            row_flags = np.zeros_like(row_flags)
            row_flags[0] = 1
        elif movie == 4:
            date = ""
        lines.append(f"{movie}|{title}|{date}||{url}|" + "|".join(map(str, row_flags)) + "\n")
    path.write_bytes("".join(lines).encode(ENCODING))


def zip_dataset(directory: str | Path, zip_path: str | Path, folder: str = "ml-100k") -> Path:
    """Zip the files of ``directory`` under ``folder/`` like the official ``ml-100k.zip``."""
    src, dest = Path(directory), Path(zip_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{folder}/", "")
        for path in sorted(p for p in src.iterdir() if p.is_file()):
            archive.write(path, f"{folder}/{path.name}")
    return dest


def content_checksums(
    directory: str | Path, names: tuple[str, ...] = ("u.data", "u.item", "u.genre")
) -> dict[str, str | None]:
    """SHA-256 of the given files of ``directory`` (a ``download(checksums=...)`` override)."""
    return {name: sha256_file(Path(directory) / name) for name in names}
