"""``python -m movierec.spark`` / ``spark-submit``: ratings Parquet → Spark ALS → store.

Thin glue over :func:`movierec.spark.engine.run` and :func:`~movierec.spark.engine.write_store`
so a cluster job needs nothing else::

    spark-submit --master spark://host:7077 "$(python -c 'import movierec.spark.__main__ as m;
        print(m.__file__)')" --ratings hdfs:///movielens/ratings.parquet --db postgresql://...

(with ``--master`` from spark-submit, leave ``--spark-master`` out; every executor needs
numpy/pandas/pyarrow and this package for the top-N step).
"""

from __future__ import annotations

import argparse
import json
import sys

from movierec.errors import MovieRecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec.spark", description=__doc__)
    parser.add_argument("--ratings", required=True, help="Parquet (or ml-25m CSV) of ratings")
    parser.add_argument("--test", help="optional held-out ratings for RMSE")
    parser.add_argument("--spark-master", default=None, help="default: local[*] or spark-submit's")
    parser.add_argument("--min-user-ratings", type=int, default=5)
    parser.add_argument("--min-item-ratings", type=int, default=20)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--implicit", action="store_true")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("-n", type=int, default=10)
    parser.add_argument("--db", default=None, help="store URL; default: print a summary only")
    args = parser.parse_args(argv)
    from movierec.spark import engine as E

    try:
        spark = E.spark_session(args.spark_master)
        params = E.ALSParams(rank=args.rank, reg=args.reg, iterations=args.iterations,
                             implicit=args.implicit, alpha=args.alpha)  # fmt: skip
        result = E.run(spark, args.ratings, min_user_ratings=args.min_user_ratings,
                       min_item_ratings=args.min_item_ratings, params=params, n=args.n,
                       test_path=args.test)  # fmt: skip
        print(result.summary)
        out = {"recommendations": len(result.recommendations), "rmse": result.rmse,
               "fingerprint": result.data_fingerprint}  # fmt: skip
        if args.db:
            out["run_id"] = E.write_store(args.db, result)
        print(json.dumps(out))
    except MovieRecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
