"""``movierec import`` and ``movierec retrain`` on the real ml-100k: the store is the source,
the hold-out figures are evaluate's, versions are registered, promoted only when not worse,
rolled back, and the runs they store point at them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from movierec.cli import main
from movierec.data.datasets import WHOLE_STARS
from movierec.pipeline_config import PipelineConfig
from movierec.retrain import HOLDOUT_LAST, retrain
from movierec.store import (
    create_user,
    list_versions,
    make_engine,
    production_version,
    put_rating,
    ratings_frame,
    runs_table,
)
from movierec.testing.feedback import new_ratings
from tests.clirun import run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def imported(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose store holds the real ml-100k (download -> convert -> import)."""
    home = tmp_path_factory.mktemp("imported")
    main(["download", "--source", str(shared_data / "ml-100k.zip"), "--home", str(home)])
    main(["convert", "--home", str(home)])
    main(["import", "--home", str(home)])
    return home


@pytest.fixture
def home(imported: Path, tmp_path: Path) -> Path:
    """A private copy of the imported home (the tests write to its store)."""
    target = tmp_path / "home"
    shutil.copytree(imported, target)
    return target


def db(home: Path) -> str:
    return f"sqlite:///{home / 'db' / 'movierec.db'}"


def filtered(frame: pd.DataFrame, min_user: int = 5, min_item: int = 20) -> pd.DataFrame:
    """The transform's filters, written independently: users first, then movies, one pass."""
    kept = frame[frame.groupby("userId")["movieId"].transform("size") >= min_user]
    return kept[kept.groupby("movieId")["userId"].transform("size") >= min_item]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_then_retrain_through_the_cli(home: Path) -> None:
    """The real command in a fresh process (Prefect flow): the first version goes to
    production, its file and run are what the store says."""
    env = {**os.environ, "MOVIEREC_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "movierec", "import"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "imported 0 of 100,000 ratings" in done.stdout  # the fixture imported them
    done = subprocess.run(
        [sys.executable, "-m", "movierec", "retrain", "--model", "popularity"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "read 100,000 ratings from the store, 94,968 after the filters" in done.stdout
    assert "promoted: no version in production yet" in done.stdout
    engine = make_engine(db(home))
    [version] = list_versions(engine)
    assert version.is_production and version.model == "popularity"
    assert version.n_ratings == 94_968
    assert sha256(version.file(home)) == version.sha256
    assert version.path == f"models/versions/popularity-{version.sha256[:12]}.npz"
    [stored] = runs_table(engine)
    assert (stored.model_version, stored.is_current, stored.n_users) == (version.id, True, 943)
    engine.dispose()


def test_holdout_figures_are_evaluates_temporal_protocol(home: Path, ml100k_dir: Path) -> None:
    """Without filters, the retrain's hold-out is `evaluate --protocol temporal`'s fold and
    its figures are the same metrics code's (no second copy)."""
    from movierec.evaluation.runner import evaluate

    cfg = PipelineConfig.from_settings(
        home=home, model="baseline", min_user_ratings=0, min_item_ratings=0, store_n=0
    )
    result = retrain(cfg)
    board = evaluate("temporal", ["baseline"], data_dir=ml100k_dir, write=False)
    [fold] = board.results
    for name in ("NDCG@10", "RMSE", "Precision@10", "Recall@10"):
        assert result.comparison.candidate[name] == pytest.approx(fold.metrics[name], rel=1e-9)
    assert result.comparison.n_test == fold.n_test == 9_430
    assert result.run_id is None  # store_n=0: no run stored


def test_new_ratings_retrain_promote_reject_and_roll_back(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(db(home))
    base = PipelineConfig.from_settings(home=home, store_n=3)
    first = retrain(base.model_copy(update={"model": "popularity"}))
    assert first.decision.promote and first.version.id == 1

    # 1,000 seeded ratings on real movies: 500 by 20 new users, 500 by existing users
    before, _ = ratings_frame(engine)
    extra = new_ratings(before, 1000, seed=7)
    new_ids = sorted(set(extra["userId"]) - set(before["userId"]))
    assert [create_user(engine)[0] for _ in new_ids] == new_ids
    for row in extra.itertuples(index=False):
        put_rating(engine, row.userId, row.movieId, row.rating, scale=WHOLE_STARS)
    now, _ = ratings_frame(engine)
    assert len(now) == 101_000

    second = retrain(base.model_copy(update={"model": "ease"}))
    expected = filtered(now)
    assert second.version.n_ratings == len(expected)
    counts = expected.groupby("userId").size()
    assert second.comparison.n_test == HOLDOUT_LAST * int((counts > HOLDOUT_LAST).sum())
    cand, prod = second.comparison.candidate["NDCG@10"], second.comparison.production["NDCG@10"]
    assert second.comparison.production_version == 1
    assert second.decision.promote == (cand >= prod - base.promote_margin)
    assert second.decision.promote  # ease (0.145 on the plain data) beats popularity (0.081)
    assert production_version(engine).id == second.version.id == 2
    assert [r.model_version for r in runs_table(engine)] == [2, 1]

    # a worse candidate is registered but not promoted
    third = retrain(base.model_copy(update={"model": "popularity"}))
    assert not third.decision.promote
    assert "worse by more than the margin 0.01" in third.decision.reason
    assert production_version(engine).id == 2
    assert [r.model_version for r in runs_table(engine)] == [2, 1]  # no run stored

    code, out, _ = run(["models", "versions", "--home", str(home), "--json"], capsys)
    assert code == 0
    listed = json.loads(out)
    assert [v["id"] for v in listed] == [3, 2, 1]
    assert [v["is_production"] for v in listed] == [False, True, False]
    code, out, _ = run(["models", "promote", "3", "--home", str(home)], capsys)
    assert (code, out.strip()) == (0, "promote: production is now v3 (was v2)")
    code, out, _ = run(["models", "rollback", "--home", str(home)], capsys)
    assert (code, out.strip()) == (0, "rollback: production is now v2 (was v3)")
    code, _, err = run(["models", "promote", "9", "--home", str(home)], capsys)
    assert code == 2 and err.strip() == "error: unknown model version: 9"
    engine.dispose()


def test_margin_setting_decides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MOVIEREC_PROMOTE_MARGIN: a margin wide enough lets a worse candidate through."""
    monkeypatch.setenv("MOVIEREC_PROMOTE_MARGIN", "0.5")
    cfg = PipelineConfig.from_settings(home=home, store_n=0)
    assert cfg.promote_margin == 0.5
    retrain(cfg.model_copy(update={"model": "ease"}))
    worse = retrain(cfg.model_copy(update={"model": "popularity"}))
    assert worse.decision.promote and "(margin 0.5)" in worse.decision.reason


def test_transform_from_store_reads_the_store(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(db(home))
    uid, _ = create_user(engine)
    for movie in range(1, 8):
        put_rating(engine, uid, movie, 4, scale=WHOLE_STARS)
    engine.dispose()
    code, out, err = run(["transform", "--from-store", "--home", str(home)], capsys)
    assert code == 0, err
    clean = pd.read_csv(home / "data" / "processed" / "ratings_clean.csv")
    assert uid in set(clean["userId"])  # 7 ratings >= 5: kept
    assert len(clean) == len(filtered(ratings_frame(make_engine(db(home)))[0]))
    code, out, err = run(["transform", "--from-store", "--home", str(home / "empty")], capsys)
    assert code == 6 and err.startswith("error: no store at") and "movierec import" in err


def test_retrain_without_ratings_says_what_to_do(tmp_path: Path) -> None:
    from movierec.errors import DataError

    with pytest.raises(DataError, match="holds no ratings; run 'movierec import' first"):
        retrain(PipelineConfig.from_settings(home=tmp_path))
