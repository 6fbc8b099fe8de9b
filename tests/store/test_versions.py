"""Model versions, the production pointer, and the schema 1 -> 2 upgrade (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
)

from movierec.errors import ConfigError, UnknownIdError
from movierec.store import (
    SCHEMA_VERSION,
    check_schema,
    ensure_schema,
    list_runs,
    list_versions,
    make_engine,
    production_pointer,
    production_version,
    promote,
    register_version,
    rollback,
    user_recommendations,
)
from movierec.store.schema import PROMOTIONS
from movierec.store.versions import latest_run_of_version, version_by_sha256


@pytest.fixture
def engine(db_url: str):
    eng = make_engine(db_url)
    ensure_schema(eng)
    yield eng
    eng.dispose()


def register(engine, n: int, ndcg: float = 0.3):
    return register_version(
        engine,
        model="popularity",
        params={"n": n},
        path=f"models/versions/popularity-{n:012d}.npz",
        sha256=f"{n:064d}",
        metrics={"candidate.NDCG@10": ndcg},
        data_fingerprint="f" * 16,
        code_version="0.1.0",
        n_ratings=100,
        ratings_as_of=1000.0 + n,
    )


def test_registered_versions_are_listed_newest_first(engine) -> None:
    a, b = register(engine, 1), register(engine, 2, 0.4)
    assert (a.id, b.id) == (1, 2)
    assert [v.id for v in list_versions(engine)] == [2, 1]
    assert b.metrics == {"candidate.NDCG@10": 0.4} and b.ratings_as_of == 1002.0
    assert production_version(engine) is None
    with engine.connect() as conn:
        assert version_by_sha256(conn, f"{2:064d}") == 2
        assert version_by_sha256(conn, "0" * 63 + "9") is None


def test_promote_and_rollback_walk_the_history(engine) -> None:
    v1, v2, v3 = (register(engine, n).id for n in (1, 2, 3))
    assert str(promote(engine, v1)) == "promote: production is now v1 (was none)"
    promote(engine, v2)
    promote(engine, v3)
    with engine.connect() as conn:
        assert production_pointer(conn) == v3
    assert [v.id for v in list_versions(engine) if v.is_production] == [v3]
    assert str(rollback(engine)) == "rollback: production is now v2 (was v3)"
    assert production_version(engine).id == v2
    assert rollback(engine).version_id == v1
    with pytest.raises(ConfigError, match="no predecessor"):
        rollback(engine)
    assert production_version(engine).id == v1  # a refused rollback changes nothing
    with engine.connect() as conn:
        actions = [
            r[0] for r in conn.execute(select(PROMOTIONS.c.action).order_by(PROMOTIONS.c.id))
        ]
    assert actions == ["promote", "promote", "promote", "rollback", "rollback"]


def test_bad_promotions_are_refused(engine) -> None:
    with pytest.raises(ConfigError, match="nothing to roll back"):
        rollback(engine)
    with pytest.raises(UnknownIdError, match="unknown model version: 7"):
        promote(engine, 7)
    v1 = register(engine, 1).id
    promote(engine, v1)
    with pytest.raises(ConfigError, match="already in production"):
        promote(engine, v1)


def test_concurrent_promotions_leave_one_consistent_pointer(engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = [register(engine, n).id for n in range(1, 9)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda v: promote(engine, v), ids))
    with engine.connect() as conn:
        log = conn.execute(
            select(PROMOTIONS.c.version_id, PROMOTIONS.c.previous_version_id).order_by(
                PROMOTIONS.c.id
            )
        ).all()
        live = production_pointer(conn)
    # serialised: each promotion's "previous" is the one before it in the log
    assert [prev for _, prev in log] == [None] + [v for v, _ in log[:-1]]
    assert live == log[-1][0]


def _v1_tables(meta: MetaData) -> None:
    """The store's tables as schema version 1 created them."""
    Table("schema_version", meta, Column("version", Integer, primary_key=True))
    Table(
        "movies",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("title", Text),
        Column("year", Integer, nullable=True),
        Column("genres", Text),
    )
    Table(
        "runs",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("model", String(64)),
        Column("params", JSON),
        Column("data_fingerprint", String(64)),
        Column("metrics", JSON),
        Column("n_users", Integer),
        Column("n_recommendations", Integer),
        Column("created", DateTime(timezone=True)),
        Column("status", String(16)),
        Column("is_current", Boolean),
    )
    Table(
        "recommendations",
        meta,
        Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        Column("user_id", Integer, primary_key=True),
        Column("rank", Integer, primary_key=True),
        Column("movie_id", Integer),
        Column("score", Float),
        Column("explanation", Text),
    )


def test_a_version_1_store_is_upgraded_in_place(db_url: str, tmp_path) -> None:
    (tmp_path / "db").mkdir(exist_ok=True)
    eng = make_engine(db_url)
    meta = MetaData()
    _v1_tables(meta)
    with eng.begin() as conn:
        meta.create_all(conn)
        t = meta.tables
        conn.execute(t["schema_version"].insert().values(version=1))
        conn.execute(
            t["runs"]
            .insert()
            .values(
                model="user-knn",
                params={"k": 40},
                data_fingerprint="abc",
                metrics={},
                n_users=1,
                n_recommendations=2,
                created=dt.datetime.now(dt.UTC),
                status="complete",
                is_current=True,
            )
        )
        rec = {"run_id": 1, "user_id": 7}
        conn.execute(
            t["recommendations"].insert(),
            [
                {**rec, "rank": 1, "movie_id": 50, "score": 2.0, "explanation": "x"},
                {**rec, "rank": 2, "movie_id": 51, "score": 1.0, "explanation": "y"},
            ],
        )
    assert check_schema(eng) is False  # older, and migratable
    ensure_schema(eng)
    assert check_schema(eng) is True
    with eng.connect() as conn:
        assert conn.execute(select(meta.tables["schema_version"].c.version)).scalar() == 3
        runs = list_runs(conn)
        assert [(r.id, r.model, r.is_current, r.model_version) for r in runs] == [
            (1, "user-knn", True, None)
        ]
        run_id, recs = user_recommendations(conn, 7, 10)
        assert run_id == 1 and [r.movie_id for r in recs] == [50, 51]
        names = set(inspect(conn).get_table_names())
    assert {"users", "ratings", "model_versions", "production", "promotions"} <= names
    assert SCHEMA_VERSION == 3
    v = register(eng, 1)
    promote(eng, v.id)
    with eng.connect() as conn:
        assert latest_run_of_version(conn, v.id) is None
    eng.dispose()
