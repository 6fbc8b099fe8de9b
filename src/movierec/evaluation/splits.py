"""Evaluation protocols: how ratings are divided into (train, test) folds.

Protocol names (use them verbatim in reports; see DESIGN.md "Evaluation protocols"):

``ml100k-u1`` … ``ml100k-u5``
    one canonical GroupLens split each (``u{i}.base`` / ``u{i}.test``, 80k / 20k ratings).
``ml100k-5fold``
    the five canonical splits, reported as mean ± std over folds.
``stratified-75-25``
    Microsoft Recommenders' benchmark split, re-implemented in
    :func:`python_stratified_split` and applied to ``u.data`` as their benchmark notebook
    does: ``python_stratified_split(df, ratio=0.75, min_rating=1, filter_by="item",
    seed=42)``. A *ranking* protocol.
``random-kfold``
    ``n_folds`` (default 5) seeded folds over all ratings (:func:`random_kfold`).
``temporal``
    leave-last-``n_last`` (default 10) per user (:func:`temporal_split`), or with the option
    ``time_cut`` a global cut: ratings at or after the cut are tested.

Every fold's test frame is aligned to its training vocabularies (:func:`align_test`): it
gains ``user_row`` / ``item_col`` columns holding the training matrix row/column, or ``-1``
when the user or movie never occurs in the training part. Such *cold* rows are kept:

* rating metrics score them with the training global mean (Surprise's fallback when a
  prediction is impossible), and the report counts them;
* ranking metrics count a cold movie as relevant (it can never be hit, as in Microsoft
  Recommenders' evaluation, where every held-out item of a user counts), while users
  unknown to the training part get no list and are left out of the user average (Microsoft
  Recommenders averages over users present in both the test set and the recommendations).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from movierec.errors import ConfigError
from movierec.evaluation.data import read_ratings_file
from movierec.interactions import ITEM_COL, TIME_COL, USER_COL, Interactions

ProtocolKind = Literal["rating", "ranking"]

PROTOCOLS: dict[str, str] = {
    **{f"ml100k-u{i}": f"canonical GroupLens split u{i}.base / u{i}.test" for i in range(1, 6)},
    "ml100k-5fold": "canonical GroupLens splits u1..u5 (5 folds)",
    "stratified-75-25": "Microsoft Recommenders python_stratified_split(ratio=0.75, "
    "filter_by='item', seed=42) of u.data",
    "random-kfold": "seeded random k-fold over all ratings of u.data",
    "temporal": "leave-last-n ratings per user (or a global time cut) of u.data",
}


def available_protocols() -> list[str]:
    return list(PROTOCOLS)


@dataclass(frozen=True)
class Fold:
    """One (train, test) pair.

    Attributes:
        name: fold label in reports (``u1``, ``fold1``, ``all``).
        train: training interactions; their vocabularies define the matrix indices.
        test: held-out rows with external ids (``userId, movieId, rating[, timestamp]``)
            plus ``user_row`` / ``item_col`` (int64 indices into ``train``, ``-1`` if cold).
    """

    name: str
    train: Interactions
    test: pd.DataFrame

    @property
    def n_cold(self) -> int:
        """Test rows whose user or movie is unknown to the training part."""
        return int(((self.test["user_row"] < 0) | (self.test["item_col"] < 0)).sum())


@dataclass(frozen=True)
class Protocol:
    """A named protocol with its folds.

    Attributes:
        name: one of :data:`PROTOCOLS`.
        kind: ``"ranking"`` (tuning optimises NDCG@K) or ``"rating"`` (RMSE for models
            that predict ratings).
        folds: the folds in order.
        options: protocol options actually used (``n_folds``, ``n_last``, ``time_cut``, seed).
    """

    name: str
    kind: ProtocolKind
    folds: list[Fold]
    options: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- helpers
def align_test(train: Interactions, test: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``test`` with ``user_row`` / ``item_col`` indices into ``train`` (``-1`` if cold)."""
    out = test.reset_index(drop=True).copy()
    users = out[USER_COL].to_numpy(dtype=np.int64)
    items = out[ITEM_COL].to_numpy(dtype=np.int64)
    known_u = train.users.contains(users)
    known_i = train.items.contains(items)
    out["user_row"] = np.where(known_u, np.searchsorted(train.users.ids, users), -1)
    out["item_col"] = np.where(known_i, np.searchsorted(train.items.ids, items), -1)
    return out


def make_fold(name: str, train: pd.DataFrame, test: pd.DataFrame) -> Fold:
    """Build a :class:`Fold` from two rating frames (training vocabularies from ``train``)."""
    inter = Interactions.from_frame(train.reset_index(drop=True), rating_scale=(1.0, 5.0))
    return Fold(name, inter, align_test(inter, test))


# ---------------------------------------------------------------------------------- splitters
def python_stratified_split(
    data: pd.DataFrame,
    ratio: float = 0.75,
    filter_by: Literal["user", "item"] = "user",
    seed: int = 42,
    col_user: str = USER_COL,
    col_item: str = ITEM_COL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Microsoft Recommenders' ``python_stratified_split`` (random, single ratio).

    Algorithm (``recommenders/datasets/python_splitters.py::_do_stratification`` with
    ``is_random=True``, ``min_rating=1``), reproduced step by step so the split is the *same
    rows*, not just the same distribution:

    1. ``np.random.seed(seed); r = np.random.rand(len(data))`` — one uniform draw per row in
       the frame's row order (we use ``np.random.RandomState(seed).rand``, which produces the
       identical stream without touching numpy's global state);
    2. sort rows by ``(group, r)`` where group is the user (``filter_by="user"``) or item;
    3. per group, ``count`` = group size and ``rank`` = 1-based position;
    4. train = ``rank <= round(ratio * count)``, test = the rest (``round`` is pandas'
       round-half-to-even, e.g. a 2-rating item puts ``round(1.5) = 2`` rows in train).

    Given the same frame in the same row order (``u.data`` file order, as
    ``movielens.load_pandas_df`` reads it) the output rows equal theirs.

    Args:
        data: ratings with external ids; row order matters (see above).
        ratio: training fraction in (0, 1).
        filter_by: stratify by ``"user"`` or ``"item"``.
        seed: numpy legacy seed.

    Returns:
        ``(train, test)`` frames, rows in the sorted ``(group, r)`` order, original index kept.
    """
    if not 0.0 < float(ratio) < 1.0:
        raise ConfigError(f"split ratio must be in (0, 1), got {ratio}")
    if filter_by not in ("user", "item"):
        raise ConfigError(f"filter_by must be 'user' or 'item', got {filter_by!r}")
    col = col_user if filter_by == "user" else col_item
    rand = np.random.RandomState(seed).rand(len(data))
    group = data[col].to_numpy()
    order = np.lexsort((rand, group))  # stable: primary key group, secondary r
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(sorted_group[1:] != sorted_group[:-1]) + 1]
    counts = np.diff(np.r_[starts, sorted_group.size])
    count = np.repeat(counts, counts)
    rank = np.arange(sorted_group.size) - np.repeat(starts, counts) + 1
    cut = np.round(ratio * count)  # half-to-even, like pandas Series.round
    in_train = rank <= cut
    ordered = data.iloc[order]
    return ordered[in_train], ordered[~in_train]


def random_kfold(
    data: pd.DataFrame, n_folds: int = 5, seed: int = 42
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Seeded k-fold over rating rows: a permutation cut into ``n_folds`` near-equal parts.

    Fold ``f`` tests part ``f`` and trains on the others; every rating is tested exactly once.
    """
    n_folds = int(n_folds)
    if n_folds < 2 or n_folds > len(data):
        raise ConfigError(f"n_folds must be between 2 and the number of ratings, got {n_folds}")
    perm = np.random.default_rng(seed).permutation(len(data))
    parts = np.array_split(perm, n_folds)
    out = []
    for f in range(n_folds):
        mask = np.zeros(len(data), dtype=bool)
        mask[parts[f]] = True
        out.append((data[~mask], data[mask]))
    return out


def temporal_split(
    data: pd.DataFrame, n_last: int | None = 10, time_cut: float | str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-aware split.

    * ``time_cut`` given: a global cut. A float in (0, 1) is a quantile of the timestamps
      (0.8 tests the latest 20 % of ratings), a larger number a Unix time, a string an ISO
      date; rows with ``timestamp >= cut`` are tested. Users first seen after the cut are
      cold (see module docstring).
    * otherwise leave-last-``n_last``: per user, the ``n_last`` most recent ratings (ties in
      time broken by movieId) are tested; users with ``<= n_last`` ratings stay in training.
    """
    if TIME_COL not in data.columns:
        raise ConfigError("the temporal protocol needs timestamps")
    ts = data[TIME_COL].to_numpy(dtype=np.int64)
    if time_cut is not None:
        if isinstance(time_cut, str):
            try:
                cut = pd.Timestamp(time_cut, tz="UTC").timestamp()
            except ValueError as exc:
                raise ConfigError(f"time_cut {time_cut!r} is not an ISO date") from exc
        elif 0.0 < float(time_cut) < 1.0:
            cut = float(np.quantile(ts, float(time_cut)))
        else:
            cut = float(time_cut)
        test = ts >= cut
        if test.all() or not test.any():
            raise ConfigError(f"time_cut {time_cut!r} leaves an empty train or test part")
        return data[~test], data[test]
    if n_last is None or int(n_last) < 1:
        raise ConfigError(f"n_last must be >= 1, got {n_last}")
    users = data[USER_COL].to_numpy()
    order = np.lexsort((data[ITEM_COL].to_numpy(), ts, users))
    su = users[order]
    starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    counts = np.diff(np.r_[starts, su.size])
    from_end = np.repeat(starts + counts, counts) - np.arange(su.size)  # 1 = most recent
    test_sorted = (from_end <= int(n_last)) & (np.repeat(counts, counts) > int(n_last))
    mask = np.zeros(len(data), dtype=bool)
    mask[order[test_sorted]] = True
    return data[~mask], data[mask]


def per_user_holdout(
    data: pd.DataFrame, fraction: float = 0.1, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation carve-out from a *training* part: a seeded ``fraction`` of each user's ratings.

    Implemented as ``python_stratified_split(data, 1 - fraction, filter_by="user", seed)``.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"validation fraction must be in (0, 1), got {fraction}")
    return python_stratified_split(data, 1.0 - float(fraction), filter_by="user", seed=seed)


# ---------------------------------------------------------------------------------- protocols
def load_protocol(
    name: str,
    ml100k_dir: str | Path,
    seed: int = 42,
    options: Mapping[str, Any] | None = None,
) -> Protocol:
    """Build the folds of protocol ``name`` from an extracted ml-100k folder.

    Args:
        name: one of :data:`PROTOCOLS`.
        ml100k_dir: folder holding ``u.data`` and ``u1..u5.base/.test``.
        seed: seed of the random protocols (``stratified-75-25`` always uses 42 unless
            ``options["seed"]`` overrides it, to stay comparable with Microsoft's table).
        options: ``n_folds`` (random-kfold), ``n_last`` / ``time_cut`` (temporal).

    Raises:
        ConfigError: unknown protocol or option.
        DataError: a split file is missing (the message names it).
    """
    opts = dict(options or {})
    allowed = {"random-kfold": {"n_folds"}, "temporal": {"n_last", "time_cut"}}
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}")
    bad = sorted(set(opts) - allowed.get(name, set()) - {"seed"})
    if bad:
        raise ConfigError(f"protocol {name!r} has no option {', '.join(bad)}")
    d = Path(ml100k_dir)
    if name.startswith("ml100k-"):
        which = range(1, 6) if name == "ml100k-5fold" else [int(name[-1])]
        paths = [(d / f"u{i}.base", d / f"u{i}.test") for i in which]
        for base, test in paths:  # check all files first: fail before any work
            for p in (base, test):
                read_check(p)
        folds = [
            make_fold(f"u{i}", read_ratings_file(b), read_ratings_file(t))
            for i, (b, t) in zip(which, paths, strict=True)
        ]
        return Protocol(name, "rating", folds, {})
    data = read_ratings_file(d / "u.data")
    if name == "stratified-75-25":
        split_seed = int(opts.get("seed", 42))
        train, test = python_stratified_split(data, 0.75, filter_by="item", seed=split_seed)
        return Protocol(name, "ranking", [make_fold("all", train, test)], {"seed": split_seed})
    seed = int(opts.get("seed", seed))
    if name == "random-kfold":
        n_folds = int(opts.get("n_folds", 5))
        pairs = random_kfold(data, n_folds, seed)
        folds = [make_fold(f"fold{f + 1}", tr, te) for f, (tr, te) in enumerate(pairs)]
        return Protocol(name, "rating", folds, {"n_folds": n_folds, "seed": seed})
    time_cut = opts.get("time_cut")
    n_last = None if time_cut is not None else int(opts.get("n_last", 10))
    train, test = temporal_split(data, n_last=n_last, time_cut=time_cut)
    used = {"time_cut": time_cut} if time_cut is not None else {"n_last": n_last}
    return Protocol(name, "rating", [make_fold("all", train, test)], used)


def read_check(path: Path) -> None:
    """Raise :class:`DataError` naming ``path`` if the split file is absent."""
    from movierec.errors import DataError

    if not path.is_file():
        raise DataError(f"split file missing: {path} (needed by this protocol)")
