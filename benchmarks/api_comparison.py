"""The same six tasks with movierec's Python API, Surprise and implicit, on the real ml-100k.

Each task is one function per library, written the shortest way that library allows; the
script runs every function (so each version works), counts the lines of its body and
prints the table that docs/python-api.md shows. "—" means the library has no way to do it.

Tasks: load ml-100k; fit a model; top-10 unseen movies for user 1 (MovieLens ids); predict
user 1's rating of movie 50; recommend for a new person from three ratings without
retraining; evaluate on the canonical u1 split.

Usage: ``python benchmarks/api_comparison.py [--data ../shared/data]``; writes
``benchmarks/results/api_comparison.json``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "api_comparison.json"
NEW_USER = {50: 5.0, 181: 4.5, 1: 4.0}


# ---------------------------------------------------------------------- movierec
def movierec_load(data_dir: Path) -> Any:
    import movierec as mr

    return mr.load("ml-100k", source=data_dir / "ml-100k.zip")


def movierec_fit(data: Any) -> Any:
    import movierec as mr

    return mr.make_model("svd").fit(data)


def movierec_top10(model: Any) -> list[int]:
    ids, _ = model.recommend(1, n=10)
    return ids.tolist()


def movierec_predict(model: Any) -> float:
    return float(model.predict(1, 50))


def movierec_new_user(model: Any) -> list[int]:
    import movierec as mr

    return mr.fold_in(model, NEW_USER, n=10)["movieId"].tolist()


def movierec_evaluate(data_dir: Path) -> float:
    import movierec as mr

    board = mr.evaluate("ml100k-u1", ["svd"], source=data_dir / "ml-100k.zip")
    return float(board["RMSE_mean"].iloc[0])


# ---------------------------------------------------------------------- Surprise
def surprise_load(data_dir: Path) -> Any:
    from surprise import Dataset, Reader

    return Dataset.load_from_file(str(data_dir / "ml-100k" / "u.data"), Reader("ml-100k"))


def surprise_fit(data: Any) -> Any:
    from surprise import SVD

    return SVD(random_state=0).fit(data.build_full_trainset())


def surprise_top10(model: Any) -> list[int]:
    trainset = model.trainset
    seen = {j for j, _ in trainset.ur[trainset.to_inner_uid("1")]}
    unseen = [trainset.to_raw_iid(j) for j in trainset.all_items() if j not in seen]
    preds = [model.predict("1", iid) for iid in unseen]
    best = sorted(preds, key=lambda p: p.est, reverse=True)[:10]
    return [int(p.iid) for p in best]


def surprise_predict(model: Any) -> float:
    return float(model.predict("1", "50").est)


def surprise_evaluate(data_dir: Path) -> float:
    from surprise import SVD, Dataset, Reader, accuracy
    from surprise.model_selection import PredefinedKFold

    folder = data_dir / "ml-100k"
    files = [(str(folder / "u1.base"), str(folder / "u1.test"))]
    data = Dataset.load_from_folds(files, Reader("ml-100k"))
    ((train, test),) = PredefinedKFold().split(data)
    return float(accuracy.rmse(SVD(random_state=0).fit(train).test(test), verbose=False))


# ---------------------------------------------------------------------- implicit
def implicit_load(data_dir: Path) -> Any:
    import pandas as pd
    import scipy.sparse as sp

    r = pd.read_csv(data_dir / "ml-100k" / "u.data", sep="\t", names=["u", "i", "r", "t"])
    users, items = r["u"].astype("category"), r["i"].astype("category")
    matrix = sp.csr_matrix((r["r"], (users.cat.codes, items.cat.codes)))
    return matrix, users.cat.categories, items.cat.categories


def implicit_fit(data: Any) -> Any:
    from implicit.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=64, random_state=0)
    model.fit(data[0], show_progress=False)
    return model, data


def implicit_top10(fitted: Any) -> list[int]:
    model, (matrix, users, items) = fitted
    row = users.get_loc(1)
    ids, _ = model.recommend(row, matrix[row], N=10)
    return [int(items[i]) for i in ids]


def implicit_new_user(fitted: Any) -> list[int]:
    import numpy as np
    import scipy.sparse as sp

    model, (matrix, users, items) = fitted
    cols = [items.get_loc(m) for m in NEW_USER]
    row = sp.csr_matrix((list(NEW_USER.values()), ([0] * len(cols), cols)), (1, len(items)))
    ids, _ = model.recommend(0, row, N=10, recalculate_user=True)
    return [int(items[i]) for i in np.asarray(ids)]


def implicit_evaluate(data_dir: Path) -> float:
    import pandas as pd
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from implicit.evaluation import ndcg_at_k

    folder = data_dir / "ml-100k"
    names = ["u", "i", "r", "t"]
    base = pd.read_csv(folder / "u1.base", sep="\t", names=names)
    test = pd.read_csv(folder / "u1.test", sep="\t", names=names)
    shape = (944, 1683)  # ids are used as row/column indices
    train = sp.csr_matrix((base["r"], (base["u"], base["i"])), shape)
    held = sp.csr_matrix((test["r"], (test["u"], test["i"])), shape)
    model = AlternatingLeastSquares(factors=64, random_state=0)
    model.fit(train, show_progress=False)
    return float(ndcg_at_k(model, train, held, K=10, show_progress=False))


TASKS = ["load", "fit", "top10", "predict", "new_user", "evaluate"]
LIBRARIES = ["movierec", "surprise", "implicit"]


def body_lines(fn: Any) -> int:
    """Lines of a function's body, without its ``def`` line, docstring or blank lines."""
    source = textwrap.dedent(inspect.getsource(fn)).splitlines()[1:]
    return sum(1 for line in source if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("MOVIEREC_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    here = globals()
    table: dict[str, dict[str, Any]] = {}
    for lib in LIBRARIES:
        data = here[f"{lib}_load"](args.data)
        model = here[f"{lib}_fit"](data)
        row: dict[str, Any] = {}
        for task in TASKS:
            fn = here.get(f"{lib}_{task}")
            if fn is None:
                row[task] = None
                continue
            if task == "load":
                out: Any = "ok"
            elif task == "fit":
                out = type(model[0] if isinstance(model, tuple) else model).__name__
            elif task == "evaluate":
                out = round(fn(args.data), 4)
            else:
                out = fn(model)
            row[task] = {"lines": body_lines(fn), "result": out}
        table[lib] = row
    print(f"{'task':10s}" + "".join(f"{lib:>12s}" for lib in LIBRARIES))
    for task in TASKS:
        cells = [table[lib][task] for lib in LIBRARIES]
        print(f"{task:10s}" + "".join(f"{'—' if c is None else c['lines']:>12}" for c in cells))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(table, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
