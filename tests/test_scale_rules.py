"""The scale rules: the pipeline's default model above a stated size (one home,
:func:`movierec.pipeline_config.model_for_size`), user-knn's refusal beyond its limit, and
the thread limit (``--threads`` / ``MOVIEREC_THREADS``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from movierec import pipeline_config, threads
from movierec.cli import main
from movierec.config import Settings
from movierec.errors import ConfigError
from movierec.models import read_metadata
from movierec.models.knn import user as user_knn
from movierec.models.registry import make_model
from movierec.pipeline_config import DEFAULT_MODEL_MAX_RATINGS, PipelineConfig, model_for_size
from movierec.steps import count_rows
from movierec.testing import taste_clusters


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"MOVIEREC_{name.upper()}", raising=False)
    return monkeypatch


def test_default_model_switches_only_when_not_chosen(env: pytest.MonkeyPatch) -> None:
    big = DEFAULT_MODEL_MAX_RATINGS + 1
    default = PipelineConfig.from_settings(home=Path("."))
    assert default.model == "user-knn" and not default.model_chosen
    assert model_for_size(default, DEFAULT_MODEL_MAX_RATINGS) == (default, None)
    picked, note = model_for_size(default, big)
    assert picked.model == "ials" and picked.model_params == {}
    assert note == (
        f"{big:,} ratings is above {DEFAULT_MODEL_MAX_RATINGS:,}: training 'ials' instead of "
        "the default 'user-knn' (choose one with --model)"
    )
    chosen = PipelineConfig.from_settings(home=Path("."), model="user-knn")
    assert chosen.model_chosen and model_for_size(chosen, big) == (chosen, None)
    with_params = PipelineConfig.from_settings(home=Path("."), model_params={"k": 10})
    assert model_for_size(with_params, big) == (with_params, None)
    env.setenv("MOVIEREC_MODEL", "user-knn")  # asked for through the setting: kept
    assert PipelineConfig.from_settings(home=Path(".")).model_chosen


def test_count_rows(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("userId,movieId\n1,2\n3,4\n")
    assert count_rows(csv) == 2
    csv.write_text("userId,movieId\n1,2\n3,4")  # no final newline
    assert count_rows(csv) == 2
    assert count_rows(tmp_path / "missing.csv") == 0


@pytest.mark.realdata
@pytest.mark.slow
def test_train_picks_the_scalable_model_and_says_so(
    env: pytest.MonkeyPatch,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the real command (the limit lowered so ml-100k is "large"): one line says
    what was picked, the model file is that model, the run log records the note."""
    env.setattr(pipeline_config, "DEFAULT_MODEL_MAX_RATINGS", 50_000)
    home = ["--home", str(tmp_path)]
    source = ["download", "--source", str(shared_data / "ml-100k.zip")]
    for step in (source, ["convert"], ["transform"], ["train"]):
        main([*step, *home])  # returns on success (exits on an error)
    out = capsys.readouterr().out
    line = "ratings is above 50,000: training 'ials' instead of the default 'user-knn'"
    assert out.count(line) == 1
    assert read_metadata(tmp_path / "models/recommender.npz")["model"] == "ials"
    runs = [json.loads(x) for x in (tmp_path / "logs/runs.jsonl").read_text().splitlines()]
    train = [r for r in runs if r["step"] == "train"][-1]
    assert train["model"] == "ials" and line in train["note"]
    main(["train", "--model", "user-knn", *home])  # asked for: no switch, no note
    assert line not in capsys.readouterr().out


def test_user_knn_refuses_beyond_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data, catalog = taste_clusters(n_users=40, n_items=20)
    n = data.n_users
    monkeypatch.setattr(user_knn, "MAX_USERS", n - 1)
    with pytest.raises(ConfigError, match=rf"{n} users is above its limit of {n - 1}.*'ials'"):
        make_model("user-knn").fit(data, catalog)
    monkeypatch.setattr(user_knn, "MAX_USERS", n)
    make_model("user-knn").fit(data, catalog)


def test_thread_limit_applies_and_ials_does_not_depend_on_it() -> None:
    import numba

    data, catalog = taste_clusters(n_users=200, n_items=60, density=0.2)
    before = numba.get_num_threads()
    with threads.limit(1) as n:
        assert n == 1 == threads.current() == numba.get_num_threads()
        one = make_model("ials", iterations=5).fit(data, catalog)
    assert numba.get_num_threads() == before and threads.current() == threads.available_cores()
    with threads.limit(0) as n:
        assert n == threads.available_cores()
        every = make_model("ials", iterations=5).fit(data, catalog)
    assert np.array_equal(one.item_factors_, every.item_factors_)
    assert np.array_equal(one.user_factors_, every.user_factors_)
    ids = data.users.ids
    with threads.limit(1):
        top_one = one.recommend(ids, n=10)
    assert all(
        np.array_equal(a, b) for a, b in zip(top_one, every.recommend(ids, n=10), strict=True)
    )
