"""``movierec serve`` as a real process on loopback, and the ``movierec db`` commands.

The real default model (user-knn) is trained on ml-100k, saved under a temporary --home and
its top-10 for all users stored with :func:`movierec.store.write_run` (as the pipeline does).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from movierec.models.registry import make_model
from movierec.topn import recommend_all
from tests.api.conftest import free_port
from tests.store.toy import write_model_run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

MOVIEREC = [sys.executable, "-m", "movierec"]


@pytest.fixture(scope="module")
def served_home(ml100k, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("served")
    model = make_model("user-knn").fit(*ml100k)
    model.save(home / "models" / "recommender.npz")
    url = f"sqlite:///{home / 'db' / 'movierec.db'}"
    write_model_run(url, model, recommend_all(model, n=10), {"protocol": "ml100k-u1"})
    return home


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*MOVIEREC, "serve", "--home", str(served_home), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"movierec serve exited with {proc.returncode}: {out}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("movierec serve did not answer within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def test_real_uvicorn_process_serves_store_and_fold_in(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        health = client.get("/health").json()
        assert health["model"]["name"] == "user-knn" and health["run"]["id"] == 1
        recs = client.get("/users/1/recommendations").json()
        assert recs["source"] == "store" and len(recs["recommendations"]) == 10
        assert all(r["explanation"] for r in recs["recommendations"])
        body = {"ratings": [{"movieId": 50, "rating": 5}], "n": 5}
        new = client.post("/recommendations", json=body)
        assert new.status_code == 200 and new.json()["method"] == "fold-in"
        ids = [r["movie"]["id"] for r in new.json()["recommendations"]]
        assert len(ids) == 5 and 50 not in ids
        assert client.get("/users/9999/recommendations").status_code == 404
        assert "Search movies by title" in client.get("/").text


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``movierec ARGV`` in-process through the console entry point; (exit code, out, err)."""
    from movierec.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_db_cli_lists_and_exports_runs(
    served_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["db", "runs", "--home", str(served_home)], capsys)
    assert code == 0 and "user-knn" in out and "complete" in out
    target = tmp_path / "run1.parquet"
    argv = ["db", "export", "--run", "1", "--out", str(target), "--home", str(served_home)]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and "wrote 9430 recommendations of run 1" in out
    frame = pd.read_parquet(target)
    assert len(frame) == 9430 and frame["userId"].nunique() == 943
    csv = tmp_path / "run1.txt"
    code, _, _ = run_cli([*argv[:5], str(csv), "--format", "csv", *argv[6:]], capsys)
    assert code == 0 and pd.read_csv(csv).shape == (9430, 6)
    code, _, err = run_cli([*argv[:3], "7", *argv[4:]], capsys)
    assert code == 2 and err.strip() == "error: unknown run id: 7"
    code, _, err = run_cli([*argv, "--format", "xlsx"], capsys)
    assert code == 2 and "csv or parquet" in err
    empty = tmp_path / "empty"
    code, out, _ = run_cli(["db", "runs", "--home", str(empty)], capsys)
    assert code == 0 and "no runs stored yet" in out and not (empty / "db").exists()
