"""The recommendation store on SQLite and PostgreSQL: runs, bulk writes, readers, versions."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from movierec.errors import StoreError, UnknownIdError
from movierec.models.base import Recommender
from movierec.store import (
    SCHEMA_VERSION,
    check_schema,
    current_run,
    export_run,
    get_run,
    list_runs,
    make_engine,
    recommendations_frame,
    resolve_db_url,
    runs_table,
    user_recommendations,
)
from movierec.store import writer as writer_mod
from tests.store.toy import write_model_run


def top_n(model: Recommender, n: int = 5) -> pd.DataFrame:
    users = model.data_.users.ids
    ids, scores = model.recommend(users, n=n)
    expl = [[f"reason {u}-{k}" for k in range(n)] for u in users]
    return recommendations_frame(users, ids, scores, expl)


# ---------------------------------------------------------------------- frames
def test_recommendations_frame_drops_padding_and_ranks_from_one() -> None:
    ids = np.array([[10, 11, -1], [12, -1, -1]])
    scores = np.array([[3.0, 2.0, -np.inf], [1.0, -np.inf, -np.inf]])
    frame = recommendations_frame([1, 2], ids, scores, [["a", "b", ""], ["c", "", ""]])
    assert frame["userId"].tolist() == [1, 1, 2]
    assert frame["rank"].tolist() == [1, 2, 1]
    assert frame["movieId"].tolist() == [10, 11, 12]
    assert frame["explanation"].tolist() == ["a", "b", "c"]


def test_recommendations_frame_rejects_misaligned_shapes() -> None:
    with pytest.raises(StoreError, match="shapes disagree"):
        recommendations_frame([1, 2, 3], np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(StoreError, match="explanations row 0"):
        recommendations_frame([1], np.zeros((1, 2)), np.zeros((1, 2)), [["only one"]])


# ---------------------------------------------------------------------- urls
def test_resolve_db_url(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("MOVIEREC_DB_URL", raising=False)
    assert resolve_db_url(home=tmp_path) == f"sqlite:///{(tmp_path / 'db' / 'movierec.db')}"
    monkeypatch.setenv("MOVIEREC_DB_URL", "postgresql://u@h:5432/d")
    assert resolve_db_url() == "postgresql+psycopg://u@h:5432/d"
    assert resolve_db_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        resolve_db_url("mysql://u@h/d")
    with pytest.raises(StoreError, match="psycopg driver"):
        resolve_db_url("postgresql+pg8000://u@h/d")
    with pytest.raises(StoreError, match="invalid database URL"):
        resolve_db_url("not a url")


# ---------------------------------------------------------------------- runs
def test_write_run_stores_everything_and_marks_it_current(db_url: str, toy_model) -> None:
    recs = top_n(toy_model, 5)
    assert len(recs) == 60 * 5
    run_id = write_model_run(db_url, toy_model, recs, {"ndcg@10": np.float32(0.25), "bad": np.nan})
    engine = make_engine(db_url)
    try:
        assert check_schema(engine)
        with Session(engine) as db:
            run = get_run(db, run_id)
            assert run.status == "complete" and run.is_current
            assert run.model == "test-item-cosine" and run.params == {"shrink": 0.0}
            assert run.data_fingerprint == toy_model.data_.fingerprint()
            assert run.metrics == {"ndcg@10": 0.25, "bad": None}
            assert (run.n_users, run.n_recommendations) == (60, 300)
            got = user_recommendations(db, 7, 10)
            assert got is not None
            got_run, rows = got
            expected = recs[recs["userId"] == 7]
            assert got_run == run_id
            assert [r.movie_id for r in rows] == expected["movieId"].tolist()
            assert [r.rank for r in rows] == [1, 2, 3, 4, 5]
            assert rows[0].explanation == "reason 7-0"
            np.testing.assert_allclose([r.score for r in rows], expected["score"], rtol=1e-6)
            assert user_recommendations(db, 7, 2)[1][-1].rank == 2  # type: ignore[index]
            assert user_recommendations(db, 99_999, 10) is None
            titles = db.execute(text("SELECT title FROM movies WHERE id = 3")).scalar()
            assert titles == "Film 3 (1993)"
            assert db.execute(text("SELECT count(*) FROM movies")).scalar() == 40
    finally:
        engine.dispose()


def test_second_run_becomes_current_and_models_are_separate(db_url: str, toy_model) -> None:
    first = write_model_run(db_url, toy_model, top_n(toy_model, 3))
    second = write_model_run(db_url, toy_model, top_n(toy_model, 4), params={"n": 4})
    runs = runs_table(db_url)
    assert [r.id for r in runs] == [second, first]
    assert [r.is_current for r in runs] == [True, False]
    assert runs[0].params == {"shrink": 0.0, "n": 4}
    engine = make_engine(db_url)
    try:
        with Session(engine) as db:
            assert current_run(db).id == second  # type: ignore[union-attr]
            assert len(user_recommendations(db, 1, 10)[1]) == 4  # type: ignore[index]
            assert current_run(db, "test-item-cosine").id == second  # type: ignore[union-attr]
            assert current_run(db, "no-such-model") is None
            assert user_recommendations(db, 1, 10, model="no-such-model") is None
            # not current but complete: readable when asked for by model
            third = write_model_run(engine, toy_model, top_n(toy_model, 2), make_current=False)
            assert current_run(db).id == second  # type: ignore[union-attr]
            assert current_run(db, "test-item-cosine").id == third  # type: ignore[union-attr]
            with pytest.raises(UnknownIdError, match="unknown run id: 999"):
                get_run(db, 999)
    finally:
        engine.dispose()


def test_failed_write_is_rolled_back_and_previous_run_stays_current(
    db_url: str, toy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_model_run(db_url, toy_model, top_n(toy_model, 3))
    original = writer_mod._bulk_load

    def explode(conn, run_id, recs):  # type: ignore[no-untyped-def]
        original(conn, run_id, recs)  # rows are in the transaction ...
        raise RuntimeError("disk on fire")  # ... and then the write dies

    monkeypatch.setattr(writer_mod, "_bulk_load", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_model_run(db_url, toy_model, top_n(toy_model, 5))
    runs = runs_table(db_url)
    assert [(r.status, r.is_current) for r in runs] == [("failed", False), ("complete", True)]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    text("SELECT run_id, count(*) FROM recommendations GROUP BY run_id")
                ).all()
            )
        assert counts == {good: 180}
    finally:
        engine.dispose()


def test_bad_frames_are_refused_before_writing(db_url: str, toy_model) -> None:
    with pytest.raises(StoreError, match="lacks column"):
        write_model_run(db_url, toy_model, pd.DataFrame({"userId": [1]}))
    dup = pd.DataFrame({"userId": [1, 1], "rank": [1, 1], "movieId": [2, 3], "score": [1, 0]})
    with pytest.raises(StoreError, match="duplicate"):
        write_model_run(db_url, toy_model, dup)
    assert runs_table(db_url) == []


def test_reader_sees_only_complete_runs_while_a_run_is_written(
    db_url: str, toy_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second connection queries while the writer holds a loaded but uncommitted run."""
    old = write_model_run(db_url, toy_model, top_n(toy_model, 3))
    loaded, release = threading.Event(), threading.Event()
    original = writer_mod._bulk_load

    def slow(conn, run_id, recs):  # type: ignore[no-untyped-def]
        original(conn, run_id, recs)
        loaded.set()
        assert release.wait(30)

    monkeypatch.setattr(writer_mod, "_bulk_load", slow)
    result: dict[str, int] = {}
    writer = threading.Thread(
        target=lambda: result.setdefault(
            "id", write_model_run(db_url, toy_model, top_n(toy_model, 6))
        )
    )
    writer.start()
    engine = make_engine(db_url)
    try:
        assert loaded.wait(30)
        with Session(engine) as db:
            runs = list_runs(db)
            assert [(r.status, r.is_current) for r in runs] == [
                ("writing", False),
                ("complete", True),
            ]
            run_id, rows = user_recommendations(db, 5, 10)  # type: ignore[misc]
            assert run_id == old and len(rows) == 3
            n_rows = db.execute(text("SELECT count(*) FROM recommendations")).scalar()
            assert n_rows == 60 * 3  # the new run's rows are invisible
        release.set()
        writer.join(30)
        with Session(engine) as db:
            run_id, rows = user_recommendations(db, 5, 10)  # type: ignore[misc]
            assert run_id == result["id"] != old and len(rows) == 6
    finally:
        release.set()
        writer.join(30)
        engine.dispose()


def test_concurrent_writers_leave_exactly_one_current_run(db_url: str, toy_model) -> None:
    write_model_run(db_url, toy_model, top_n(toy_model, 1))  # schema exists before the race
    errors: list[BaseException] = []

    def write() -> None:
        try:
            write_model_run(db_url, toy_model, top_n(toy_model, 2))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    runs = runs_table(db_url)
    assert len(runs) == 5 and all(r.status == "complete" for r in runs)
    assert sum(r.is_current for r in runs) == 1


# ---------------------------------------------------------------------- schema versions
def test_schema_version_mismatch_gives_clear_errors(db_url: str, toy_model) -> None:
    write_model_run(db_url, toy_model, top_n(toy_model, 1))
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
        with pytest.raises(StoreError, match="newer than this movierec"):
            check_schema(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE schema_version SET version = 0"))
        with pytest.raises(StoreError, match="older than .*cannot be migrated"):
            write_model_run(engine, toy_model, top_n(toy_model, 1))
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE schema_version"))
        with pytest.raises(StoreError, match="no schema_version"):
            check_schema(engine)
    finally:
        engine.dispose()


def test_unreachable_database_is_a_store_error(toy_model) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nowhere?connect_timeout=2"
    with pytest.raises(StoreError, match="nobody@127.0.0.1:1"):
        write_model_run(url, toy_model, top_n(toy_model, 1))


def test_looking_at_a_missing_sqlite_store_creates_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'none.db'}"
    assert runs_table(url) == []
    assert not (tmp_path / "db" / "none.db").exists()


# ---------------------------------------------------------------------- export
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_run(db_url: str, toy_model, tmp_path, fmt: str) -> None:
    write_model_run(db_url, toy_model, top_n(toy_model, 2))
    second = write_model_run(db_url, toy_model, top_n(toy_model, 3))
    out, n = export_run(db_url, second, tmp_path / f"recs.{fmt}")
    frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert n == len(frame) == 180
    assert list(frame.columns) == ["userId", "rank", "movieId", "title", "score", "explanation"]
    first = frame.iloc[0]
    assert (first["userId"], first["rank"]) == (1, 1)
    assert first["title"] == f"Film {first['movieId']} ({1990 + first['movieId'] % 10})"
    with pytest.raises(UnknownIdError, match="unknown run id: 77"):
        export_run(db_url, 77, tmp_path / "x.csv")


# ---------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_all_ml100k_users_top10_written_as_one_current_run(db_url: str, ml100k_model) -> None:
    """Every ml-100k user's top-10 through the bulk path of each backend (COPY, executemany);
    its speed is measured by ``benchmarks/scale.py`` (the store step), not timed here."""
    users = ml100k_model.data_.users.ids
    ids, scores = ml100k_model.recommend(users, n=10)
    recs = recommendations_frame(users, ids, scores, [["because"] * 10] * users.size)
    assert len(recs) == 9430
    write_model_run(db_url, ml100k_model, recs.head(10))  # schema + catalogue already exist
    run_id = write_model_run(db_url, ml100k_model, recs)
    engine = make_engine(db_url)
    try:
        with Session(engine) as db:
            run = get_run(db, run_id)
            assert (run.n_users, run.n_recommendations, run.is_current) == (943, 9430, True)
            _, rows = user_recommendations(db, 1, 10)  # type: ignore[misc]
            seen = set(ml100k_model.data_.to_frame().query("userId == 1")["movieId"])
            assert len(rows) == 10 and not {r.movie_id for r in rows} & seen
    finally:
        engine.dispose()


def test_empty_or_missing_explanations_are_stored_as_empty_text(db_url: str, toy_model) -> None:
    """COPY on PostgreSQL reads an empty CSV field as NULL unless told not to."""
    users = toy_model.data_.users.ids[:2]
    ids, scores = toy_model.recommend(users, n=2)
    with_empty = recommendations_frame(users, ids, scores, [["", "why"], ["", ""]])
    first = write_model_run(db_url, toy_model, with_empty)
    second = write_model_run(db_url, toy_model, with_empty.drop(columns="explanation"))
    engine = make_engine(db_url)
    with engine.connect() as conn:
        for run_id, want in ((first, ["", "why", "", ""]), (second, [""] * 4)):
            rows = conn.execute(
                text(
                    "SELECT explanation FROM recommendations WHERE run_id = :r "
                    "ORDER BY user_id, rank"
                ),
                {"r": run_id},
            ).scalars()
            assert list(rows) == want
    engine.dispose()
