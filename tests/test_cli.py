"""CLI behaviour: one-line errors with non-zero exit codes, and the happy path on real data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from movierec.cli import main, parse_params
from movierec.errors import ConfigError


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Call the console entry point in-process; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_parse_params_json_values() -> None:
    assert parse_params(["k=40", "similarity=pearson", "mean_center=false", "x=0.5"]) == {
        "k": 40,
        "similarity": "pearson",
        "mean_center": False,
        "x": 0.5,
    }
    with pytest.raises(ConfigError):
        parse_params(["k"])


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("movierec ")
    for step in ["download", "convert", "ingest", "transform", "train", "recommend", "pipeline"]:
        code, out, _ = run_cli([step, "--help"], capsys)
        assert code == 0, step
        assert "--home" in out


def test_recommend_without_model_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["recommend", "--user", "1", "--home", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "no model", "movierec train")


def test_train_without_data_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["train", "--home", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "movierec transform")


def test_unknown_model_lists_valid_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["train", "--home", str(tmp_path), "--model", "nope"], capsys)
    assert_one_line_error(code, err, "unknown model 'nope'", "user-knn")


def test_bad_param_name_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "--home", str(tmp_path), "-p", "bogus=1"], capsys)
    assert_one_line_error(code, err, "bogus")


def test_console_script_and_module_entry_points() -> None:
    exe = Path(sys.executable).with_name("movierec")
    assert exe.is_file(), "the console script .venv/bin/movierec must be installed"
    for cmd in ([str(exe), "--version"], [sys.executable, "-m", "movierec", "--version"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("movierec ")


def test_usage_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["recommend"], capsys)  # --user is required
    assert code == 2
    assert "--user" in err


@pytest.mark.parametrize("n", ["0", "-3"])
def test_recommend_rejects_non_positive_n_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n: str
) -> None:
    code, _, err = run_cli(["recommend", "--user", "1", "-n", n, "--home", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "n must be")


def _json_out(out: str) -> dict[str, object]:
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def real_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A working directory where every step ran once via the CLI on the real ml-100k."""
    home = tmp_path_factory.mktemp("home")
    source = str(shared_data / "ml-100k")
    for args in (
        ["download", "--source", source],
        ["convert"],
        ["ingest"],
        ["transform"],
        ["train"],
    ):
        try:
            main([*args, "--home", str(home)])
        except SystemExit as exc:  # pragma: no cover - a failure here fails every test below
            assert not exc.code, f"{args} exited {exc.code}"
    return home


@pytest.mark.realdata
def test_steps_write_the_seed_layout_and_log(real_home: Path) -> None:
    for rel in (
        "data/raw/ml-100k/u.data",
        "data/raw/ratings.csv",
        "data/raw/movies.csv",
        "data/processed/ratings_clean.csv",
        "models/recommender.npz",
        "logs/runs.jsonl",
    ):
        assert (real_home / rel).is_file(), rel
    log = [json.loads(x) for x in (real_home / "logs/runs.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == ["download", "convert", "ingest", "transform", "train"]
    assert all(r["status"] == "ok" and r["seconds"] >= 0 for r in log)


@pytest.mark.realdata
def test_recommend_json_for_user_1(real_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    code, out, err = run_cli(
        ["recommend", "--user", "1", "-n", "5", "--json", "--home", str(real_home)], capsys
    )
    assert code == 0, err
    payload = _json_out(out)
    recs = payload["recommendations"]
    assert payload["userId"] == 1 and isinstance(recs, list) and len(recs) == 5
    assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5]
    assert {"movieId", "title", "year", "genres", "score", "explanation"} <= set(recs[0])
    scores = [r["score"] for r in recs]
    assert scores == sorted(scores, reverse=True)
    clean = pd.read_csv(real_home / "data/processed/ratings_clean.csv")
    seen = set(clean.loc[clean["userId"] == 1, "movieId"])
    assert not seen & {r["movieId"] for r in recs}


@pytest.mark.realdata
def test_recommend_table(
    real_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's table: rank, title, year, genres, predicted rating and why; the raw ranking
    score and the movie id only with --verbose."""
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_cli(["recommend", "-u", "1", "-n", "3", "--home", str(real_home)], capsys)
    assert code == 0
    assert "Top 3 movies for user 1" in out
    header = next(line for line in out.splitlines() if "rank" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "rank", "title", "year", "genres", "predicted", "why"
    ]  # fmt: skip
    code, out, _ = run_cli(
        ["recommend", "-u", "1", "-n", "3", "--verbose", "--home", str(real_home)], capsys
    )
    header = next(line for line in out.splitlines() if "rank" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "rank", "movieId", "title", "year", "genres", "predicted", "score", "why"
    ]  # fmt: skip


@pytest.mark.realdata
@pytest.mark.parametrize("model", ["user-knn", "ials"])
def test_recommend_in_a_fresh_process_does_not_load_pandas(
    real_home: Path, model: str, tmp_path: Path
) -> None:
    """The one-user path (model load, top-N, reasons, the table) runs without pandas,
    pyarrow or SQLAlchemy: they cost ~0.7 s of start-up and are not needed to print a list
    (issue 13); for the neighbour model and for a factor model (reasons by item vectors).
    The neighbour model's one request also loads no numba: only a server's
    ``Recommender.warm_up`` loads the compiled kernels."""
    home = real_home
    if model != "user-knn":
        home = tmp_path / "home"
        shutil.copytree(real_home, home)
        main(["train", "--model", model, "--home", str(home)])
    names = ("pandas", "pyarrow", "sqlalchemy", *(["numba"] if model == "user-knn" else []))
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['movierec', 'recommend', '-u', '1', '-n', '5', '--json', '--home', "
        f"{str(home)!r}]\n"
        "try:\n    runpy.run_module('movierec', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"names = {names!r}\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr, done.stderr
    recs = json.loads(done.stdout)["recommendations"]
    assert len(recs) == 5 and recs[0]["title"] and recs[0]["explanation"]


@pytest.mark.realdata
def test_recommend_unknown_user(real_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["recommend", "--user", "99999", "--home", str(real_home)], capsys)
    assert_one_line_error(code, err, "99999")


@pytest.mark.realdata
def test_model_trained_on_other_data_is_refused(
    real_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    home = tmp_path / "other"
    shutil.copytree(real_home, home)
    code, _, err = run_cli(["transform", "--min-item-ratings", "50", "--home", str(home)], capsys)
    assert code == 0, err
    code, _, err = run_cli(["recommend", "--user", "1", "--home", str(home)], capsys)
    assert_one_line_error(code, err, "different data", "movierec train")


@pytest.mark.realdata
def test_model_from_an_incompatible_version_is_refused(
    real_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    import numpy as np

    home = tmp_path / "old"
    shutil.copytree(real_home, home)
    path = home / "models/recommender.npz"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta["package_version"] = "9.0.0"
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    code, _, err = run_cli(["recommend", "--user", "1", "--home", str(home)], capsys)
    assert_one_line_error(code, err, "9.0.0", "retrain")


@pytest.mark.realdata
def test_failed_train_keeps_the_previous_model(
    real_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    home = tmp_path / "keep"
    shutil.copytree(real_home, home)
    before = (home / "models/recommender.npz").read_bytes()
    code, _, err = run_cli(["train", "-p", "k=-1", "--home", str(home)], capsys)
    assert_one_line_error(code, err, "k")
    assert (home / "models/recommender.npz").read_bytes() == before
    assert not [p for p in (home / "models").iterdir() if ".tmp-" in p.name]


@pytest.mark.realdata
def test_the_cleaned_ratings_are_recognised_by_stat_then_by_hash(
    real_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recommend`` checks that the model was trained on the current cleaned ratings
    without reading them when their size, mtime and inode are as recorded, by their SHA-256
    when only the stat changed, and by parsing them when the bytes changed."""
    from movierec import training
    from movierec.config import Layout

    home = tmp_path / "home"
    shutil.copytree(real_home, home)
    main(["train", "--home", str(home)])
    layout = Layout(home)
    recorded = json.loads(layout.model_path.with_suffix(".source.json").read_text())
    assert recorded["stat"] == training.file_stat(layout.clean_ratings_csv)
    real_sha = training.file_sha256

    def no_hash(path: Path) -> str:
        raise AssertionError("hashed")

    monkeypatch.setattr(training, "file_sha256", no_hash)
    assert training.current_fingerprint(layout) == recorded["fingerprint"]  # stat only
    csv = layout.clean_ratings_csv
    text = csv.read_bytes()
    csv.unlink()
    csv.write_bytes(text)  # same bytes, a new file: the stat differs, the hash decides
    with pytest.raises(AssertionError, match="hashed"):
        training.current_fingerprint(layout)
    monkeypatch.setattr(training, "file_sha256", real_sha)
    assert training.current_fingerprint(layout) == recorded["fingerprint"]
    lines = text.decode().splitlines(keepends=True)
    csv.write_text("".join(lines[:-1]))  # one rating fewer: another fingerprint
    assert training.current_fingerprint(layout) != recorded["fingerprint"]
