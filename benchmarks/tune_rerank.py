"""Validation experiments on ``rank-blend`` for issue 14's ``stratified-75-25`` target.

Every figure here is a *validation* figure: for each outer seed ``s`` the protocol's split
(``stratified-75-25``, seed ``s``) gives a training part, and
:func:`movierec.evaluation.tuning.validation_fold` splits that training part again (the
protocol's own item-stratified 75/25 split, seed ``s + 1``) into ``T`` and a validation part
``V``. The blend learns its weights exactly as :class:`~movierec.models.blend.RankBlend` does,
on a carve of ``T`` (:func:`~movierec.models.common.carve.carve_holdout`, 20 % of each user's
ratings, carve seed ``c``), its parts are refitted on ``T``, and it is scored on ``V``
(NDCG@10 / P@10 over the users of ``V`` known to ``T``, seen movies excluded, every held-out
movie relevant: :mod:`movierec.evaluation.metrics`). The test part of ``s`` is never read.

Sections (each written to ``benchmarks/results/tune_rerank.json``):

``objective_k``
    the weights maximise NDCG@``k`` of the carve for ``k`` in 10, 15, 20, 30, 50, one
    replicate per (outer seed, carve seed); the validation metric stays NDCG@10.
``pooled_carves``
    the objective summed over three carves (three times the part fits), ``k`` 10 and 20.
``extra_parts``
    ``k=20`` with candidate parts added to the coordinate ascent: slist, ease, user-knn and
    bpr scores; the log count of the movie's ratings inside the user's active time window
    (first to last rating); the user's genre-profile affinity ``g_u · ĝ_i`` (``g_u``: share
    of the user's ratings per genre, ``ĝ_i``: the movie's genres normalised to sum 1). Each
    feature enters per-user z-scored, like a part.
``holdout``
    carve fraction 0.3 instead of 0.2 (``k=20``).
``rerank``
    a learned re-ranker over the blend's top-50 unseen movies per user: scikit-learn's
    ``HistGradientBoostingClassifier`` (pointwise log loss) on the parts' z-scores and ranks,
    the blend score and position, the movie's log support and shrunk mean rating, the
    user's log history length, the time-window count (and its share of the movie's ratings),
    the movie's first rating time relative to the user's last, the user's active span and
    the genre affinity; trained on the carve's labels (the carved ratings), scored on ``V``
    with the parts refitted on ``T``; also scored on half of the carve's users when trained
    on the other half.

Usage::

    .venv/bin/python benchmarks/tune_rerank.py [--data /work/shared/data/ml-100k]
        [--seeds 1,...,10] [--rerank-seeds 1,2,3] [--sections objective_k,...]

About 15 min on 2 busy cores. Writes figures only (no ratings).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from movierec.evaluation import metrics as M
from movierec.evaluation.data import ReleaseData, read_release
from movierec.evaluation.splits import load_protocol
from movierec.evaluation.tuning import validation_fold
from movierec.interactions import Interactions
from movierec.models.blend import DEFAULT_RANK_PARTS, build_parts, fit_rank_weights
from movierec.models.common.carve import carve_holdout
from movierec.models.common.zscore import finite_zscore

RESULTS = Path(__file__).parent / "results" / "tune_rerank.json"
K = 10
LABELS = list(DEFAULT_RANK_PARTS)
EXTRA_MODELS: dict[str, dict[str, Any]] = {"slist": {}, "ease": {}, "user-knn": {}, "bpr": {}}
SECTIONS = ("objective_k", "pooled_carves", "extra_parts", "holdout", "rerank")


# ------------------------------------------------------------------------------ the tasks
class Task:
    """Users, seen movies (``blocked``), relevant movies and relevant counts of one task."""

    def __init__(
        self, users: np.ndarray, blocked: np.ndarray, relevant: np.ndarray, n_rel: np.ndarray
    ) -> None:
        self.users, self.blocked, self.relevant, self.n_rel = users, blocked, relevant, n_rel

    def subset(self, mask: np.ndarray) -> Task:
        """The task restricted to the users where ``mask`` holds."""
        return Task(self.users[mask], self.blocked[mask], self.relevant[mask], self.n_rel[mask])

    def metrics(self, scores: np.ndarray) -> tuple[float, float]:
        """NDCG@10 and P@10 of score rows ``(n_users, n_items)`` (blocked movies excluded)."""
        s = np.where(self.blocked, -np.inf, scores)
        top = np.argsort(-s, axis=1, kind="stable")[:, :K]
        hits = np.take_along_axis(self.relevant, top, axis=1)
        return M.ndcg_at_k(hits, self.n_rel, K), M.precision_at_k(hits, K)


def carve_task(data: Interactions, fraction: float, seed: int) -> tuple[Interactions, Task]:
    """The rank-blend's carve of ``data`` and its task (users with a carved rating)."""
    rest, rows, cols, _ = carve_holdout(data, fraction, seed, "random")
    users = np.unique(rows)
    relevant = np.zeros((users.size, data.n_items), dtype=bool)
    relevant[np.searchsorted(users, rows), cols] = True
    blocked = rest.matrix[users].toarray() != 0
    return rest, Task(users, blocked, relevant, relevant.sum(axis=1))


def validation_task(data: Interactions, test: Any) -> Task:
    """Users of the validation part known to ``data``; cold movies count in ``n_rel``."""
    t = test[test["user_row"] >= 0]
    rows = t["user_row"].to_numpy()
    users = np.unique(rows)
    n_rel = np.bincount(rows, minlength=data.n_users)[users]
    known = t[t["item_col"] >= 0]
    relevant = np.zeros((users.size, data.n_items), dtype=bool)
    relevant[np.searchsorted(users, known["user_row"].to_numpy()), known["item_col"].to_numpy()] = (
        True
    )
    return Task(users, data.matrix[users].toarray() != 0, relevant, n_rel)


def part_z(
    specs: dict[str, dict[str, Any]], data: Interactions, rel: ReleaseData, users: np.ndarray
) -> np.ndarray:
    """Per-user z-scores of every part fitted on ``data``, shape ``(n_parts, b, n_items)``."""
    parts = build_parts(specs)
    return np.stack(
        [finite_zscore(m.fit(data, rel.catalog).score(users)) for m in parts.values()]
    ).astype(np.float32)


def feature_parts(data: Interactions, item_genres: np.ndarray) -> np.ndarray:
    """Per-user z-scored ``log(1 + c_ui)`` (``c_ui``: ratings of movie ``i`` between user
    ``u``'s first and last rating time) and genre affinity ``g_u · ĝ_i``, shape
    ``(2, n_users, n_items)``."""
    counts, _, _ = window_counts(data)
    return np.stack(
        [finite_zscore(np.log1p(counts)), finite_zscore(genre_affinity(data, item_genres))]
    ).astype(np.float32)


def window_counts(data: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``c`` (``(n_users, n_items)``: each movie's ratings inside each user's active window),
    and every user's first and last rating time."""
    assert data.timestamps is not None
    m, ts = data.matrix, data.timestamps.tocsr()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    first = np.full(m.shape[0], np.inf)
    last = np.full(m.shape[0], -np.inf)
    np.minimum.at(first, rows, ts.data)
    np.maximum.at(last, rows, ts.data)
    tsc = ts.tocsc()
    counts = np.zeros(m.shape)
    for i in range(m.shape[1]):
        times = np.sort(tsc.data[tsc.indptr[i] : tsc.indptr[i + 1]])
        counts[:, i] = np.searchsorted(times, last, "right") - np.searchsorted(times, first)
    return counts, first, last


def genre_affinity(data: Interactions, item_genres: np.ndarray) -> np.ndarray:
    """``g_u · ĝ_i`` for every user and movie, shape ``(n_users, n_items)``."""
    seen = data.matrix.copy()
    seen.data[:] = 1.0
    g = np.asarray(seen @ item_genres)
    g = g / np.maximum(g.sum(axis=1, keepdims=True), 1.0)
    norm = item_genres / np.maximum(item_genres.sum(axis=1, keepdims=True), 1.0)
    return g @ norm.T


# ------------------------------------------------------------------------------ re-ranker
def rerank_features(
    data: Interactions, z: np.ndarray, w: np.ndarray, task: Task, item_genres: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (the blend's top ``n`` unseen movies, ``(b, n)``) and their features
    ``(b, n, f)`` (see the module docstring); ``z`` holds the task users' part z-scores."""
    blend = np.where(task.blocked, -np.inf, np.tensordot(w, z, axes=1))
    cand = np.argsort(-blend, axis=1, kind="stable")[:, :n]
    u = np.arange(task.users.size)[:, None]
    zc = z[:, u, cand]
    ranks = np.argsort(np.argsort(-zc, axis=2), axis=2)
    m = data.matrix
    n_i = np.bincount(m.indices, minlength=m.shape[1])
    mean_i = (np.bincount(m.indices, weights=m.data, minlength=m.shape[1]) + 17.5) / (n_i + 5)
    n_u = np.diff(m.indptr)[task.users]
    counts, first, last = window_counts(data)
    first, last = first[task.users], last[task.users]
    assert data.timestamps is not None
    tsc = data.timestamps.tocsc()
    item_first = np.array(
        [
            tsc.data[a:b].min() if b > a else np.inf
            for a, b in zip(tsc.indptr[:-1], tsc.indptr[1:], strict=True)
        ]
    )
    win = counts[task.users][u, cand]
    per_user = np.ones_like(win)
    cols = [
        *zc,
        np.tensordot(w, zc, axes=1),
        per_user * np.arange(n),
        *ranks,
        np.log1p(n_i[cand]),
        mean_i[cand],
        per_user * np.log1p(n_u)[:, None],
        np.log1p(win),
        win / np.maximum(n_i[cand], 1),
        (item_first[cand] - last[:, None]) / 86400.0,
        per_user * ((last - first) / 86400.0)[:, None],
        genre_affinity(data, item_genres)[task.users][u, cand],
    ]
    return cand, np.stack(cols, axis=-1).astype(np.float32)


def rerank_scores(
    model: HistGradientBoostingClassifier, cand: np.ndarray, x: np.ndarray, n_items: int
) -> np.ndarray:
    """Score rows: the re-ranker's probability on the candidates (ties by blend order), a
    constant below every candidate elsewhere."""
    p = model.predict_proba(x.reshape(-1, x.shape[-1]))[:, 1].reshape(cand.shape)
    out = np.full((cand.shape[0], n_items), -1e9)
    out[np.arange(cand.shape[0])[:, None], cand] = p - 1e-6 * np.arange(cand.shape[1])
    return out


# ------------------------------------------------------------------------------ runs
def summary(values: dict[str, list[float]], base: str) -> dict[str, Any]:
    """Mean of each variant and its paired difference to ``base`` (mean, SE, count up)."""
    out: dict[str, Any] = {}
    b = np.array(values[base])
    for name, vals in values.items():
        a = np.array(vals)
        d = a - b
        out[name] = {
            "mean_ndcg@10": float(a.mean()),
            "diff_vs_" + base: float(d.mean()),
            "se_diff": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else None,
            "up": int((d > 0).sum()),
            "down": int((d < 0).sum()),
            "n": int(d.size),
        }
    return out


def run_seed(rel: ReleaseData, seed: int, sections: Sequence[str], rerank: bool) -> dict:
    """Every requested experiment on outer seed ``seed`` (see the module docstring)."""
    fold = load_protocol("stratified-75-25", rel, seed=seed).folds[0]
    val, _ = validation_fold(fold, seed=seed, kind="ranking")
    train = val.train
    vtask = validation_task(train, val.test)
    genres = np.asarray(rel.catalog.genre_matrix(train.items.ids)[0].todense())
    everyone = np.arange(train.n_users)
    extra = "extra_parts" in sections
    specs = {**DEFAULT_RANK_PARTS, **(EXTRA_MODELS if extra else {})}
    z_full = part_z(specs, train, rel, everyone)
    if extra:
        z_full = np.concatenate([z_full, feature_parts(train, genres)])
    zv = z_full[:, vtask.users]
    n_base = len(LABELS)
    out: dict[str, Any] = {"seed": seed, "validation_users": int(vtask.users.size)}

    def score(w: np.ndarray, idx: list[int]) -> tuple[float, float]:
        return vtask.metrics(np.tensordot(w, zv[idx], axes=1))

    base_idx = list(range(n_base))
    carves = (0, 1, 2) if {"objective_k", "pooled_carves"} & set(sections) else (0,)
    pooled: list[tuple[np.ndarray, Task]] = []
    for c in carves:
        rest, task = carve_task(train, 0.2, c)
        z = part_z(specs, rest, rel, task.users)
        if extra and c == 0:
            z = np.concatenate([z, feature_parts(rest, genres)[:, task.users]])
        pooled.append((z[:n_base], task))
        if "objective_k" in sections:
            for k in (10, 15, 20, 30, 50):
                w = fit_rank_weights(z[:n_base], task.blocked, task.relevant, k)[0]
                out.setdefault("objective_k", []).append(
                    {"carve": c, "k": k, "weights": w.tolist(), "validation": score(w, base_idx)}
                )
        if extra and c == 0:
            names = [*LABELS, *EXTRA_MODELS, "time-window", "genre-affinity"]
            for label, idx in {
                "+extra models": list(range(n_base + len(EXTRA_MODELS))),
                "+time-window": [*base_idx, len(names) - 2],
                "+genre-affinity": [*base_idx, len(names) - 1],
            }.items():
                w = fit_rank_weights(z[idx], task.blocked, task.relevant, 20)[0]
                out.setdefault("extra_parts", {})[label] = {
                    "weights": dict(zip([names[j] for j in idx], w.tolist(), strict=True)),
                    "validation": score(w, idx),
                }
        if rerank and c == 0:
            out["rerank"] = rerank_run(train, rest, z[:n_base], task, zv[:n_base], vtask, genres)
    if "pooled_carves" in sections:
        z = np.concatenate([p[0] for p in pooled], axis=1)
        blocked = np.concatenate([p[1].blocked for p in pooled])
        relevant = np.concatenate([p[1].relevant for p in pooled])
        out["pooled_carves"] = {}
        for k in (10, 20):
            w = fit_rank_weights(z, blocked, relevant, k)[0]
            out["pooled_carves"][f"k{k}"] = {
                "weights": w.tolist(),
                "validation": score(w, base_idx),
            }
    if "holdout" in sections:
        rest, task = carve_task(train, 0.3, 0)
        z = part_z(DEFAULT_RANK_PARTS, rest, rel, task.users)
        w = fit_rank_weights(z, task.blocked, task.relevant, 20)[0]
        out["holdout"] = {
            "fraction": 0.3,
            "k": 20,
            "weights": w.tolist(),
            "validation": score(w, base_idx),
        }
    return out


def rerank_run(
    train: Interactions,
    rest: Interactions,
    z: np.ndarray,
    task: Task,
    zv: np.ndarray,
    vtask: Task,
    genres: np.ndarray,
    n: int = 50,
) -> dict[str, Any]:
    """The re-ranker against the blend (carve weights, ``k=10`` as shipped before)."""
    w = fit_rank_weights(z, task.blocked, task.relevant, K)[0]
    cand, x = rerank_features(rest, z, w, task, genres, n)
    y = task.relevant[np.arange(task.users.size)[:, None], cand]
    out: dict[str, Any] = {
        "candidates": n,
        "carve_recall@candidates": float(y.sum() / task.relevant.sum()),
    }
    configs = {
        "depth3-100": {"max_iter": 100, "max_depth": 3, "learning_rate": 0.1},
        "leaves31-200": {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 31},
    }
    half = np.random.default_rng(0).random(task.users.size) < 0.5
    blend_z = np.tensordot(w, z, axes=1)
    vcand, vx = rerank_features(train, zv, w, vtask, genres, n)
    out["validation_blend"] = vtask.metrics(np.tensordot(w, zv, axes=1))
    out["carve_half_blend"] = task.subset(~half).metrics(blend_z[~half])
    for name, params in configs.items():
        t0 = time.perf_counter()
        model = HistGradientBoostingClassifier(min_samples_leaf=100, random_state=0, **params)
        model.fit(x[half].reshape(-1, x.shape[-1]), y[half].ravel())
        got = rerank_scores(model, cand[~half], x[~half], train.n_items)
        out[f"carve_half_{name}"] = task.subset(~half).metrics(got)
        model = HistGradientBoostingClassifier(min_samples_leaf=100, random_state=0, **params)
        model.fit(x.reshape(-1, x.shape[-1]), y.ravel())
        out[f"validation_{name}"] = vtask.metrics(rerank_scores(model, vcand, vx, train.n_items))
        out[f"fit_seconds_{name}"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/ml-100k"))
    ap.add_argument("--seeds", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--rerank-seeds", default="1,2,3")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",")]
    rerank_seeds = {int(s) for s in args.rerank_seeds.split(",")} if "rerank" in sections else set()
    rel = read_release("ml-100k", args.data)
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:
        runs.append(run_seed(rel, seed, sections, seed in rerank_seeds))
        print(f"seed {seed} done, {time.perf_counter() - t0:.0f} s", flush=True)
    result: dict[str, Any] = {
        "protocol": "stratified-75-25 (ml-100k); validation = validation_fold(seed s) of the "
        "training part of seed s; weights learned on a 20 % random carve of its remainder",
        "seeds": seeds,
        "seconds": time.perf_counter() - t0,
        "runs": runs,
    }
    if "objective_k" in sections:
        by_k: dict[str, list[float]] = {}
        for run in runs:
            for row in run["objective_k"]:
                by_k.setdefault(f"k{row['k']}", []).append(row["validation"][0])
        result["objective_k"] = summary(by_k, "k10")
    if "pooled_carves" in sections:
        vals: dict[str, list[float]] = {
            "k10 carve 0": [],
            "k20 carve 0": [],
            "k10 pooled": [],
            "k20 pooled": [],
        }
        for run in runs:
            first = {r["k"]: r["validation"][0] for r in run["objective_k"] if r["carve"] == 0}
            vals["k10 carve 0"].append(first[10])
            vals["k20 carve 0"].append(first[20])
            vals["k10 pooled"].append(run["pooled_carves"]["k10"]["validation"][0])
            vals["k20 pooled"].append(run["pooled_carves"]["k20"]["validation"][0])
        result["pooled_carves"] = summary(vals, "k10 carve 0")
    if "extra_parts" in sections or "holdout" in sections:
        vals = {"k20 carve 0": []}
        for run in runs:
            vals["k20 carve 0"].append(
                next(
                    r["validation"][0]
                    for r in run["objective_k"]
                    if r["carve"] == 0 and r["k"] == 20
                )
            )
            for label, row in run.get("extra_parts", {}).items():
                vals.setdefault(label, []).append(row["validation"][0])
            if "holdout" in run:
                vals.setdefault("holdout 0.3", []).append(run["holdout"]["validation"][0])
        result["extra_parts_and_holdout"] = summary(vals, "k20 carve 0")
    if rerank_seeds:
        rr = [run["rerank"] for run in runs if "rerank" in run]
        result["rerank"] = {
            key: float(np.mean([r[key][0] for r in rr]))
            for key in rr[0]
            if key.startswith(("validation_", "carve_half_"))
        }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
