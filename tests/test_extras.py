"""The light install: without an extra, every command that needs it says which one in one
line, and the rest works (``pipeline`` and ``retrain`` run their steps in this process).

Each command runs in a fresh process in which the extras' packages cannot be imported (an
import hook refuses them, as if they were not installed), on the real ml-100k.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from movierec.extras import EXTRAS

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

WITHOUT = """
import sys

BLOCKED = set(sys.argv[1].split(","))


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
from movierec.cli import main

main(sys.argv[2:])
"""

ALL_EXTRAS = "prefect,fastapi,uvicorn,mlflow,pyspark"


def without(blocked: str, *args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, blocked, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MOVIEREC_HOME": str(home), **env},
    )


@pytest.mark.parametrize(
    ("args", "extra", "what"),
    [
        (["serve"], "serve", "movierec serve"),
        (["schedule", "--cron", "0 3 * * *"], "flow", "movierec schedule"),
        (["pipeline", "--cron", "0 3 * * *"], "flow", "pipeline --cron"),
        (["runs", "list"], "track", EXTRAS["track"]),
        (["pipeline", "--engine", "spark"], "spark", "the Spark engine"),
    ],
)
def test_a_missing_extra_is_one_line(args: list[str], extra: str, what: str, tmp_path) -> None:
    done = without(ALL_EXTRAS, *args, home=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: {what} needs the [{extra}] extra: pip install 'movierec[{extra}]'\n"
    )
    assert list(tmp_path.iterdir()) == [] or not (tmp_path / "data").exists()


def test_core_install_runs_the_pipeline_and_retrain_in_process(
    shared_data: Path, tmp_path: Path
) -> None:
    zip_path = str(shared_data / "ml-100k.zip")
    done = without(
        ALL_EXTRAS, "pipeline", "--source", zip_path, "--json", home=tmp_path, MOVIEREC_TRACKING="1"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "note: Prefect is not installed (pip install 'movierec[flow]'): pipeline runs its "
        "steps in this process",
        "note: not tracked: MLflow is not installed (pip install 'movierec[track]')",
    ]
    assert "94,968" in done.stdout and "stored run 1: top-10 for every user (9,430 rows)" in (
        done.stdout
    )
    assert '"userId": 1' in done.stdout.splitlines()[-1]
    assert not (tmp_path / "mlflow").exists()

    assert without(ALL_EXTRAS, "import", home=tmp_path).returncode == 0
    done = without(ALL_EXTRAS, "retrain", "--model", "popularity", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("note: Prefect is not installed")
    assert "registered model version 1: popularity" in done.stdout
    assert "promoted: no version in production yet" in done.stdout
