"""movierec's ranking metrics and stratified split against Microsoft Recommenders' own code.

1. ``python_stratified_split(u.data, 0.75, filter_by="item", seed=42)`` of ``recommenders``
   and movierec's ``stratified-75-25`` protocol must hold out the same rows;
2. the real ``movierec evaluate --protocol stratified-75-25 --models popularity
   --recommendations-out`` (a subprocess) writes its top-10 lists and leaderboard;
3. ``recommenders.evaluation.python_evaluation`` scores those lists on that split
   (precision_at_k, recall_at_k, ndcg_at_k and map, k = 10);
4. both sets of figures are printed side by side and written to
   ``benchmarks/results/recommenders_parity.json``.

``recommenders`` has heavy dependencies, so it lives in its own environment, not in the dev
extra: ``python3 -m venv /tmp/recvenv && /tmp/recvenv/bin/pip install recommenders==1.2.1``,
then ``python benchmarks/recommenders_parity.py --recommenders-python /tmp/recvenv/bin/python``.
``tests/evaluation/test_runner.py`` pins the figures this script prints.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "recommenders_parity.json"
METRICS = {"precision_at_k": "Precision@10", "recall_at_k": "Recall@10",
           "ndcg_at_k": "NDCG@10", "map": "MAP@10"}  # fmt: skip
"""recommenders' function -> movierec's metric. movierec's MAP@10 is recommenders' ``map``
(average precision over the top 10, divided by the number of relevant items); their
``map_at_k`` divides by ``min(k, relevant)`` instead."""

ANCHOR = r"""
import json, sys
import pandas as pd
from recommenders.datasets.python_splitters import python_stratified_split
from recommenders.evaluation import python_evaluation as E

u_data, recs_csv, test_out = sys.argv[1:4]
df = pd.read_csv(u_data, sep="\t", names=["userId", "movieId", "rating", "timestamp"])
train, test = python_stratified_split(df, ratio=0.75, filter_by="item", seed=42,
                                      col_user="userId", col_item="movieId")
test.to_csv(test_out, index=False)
recs = pd.read_csv(recs_csv)
recs = recs[recs["model"] == "popularity"].rename(columns={"score": "prediction"})
recs = recs[["userId", "movieId", "prediction"]]
cols = dict(col_user="userId", col_item="movieId", col_rating="rating",
            col_prediction="prediction", k=10)
out = {name: float(getattr(E, name)(test, recs, **cols))
       for name in ("precision_at_k", "recall_at_k", "ndcg_at_k", "map")}
out["n_train"], out["n_test"] = len(train), len(test)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("MOVIEREC_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default, help="folder holding ml-100k/")
    parser.add_argument("--recommenders-python", default="/tmp/recvenv/bin/python",
                        help="a Python with recommenders==1.2.1 installed")  # fmt: skip
    args = parser.parse_args()
    folder = args.data / "ml-100k"
    with tempfile.TemporaryDirectory() as tmp:
        home, recs = Path(tmp) / "home", Path(tmp) / "recs.csv"
        subprocess.run(
            [sys.executable, "-m", "movierec", "evaluate", "--protocol", "stratified-75-25",
             "--models", "popularity", "--source", str(folder), "--home", str(home),
             "--recommendations-out", str(recs)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        board = json.loads((home / "reports/stratified-75-25/leaderboard.json").read_text())
        ours = next(r for r in board["results"] if r["model"] == "popularity")["metrics"]
        test_csv = Path(tmp) / "test.csv"
        done = subprocess.run(
            [args.recommenders_python, "-c", ANCHOR, str(folder / "u.data"), str(recs),
             str(test_csv)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"the recommenders side failed:\n{done.stderr[-2000:]}")
        anchor = json.loads(done.stdout.strip().splitlines()[-1])
        import pandas as pd

        from movierec.evaluation.data import read_release
        from movierec.evaluation.splits import load_protocol

        (fold,) = load_protocol("stratified-75-25", read_release("ml-100k", folder)).folds
        theirs = pd.read_csv(test_csv)[["userId", "movieId"]]
        mine = fold.test[["userId", "movieId"]]
        same_rows = bool(
            len(theirs) == len(mine)
            and theirs.sort_values(["userId", "movieId"]).to_numpy().tolist()
            == mine.sort_values(["userId", "movieId"]).to_numpy().tolist()
        )
    rows = {ours_name: {"movierec": ours[ours_name], "recommenders": anchor[name],
                        "abs_diff": abs(ours[ours_name] - anchor[name])}
            for name, ours_name in METRICS.items()}  # fmt: skip
    print(f"same held-out rows as python_stratified_split: {same_rows} "
          f"({anchor['n_test']:,} test rows)")  # fmt: skip
    for name, row in rows.items():
        print(f"{name:14s} movierec {row['movierec']:.15f}  recommenders "
              f"{row['recommenders']:.15f}  |diff| {row['abs_diff']:.1e}")  # fmt: skip
    RESULTS.write_text(
        json.dumps({"same_test_rows": same_rows, "n_test": anchor["n_test"],
                    "model": "popularity", "metrics": rows}, indent=2) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
