"""transform(): the seed's filters against a brute-force reference, summary, atomic write."""

from __future__ import annotations

import errno
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from movierec.atomic import DiskFullError
from movierec.config import Layout
from movierec.data import textfiles
from movierec.data.ingest import load_ratings
from movierec.data.ml100k import read_u_data
from movierec.data.transform import (
    load_catalog,
    to_interactions,
    transform,
    write_clean,
)
from movierec.errors import ConfigError, DataError, UnknownIdError
from movierec.interactions import _dense_range
from tests.data.helpers import leftovers


def _reference(rows: list[tuple[int, int]], mu: int, mi: int, iterate: bool) -> list[int]:
    """Indices of kept rows, computed with plain loops and Counters."""
    keep = list(range(len(rows)))
    while True:
        n = len(keep)
        users = Counter(rows[i][0] for i in keep)
        keep = [i for i in keep if users[rows[i][0]] >= mu]
        items = Counter(rows[i][1] for i in keep)
        keep = [i for i in keep if items[rows[i][1]] >= mi]
        if not iterate or len(keep) == n:
            return keep


def _random_frame(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pairs = np.unique(
        np.column_stack([rng.zipf(1.6, 3 * n) % 60 + 1, rng.zipf(1.4, 3 * n) % 90 + 1]), axis=0
    )[:n]
    pairs = pairs[rng.permutation(len(pairs))]
    return pd.DataFrame(
        {
            "userId": pairs[:, 0],
            "movieId": pairs[:, 1],
            "rating": rng.integers(1, 6, len(pairs)).astype(np.float32),
            "timestamp": rng.integers(0, 10**9, len(pairs)),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("mu", "mi"), [(5, 20), (3, 4), (0, 0), (1, 2), (8, 3)])
@pytest.mark.parametrize("iterate", [False, True])
def test_matches_brute_force(seed: int, mu: int, mi: int, iterate: bool):
    frame = _random_frame(seed)
    rows = list(zip(frame["userId"], frame["movieId"], strict=True))
    keep = _reference(rows, mu, mi, iterate)
    if not keep:
        with pytest.raises(DataError, match="removed every rating"):
            transform(frame, mu, mi, iterate=iterate)
        return
    result = transform(frame, mu, mi, iterate=iterate)
    pd.testing.assert_frame_equal(result.frame, frame.iloc[keep].reset_index(drop=True))
    s = result.summary
    assert (s.ratings_before, s.users_before, s.movies_before) == (
        len(frame),
        frame["userId"].nunique(),
        frame["movieId"].nunique(),
    )
    assert (s.ratings_after, s.users_after, s.movies_after) == (
        len(keep),
        result.frame["userId"].nunique(),
        result.frame["movieId"].nunique(),
    )


def test_single_pass_versus_fixpoint():
    # user 1 has 2 ratings; movie 12 has only user 1's rating -> dropped (min 2) -> user 1
    # falls to 1 rating: a single pass keeps it, the fixpoint drops it.
    frame = pd.DataFrame(
        {"userId": [1, 1, 2, 2, 3, 3], "movieId": [11, 12, 11, 13, 11, 13], "rating": [5.0] * 6}
    )
    once = transform(frame, 2, 2)
    assert once.frame["userId"].tolist() == [1, 2, 2, 3, 3] and once.summary.passes == 1
    fix = transform(frame, 2, 2, iterate=True)
    assert fix.frame["userId"].tolist() == [2, 2, 3, 3] and fix.summary.passes == 3


def test_synthetic_low_activity_users_are_dropped(synth_dir):
    ratings = read_u_data(synth_dir / "u.data")
    counts = ratings["userId"].value_counts()
    low = set(counts[counts < 5].index)
    assert low  # the synthetic data has users below the threshold
    result = transform(ratings, 5, 20)
    assert not low & set(result.frame["userId"])
    assert result.frame["movieId"].value_counts().min() >= 20
    assert result.summary.users_after < result.summary.users_before


def test_summary_text():
    frame = _random_frame(0)
    text = str(transform(frame, 2, 3).summary)
    assert "before" in text and "after" in text and f"{len(frame):,}" in text
    assert "< 2 ratings" in text and "< 3 ratings" in text


@pytest.mark.parametrize(("mu", "mi"), [(-1, 20), (5, -3), (2.5, 3), ("5", 3), (True, 3)])
def test_bad_thresholds(mu, mi):
    with pytest.raises(ConfigError, match="must be an integer >= 0"):
        transform(_random_frame(0), mu, mi)


def test_missing_columns():
    with pytest.raises(DataError, match="missing column"):
        transform(pd.DataFrame({"userId": [1]}))


def test_write_clean_roundtrip_and_interactions(layout: Layout):
    frame = transform(_random_frame(1), 2, 2).frame
    frame["title"] = "x"  # extra (merged) columns are not written
    path = write_clean(frame, layout)
    assert path == layout.clean_ratings_csv
    back = load_ratings(path)
    pd.testing.assert_frame_equal(back, frame.drop(columns="title"))
    data = to_interactions(back)
    assert data.nnz == len(frame) and data.n_users == frame["userId"].nunique()
    movies = pd.DataFrame({"movieId": [1], "title": ["A (1990)"], "year": [1990], "genres": [""]})
    assert load_catalog(movies).title(1) == "A (1990)"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(KeyboardInterrupt(), KeyboardInterrupt), (OSError(errno.ENOSPC, "full"), DiskFullError)],
)
def test_interrupted_write_keeps_previous(layout: Layout, monkeypatch, exc, expected):
    write_clean(_random_frame(1), layout)
    before = layout.clean_ratings_csv.read_bytes()

    def broken(table, out, options=None):
        out.write(b"1,2")
        raise exc

    monkeypatch.setattr(textfiles.pacsv, "write_csv", broken)
    with pytest.raises(expected):
        write_clean(_random_frame(2), layout)
    assert layout.clean_ratings_csv.read_bytes() == before
    assert leftovers(layout.processed_dir) == []


@pytest.mark.parametrize("shift", [0, 10**12, -(10**6)])
def test_any_integer_ids_give_the_same_rows(shift: int):
    """Small non-negative ids are counted directly, others through factorize: same result."""
    frame = _random_frame(3)
    moved = frame.assign(userId=frame["userId"] + shift, movieId=frame["movieId"] * 7 - shift)
    for iterate in (False, True):
        want = transform(frame, 3, 4, iterate=iterate)
        got = transform(moved, 3, 4, iterate=iterate)
        pd.testing.assert_frame_equal(got.frame[["rating", "timestamp"]],
                                      want.frame[["rating", "timestamp"]])  # fmt: skip
        assert got.summary == want.summary


def _sorting_reference(frame: pd.DataFrame) -> tuple[Any, ...]:
    """What to_interactions computed before its O(n) path: np.unique + searchsorted.

    Returns ``(user ids, movie ids, ratings CSR, timestamps CSR)``."""
    users = np.unique(frame["userId"].to_numpy(np.int64))
    items = np.unique(frame["movieId"].to_numpy(np.int64))
    rows = np.searchsorted(users, frame["userId"].to_numpy(np.int64))
    cols = np.searchsorted(items, frame["movieId"].to_numpy(np.int64))
    data = frame["rating"].to_numpy(np.float32)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(users.size, items.size), dtype=np.float32)
    matrix.sort_indices()
    stamps = sp.csr_matrix((frame["timestamp"].to_numpy(), (rows, cols)), shape=matrix.shape)
    stamps.sort_indices()
    return users, items, matrix, stamps


def test_transform_and_interactions_at_scale_match_the_sorting_reference():
    """~50k ratings (above the lookup-table threshold), unsorted: identical output, bit for bit."""
    rng = np.random.default_rng(7)
    n = 60_000
    frame = pd.DataFrame(
        {
            "userId": rng.integers(1, 3_001, n).astype(np.int32),
            "movieId": (rng.random(n) ** 3 * 20_000 + 1).astype(np.int32),  # skewed popularity
            "rating": (rng.integers(1, 11, n) / 2).astype(np.float32),
            "timestamp": rng.integers(0, 10**9, n),
        }
    ).drop_duplicates(["userId", "movieId"], ignore_index=True)
    result = transform(frame, 5, 3)
    codes = pd.factorize(frame["userId"])[0]
    assert result.summary.users_before == codes.max() + 1
    assert _dense_range(result.frame["movieId"].to_numpy()) is not None  # the O(n) path
    data = to_interactions(result.frame)
    users, items, matrix, stamps = _sorting_reference(result.frame)
    assert np.array_equal(data.users.ids, users) and np.array_equal(data.items.ids, items)
    for got_csr, want_csr in ((data.matrix, matrix), (data.timestamps, stamps)):
        for name in ("indptr", "indices", "data"):
            got, want = getattr(got_csr, name), getattr(want_csr, name)
            assert got.dtype == want.dtype and np.array_equal(got, want), name
    big = result.frame.assign(movieId=result.frame["movieId"].astype(np.int64) + 10**10)
    slow = to_interactions(big)  # ids far apart: the sorting path
    assert np.array_equal(slow.items.ids - 10**10, items)
    assert data.fingerprint() != slow.fingerprint()  # ids differ, pattern and ratings do not
    assert (slow.matrix != data.matrix).nnz == 0
    unknown = result.frame["userId"].to_numpy().copy()
    unknown[-1] = int(users.max()) + 1
    with pytest.raises(UnknownIdError, match=f"unknown user id: {int(users.max()) + 1}"):
        data.users.index(unknown)
    unknown[-1] = 0  # below the smallest id, inside the lookup table
    with pytest.raises(UnknownIdError, match="unknown user id: 0"):
        data.users.index(unknown)
