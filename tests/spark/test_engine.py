"""The Spark engine against the local engine and brute-force references (local[2], loopback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.data.releases import RATINGS_SCHEMA, load_release, write_parquet
from movierec.data.synth import synthesize
from movierec.data.transform import transform as local_transform
from movierec.errors import ConfigError, DataError
from movierec.interactions import Interactions
from movierec.models.mf import ExplicitALS
from movierec.spark import engine as E

pytestmark = pytest.mark.spark
COLS = ["userId", "movieId", "rating", "timestamp"]
RANK, REG, ITERS = 10, 0.1, 10


def _read_u(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", names=COLS)


@pytest.fixture(scope="module")
def u1(ml100k_dir: Path, spark: Any) -> dict[str, Any]:
    base, test = _read_u(ml100k_dir / "u1.base"), _read_u(ml100k_dir / "u1.test")
    train_df = E.from_pandas(spark, base).cache()
    test_df = E.from_pandas(spark, test).cache()
    model = E.train_als(train_df, rank=RANK, reg=REG, iterations=ITERS, blocks=2)
    return {"base": base, "test": test, "train_df": train_df, "test_df": test_df, "model": model}


def _warm(base: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    return test[test["userId"].isin(base["userId"]) & test["movieId"].isin(base["movieId"])]


def _numpy_als_wr(base: pd.DataFrame, rank: int, reg: float, iters: int) -> tuple[Any, ...]:
    """Spark's explicit objective in numpy (dense, brute force): no mean, no biases,
    ``min Σ (r − xᵀy)² + λ (Σ_u n_u‖x_u‖² + Σ_i n_i‖y_i‖²)``, exact alternating solves."""
    users, u = np.unique(base["userId"], return_inverse=True)
    items, i = np.unique(base["movieId"], return_inverse=True)
    R = np.zeros((users.size, items.size))
    M = np.zeros_like(R)
    R[u, i] = base["rating"]
    M[u, i] = 1.0
    rng = np.random.default_rng(0)
    X = np.zeros((users.size, rank))
    Y = np.abs(rng.normal(0, 1, (items.size, rank))) / np.sqrt(rank)
    for _ in range(iters):
        for A, B, r, m in ((X, Y, R, M), (Y, X, R.T, M.T)):
            outer = (B[:, :, None] * B[:, None, :]).reshape(len(B), rank * rank)
            gram = (m @ outer).reshape(len(A), rank, rank)
            gram += reg * m.sum(1)[:, None, None] * np.eye(rank)
            A[:] = np.linalg.solve(gram, (r @ B)[..., None])[..., 0]
    return users, X, items, Y


@pytest.mark.realdata
def test_explicit_als_parity_on_u1(u1: dict[str, Any]) -> None:
    """On the same objective (no global mean, no biases, rank 10, weighted λ = 0.1, 10
    iterations) Spark ALS, the local ``als`` and a numpy ALS-WR agree within 0.01 RMSE on
    u1 (the local ``als`` with its default mean and biases is another model)."""
    base, test = u1["base"], u1["test"]
    spark_rmse, n = E.evaluate_rmse(u1["model"], u1["test_df"])
    warm = _warm(base, test)
    assert n == len(warm) == 19_968  # 32 u1.test pairs have a movie u1.base never saw

    local = ExplicitALS(
        factors=RANK, iterations=ITERS, reg=REG, biases=False, global_mean=False, seed=0
    )
    local.fit(Interactions.from_frame(base))
    pred = local.predict(warm["userId"].to_numpy(), warm["movieId"].to_numpy())
    local_rmse = float(np.sqrt(np.mean((pred - warm["rating"].to_numpy()) ** 2)))

    users, X, items, Y = _numpy_als_wr(base, RANK, REG, ITERS)
    ru, ri = np.searchsorted(users, warm["userId"]), np.searchsorted(items, warm["movieId"])
    ref = np.einsum("nk,nk->n", X[ru], Y[ri])
    ref_rmse = float(np.sqrt(np.mean((ref - warm["rating"].to_numpy()) ** 2)))

    assert abs(spark_rmse - ref_rmse) < 0.01, (spark_rmse, ref_rmse)
    assert abs(spark_rmse - local_rmse) < 0.01, (spark_rmse, local_rmse)
    assert 0.90 < spark_rmse < 0.96  # GroupLens-level accuracy, not a degenerate fit


@pytest.mark.realdata
def test_recommend_all_is_exact_and_excludes_seen(u1: dict[str, Any]) -> None:
    base, model = u1["base"], u1["model"]
    recs = E.recommend_all(model, 10, seen=u1["train_df"])
    user_ids, U, item_ids, V = E.factors(model)
    assert len(recs) == 10 * user_ids.size == 9_430
    assert list(recs.columns) == ["userId", "rank", "movieId", "score"]

    scores = U.astype(np.float64) @ V.T.astype(np.float64)
    rows = np.searchsorted(user_ids, base["userId"])
    cols = np.searchsorted(item_ids, base["movieId"])
    scores[rows, cols] = -np.inf
    best = -np.sort(-scores, axis=1)[:, :10]  # brute-force top-10 scores (ties are common:
    got = recs["movieId"].to_numpy().reshape(-1, 10)  # movies rated by one user share factors)
    got_scores = recs["score"].to_numpy().reshape(-1, 10)
    np.testing.assert_allclose(got_scores, best, rtol=1e-5, atol=1e-5)
    mine = np.take_along_axis(scores, np.searchsorted(item_ids, got), axis=1)
    np.testing.assert_allclose(mine, got_scores, rtol=1e-5, atol=1e-5)  # each id's own score
    assert np.array_equal(recs["userId"].to_numpy().reshape(-1, 10)[:, 0], user_ids)
    seen = set(zip(base["userId"], base["movieId"], strict=True))
    assert not any(p in seen for p in zip(recs["userId"], recs["movieId"], strict=True))
    assert (np.diff(recs["score"].to_numpy().reshape(-1, 10), axis=1) <= 1e-6).all()

    unfiltered = E.recommend_all(model, 3)
    assert len(unfiltered) == 3 * user_ids.size
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        E.recommend_all(model, 0)


@pytest.mark.realdata
def test_implicit_als_beats_popularity(u1: dict[str, Any]) -> None:
    base, test = u1["base"], u1["test"]
    model = E.train_als(u1["train_df"], rank=RANK, reg=REG, iterations=5, implicit=True,
                        alpha=1.0, blocks=2)  # fmt: skip
    recs = E.recommend_all(model, 10, seen=u1["train_df"])
    relevant = set(zip(test["userId"], test["movieId"], strict=True))
    test_users = test["userId"].unique()
    mine = recs[recs["userId"].isin(test_users)]
    hits = sum(p in relevant for p in zip(mine["userId"], mine["movieId"], strict=True))

    popular = base["movieId"].value_counts().index.to_numpy()
    seen = base.groupby("userId")["movieId"].agg(set)
    pop_hits = 0
    for user in test_users:
        top = [m for m in popular[:500] if m not in seen.get(user, set())][:10]
        pop_hits += sum((user, m) in relevant for m in top)
    assert hits > 1.2 * pop_hits, (hits, pop_hits)


@pytest.mark.realdata
def test_transform_counts_on_ml100k(ml100k_dir: Path, spark: Any) -> None:
    ratings = _read_u(ml100k_dir / "u.data")
    clean, summary = E.transform(E.from_pandas(spark, ratings), 5, 20)
    assert (summary.ratings_after, summary.users_after, summary.movies_after) == (94_968, 943, 939)
    assert (summary.ratings_before, summary.users_before, summary.movies_before) == (
        100_000,
        943,
        1_682,
    )


def test_transform_matches_local_semantics(spark: Any) -> None:
    """Thresholds where the order matters and a second pass changes the result."""
    rng = np.random.default_rng(4)
    n = 3_000
    frame = pd.DataFrame(
        {
            "userId": rng.zipf(1.6, n) % 200,
            "movieId": rng.zipf(1.4, n) % 300,
            "rating": rng.integers(1, 6, n).astype(float),
            "timestamp": rng.integers(0, 10**9, n),
        }
    ).drop_duplicates(["userId", "movieId"])
    df = E.from_pandas(spark, frame).cache()
    local = local_transform(frame, 4, 6, iterate=True)
    clean, summary = E.transform(df, 4, 6, iterate=True)
    got = clean.toPandas().sort_values(["userId", "movieId"]).reset_index(drop=True)
    want = local.frame.sort_values(["userId", "movieId"]).reset_index(drop=True)
    assert np.array_equal(got[["userId", "movieId"]], want[["userId", "movieId"]])
    assert summary == local.summary
    assert summary.passes > 1  # the fixture exercises the fixpoint
    assert local_transform(frame, 4, 6).summary.ratings_after > summary.ratings_after
    with pytest.raises(ConfigError, match="min_user_ratings must be an integer >= 0"):
        E.transform(df, -1, 5)
    with pytest.raises(DataError, match="removed every rating"):
        E.transform(df, 10_000, 1)


def test_read_parquet_and_csv(spark: Any, tmp_path: Path) -> None:
    synthesize(4_000, 60, 200, seed=2, out_dir=tmp_path / "ml")
    ratings, _ = load_release("ml-25m", tmp_path / "ml")
    write_parquet(ratings, tmp_path / "ratings.parquet", RATINGS_SCHEMA)
    from_parquet = E.read_ratings(spark, tmp_path / "ratings.parquet")
    from_csv = E.read_ratings(spark, tmp_path / "ml" / "ratings.csv")
    for df in (from_parquet, from_csv):
        assert [f.name for f in df.schema.fields] == COLS
        got = df.toPandas()
        assert len(got) == 4_000 and got["rating"].sum() == pytest.approx(ratings["rating"].sum())


def test_bad_inputs(spark: Any, tmp_path: Path) -> None:
    pd.DataFrame({"userId": [1], "movieId": [2], "rating": ["good"]}).to_parquet(
        tmp_path / "bad.parquet"
    )
    with pytest.raises(DataError, match=r"bad.parquet: wrong schema: column rating is string"):
        E.read_ratings(spark, tmp_path / "bad.parquet")
    pd.DataFrame({"userId": [1], "rating": [2.0]}).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(DataError, match="column movieId is missing"):
        E.read_ratings(spark, tmp_path / "short.parquet")
    with pytest.raises(DataError, match="ratings not found"):
        E.read_ratings(spark, tmp_path / "absent.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read .*junk.parquet"):
        E.read_ratings(spark, tmp_path / "junk.parquet")
    with pytest.raises(ConfigError, match="rank must be an integer >= 1"):
        E.train_als(E.from_pandas(spark, pd.DataFrame({c: [1] for c in COLS})), rank=0)
    with pytest.raises(ConfigError, match="no parameter factors"):
        E.train_als(None, factors=3)  # type: ignore[arg-type]


def test_run_end_to_end(spark: Any, tmp_path: Path) -> None:
    synthesize(6_000, 80, 150, seed=1, out_dir=tmp_path / "ml")
    ratings, _ = load_release("ml-25m", tmp_path / "ml")
    train = ratings.sample(frac=0.9, random_state=0)
    test = ratings.drop(train.index)
    write_parquet(train, tmp_path / "train.parquet", RATINGS_SCHEMA)
    write_parquet(test, tmp_path / "test.parquet", RATINGS_SCHEMA)
    params = E.ALSParams(rank=4, iterations=3, blocks=2)
    out = E.run(spark, tmp_path / "train.parquet", params=params, n=5,
                test_path=tmp_path / "test.parquet", min_item_ratings=5)  # fmt: skip
    assert out.summary.ratings_before == len(train)
    assert out.rmse is not None and 0.5 < out.rmse < 2.0 and out.n_test > 0
    assert out.recommendations["userId"].nunique() == out.summary.users_after
    assert (out.recommendations.groupby("userId").size() == 5).all()
    df = E.from_pandas(spark, test)
    assert E.fingerprint(df) == E.fingerprint(df.orderBy("rating", "movieId"))  # order-free
    assert E.fingerprint(df) != E.fingerprint(df.limit(len(test) - 1))

    from sqlalchemy import create_engine

    from movierec.store.queries import current_run, user_recommendations

    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    run_id = E.write_store(engine, out)
    with engine.connect() as conn:
        run = current_run(conn)
        assert run is not None and (run.id, run.model) == (run_id, "spark-als")
        assert run.data_fingerprint == out.data_fingerprint
        assert run.metrics["rmse"] == pytest.approx(out.rmse)
        assert run.n_recommendations == len(out.recommendations)
        first = int(out.recommendations["userId"].iloc[0])
        found = user_recommendations(conn, first, 5)
        assert found is not None and found[0] == run_id
        want = out.recommendations[out.recommendations["userId"] == first]
        assert [r.movie_id for r in found[1]] == want["movieId"].tolist()
    engine.dispose()


def test_module_entry_point(spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m movierec.spark`` (what spark-submit runs) end to end into a store."""
    from movierec.spark.__main__ import main

    synthesize(3_000, 50, 120, seed=6, out_dir=tmp_path / "ml")
    ratings, _ = load_release("ml-25m", tmp_path / "ml")
    write_parquet(ratings, tmp_path / "r.parquet", RATINGS_SCHEMA)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    argv = ["--ratings", str(tmp_path / "r.parquet"), "--rank", "3", "--iterations", "2",
            "--min-item-ratings", "3", "-n", "4", "--implicit", "--db", db]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "before" in out[0]
    figures = json.loads(out[-1])
    assert figures["run_id"] == 1 and figures["recommendations"] == 4 * 50
    assert main(["--ratings", str(tmp_path / "absent.parquet")]) == 3  # DataError's exit code
    assert "error: ratings not found" in capsys.readouterr().err


def test_no_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert not E.java_available()
    with pytest.raises(ConfigError, match="needs a Java 17\\+ runtime"):
        E.spark_session()
