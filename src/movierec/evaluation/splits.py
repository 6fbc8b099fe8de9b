"""Evaluation protocols: how ratings are divided into (train, test) folds.

Protocol names (use them verbatim in reports); each declares the releases it applies to
(:attr:`ProtocolSpec.datasets`, see :data:`PROTOCOLS`):

``ml100k-u1`` … ``ml100k-u5`` (ml-100k only)
    one canonical GroupLens split each (``u{i}.base`` / ``u{i}.test``, 80k / 20k ratings).
``ml100k-5fold`` (ml-100k only)
    the five canonical splits, reported as mean ± std over folds.
``stratified-75-25`` (every release)
    Microsoft Recommenders' benchmark split, re-implemented in
    :func:`python_stratified_split` and applied to all of the release's ratings in file
    order (``u.data`` for ml-100k) as their benchmark notebook does:
    ``python_stratified_split(df, ratio=0.75, min_rating=1, filter_by="item", seed=42)``.
    A *ranking* protocol.
``random-kfold`` (every release)
    ``n_folds`` (default 5) seeded folds over all ratings (:func:`random_kfold`).
``temporal`` (every release)
    leave-last-``n_last`` (default 10) per user (:func:`temporal_split`), or with the option
    ``time_cut`` a global cut: ratings at or after the cut are tested.

Every fold carries its release's rating scale (whole stars 1-5 for ml-100k, half stars
0.5-5 for ml-latest-small...): predictions are clipped to it.

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

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from movierec.errors import ConfigError
from movierec.evaluation.data import ReleaseData, read_release
from movierec.interactions import ITEM_COL, TIME_COL, USER_COL, Interactions

ProtocolKind = Literal["rating", "ranking"]


@dataclass(frozen=True)
class ProtocolSpec:
    """What a protocol is and where it applies.

    Attributes:
        name: the protocol's name in reports and on the command line.
        kind: ``"ranking"`` (tuning optimises NDCG@K) or ``"rating"``.
        description: one line for listings.
        datasets: the releases it applies to (``None``: every release).
        splits: the release's predefined splits it uses, one fold each (``("u1",)``);
            empty when it splits all the ratings itself.
        options: protocol options it accepts besides ``seed``.
        random: whether the split depends on the seed (``--seeds`` runs it once per seed;
            a protocol that is not random runs once whatever the seeds).
        carve: how a validation part is carved from a training part so that it looks like
            the test part: ``"random"`` ratings, or each user's ``"newest"`` ratings (time
            splits). Tuning and the self-fitting blends follow it.
    """

    name: str
    kind: ProtocolKind
    description: str
    datasets: tuple[str, ...] | None = None
    splits: tuple[str, ...] = ()
    options: frozenset[str] = frozenset()
    random: bool = False
    carve: Literal["random", "newest"] = "random"

    def applies_to(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


def _canonical(name: str, splits: tuple[str, ...], description: str) -> ProtocolSpec:
    return ProtocolSpec(name, "rating", description, datasets=("ml-100k",), splits=splits)


PROTOCOLS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in [
        *(
            _canonical(f"ml100k-u{i}", (f"u{i}",), f"canonical GroupLens split u{i}.base / .test")
            for i in range(1, 6)
        ),
        _canonical(
            "ml100k-5fold",
            tuple(f"u{i}" for i in range(1, 6)),
            "canonical GroupLens splits u1..u5 (5 folds)",
        ),
        ProtocolSpec(
            "stratified-75-25",
            "ranking",
            "Microsoft Recommenders python_stratified_split(ratio=0.75, filter_by='item', "
            "seed) of all ratings (seed 42 = Microsoft's published table)",
            random=True,
        ),
        ProtocolSpec(
            "random-kfold",
            "rating",
            "seeded random k-fold over all ratings",
            options=frozenset({"n_folds"}),
            random=True,
        ),
        ProtocolSpec(
            "temporal",
            "rating",
            "leave-last-n ratings per user (or a global time cut)",
            options=frozenset({"n_last", "time_cut"}),
            carve="newest",
        ),
        ProtocolSpec(
            "temporal-last1",
            "ranking",
            "leave-last-one-out: each user's latest rating is held out (users with one "
            "rating stay in training); HitRate@K / NDCG@K over all movies, seen excluded",
            carve="newest",
        ),
    ]
}


def available_protocols(dataset: str | None = None) -> list[str]:
    """Protocol names (those applying to ``dataset`` when given), in registry order."""
    return [n for n, p in PROTOCOLS.items() if dataset is None or p.applies_to(dataset)]


def get_protocol(name: str, dataset: str | None = None) -> ProtocolSpec:
    """The protocol called ``name``, checked to apply to ``dataset`` (when given).

    Raises:
        ConfigError: unknown name, or a protocol that does not apply to ``dataset`` (the
            one-line message names the protocols that do).
    """
    spec = PROTOCOLS.get(name)
    if spec is None:
        raise ConfigError(f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}")
    if dataset is not None and not spec.applies_to(dataset):
        only = ", ".join(spec.datasets or ())
        raise ConfigError(
            f"protocol {name!r} applies only to {only}, not to {dataset}; protocols for "
            f"{dataset}: {', '.join(available_protocols(dataset))}"
        )
    return spec


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


def make_fold(
    name: str, train: pd.DataFrame, test: pd.DataFrame, rating_scale: tuple[float, float]
) -> Fold:
    """Build a :class:`Fold` from two rating frames (training vocabularies from ``train``).

    ``rating_scale`` is the release's ``(min, max)`` (``DatasetSpec.rating_scale``, or
    ``fold.train.rating_scale`` for a fold carved from another); ratings keep their values.
    """
    inter = Interactions.from_frame(train.reset_index(drop=True), rating_scale=rating_scale)
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
    data: pd.DataFrame, fraction: float = 0.1, seed: int = 42, how: str = "random"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation carve-out from a *training* part: ``fraction`` of each user's ratings.

    ``how="random"``: a seeded random share, implemented as
    ``python_stratified_split(data, 1 - fraction, filter_by="user", seed)``.
    ``how="newest"``: each user's ``round(fraction · n_u)`` most recent ratings (ties in time
    broken by movieId), the carve of time-split protocols; needs timestamps.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"validation fraction must be in (0, 1), got {fraction}")
    if how == "random":
        return python_stratified_split(data, 1.0 - float(fraction), filter_by="user", seed=seed)
    if how != "newest":
        raise ConfigError(f"carve must be 'random' or 'newest', got {how!r}")
    if TIME_COL not in data.columns:
        raise ConfigError("a newest-ratings carve needs timestamps")
    users = data[USER_COL].to_numpy()
    ts = data[TIME_COL].to_numpy(dtype=np.int64)
    order = np.lexsort((data[ITEM_COL].to_numpy(), ts, users))
    su = users[order]
    starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    counts = np.diff(np.r_[starts, su.size])
    from_end = np.repeat(starts + counts, counts) - np.arange(su.size)  # 1 = most recent
    hold = from_end <= np.round(float(fraction) * np.repeat(counts, counts))
    mask = np.zeros(len(data), dtype=bool)
    mask[order[hold]] = True
    return data[~mask], data[mask]


# ---------------------------------------------------------------------------------- protocols
def load_protocol(
    name: str,
    data: ReleaseData | str | os.PathLike[str],
    seed: int = 42,
    options: Mapping[str, Any] | None = None,
    dataset: str = "ml-100k",
) -> Protocol:
    """Build the folds of protocol ``name`` from a release.

    Args:
        name: one of :data:`PROTOCOLS`, applying to the release.
        data: the release read by :func:`~movierec.evaluation.data.read_release`, or its
            extracted folder (read here as release ``dataset``).
        seed: seed of the random protocols (``stratified-75-25``, ``random-kfold``);
            ``options["seed"]`` overrides it. The default 42 is the seed of Microsoft's
            published ``stratified-75-25`` table. ``temporal`` and the canonical splits are
            not random: the seed does not change them.
        options: ``n_folds`` (random-kfold), ``n_last`` / ``time_cut`` (temporal).
        dataset: the release ``data`` holds when it is a folder.

    Raises:
        ConfigError: unknown protocol or option, or a protocol not for this release.
        DataError: a file is missing or malformed (the message names it).
    """
    if not isinstance(data, ReleaseData):
        spec = get_protocol(name, dataset)
        data = read_release(dataset, data, splits=spec.splits)
    spec = get_protocol(name, data.dataset.name)
    opts = dict(options or {})
    bad = sorted(set(opts) - spec.options - {"seed"})
    if bad:
        raise ConfigError(f"protocol {name!r} has no option {', '.join(bad)}")
    scale = data.dataset.rating_scale
    if spec.splits:
        folds = [make_fold(s, *data.splits[s], scale) for s in spec.splits]
        return Protocol(name, spec.kind, folds, {})
    ratings = data.ratings
    if name == "stratified-75-25":
        split_seed = int(opts.get("seed", seed))
        train, test = python_stratified_split(ratings, 0.75, filter_by="item", seed=split_seed)
        return Protocol(
            name, spec.kind, [make_fold("all", train, test, scale)], {"seed": split_seed}
        )
    seed = int(opts.get("seed", seed))
    if name == "random-kfold":
        n_folds = int(opts.get("n_folds", 5))
        pairs = random_kfold(ratings, n_folds, seed)
        folds = [make_fold(f"fold{f + 1}", tr, te, scale) for f, (tr, te) in enumerate(pairs)]
        return Protocol(name, spec.kind, folds, {"n_folds": n_folds, "seed": seed})
    if name == "temporal-last1":
        train, test = temporal_split(ratings, n_last=1)
        return Protocol(name, spec.kind, [make_fold("all", train, test, scale)], {"n_last": 1})
    time_cut = opts.get("time_cut")
    n_last = None if time_cut is not None else int(opts.get("n_last", 10))
    train, test = temporal_split(ratings, n_last=n_last, time_cut=time_cut)
    used = {"time_cut": time_cut} if time_cut is not None else {"n_last": n_last}
    return Protocol(name, spec.kind, [make_fold("all", train, test, scale)], used)
