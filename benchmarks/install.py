"""Install size and ``movierec pipeline`` cost of each install: the light-install figures.

For each ``NAME=VENV`` given (fresh virtual environments; ``--create`` makes the missing
ones from this checkout: ``core`` = ``pip install -e .``, ``flow`` = ``.[flow]`` (what
``make run`` installs), ``dev`` = ``.[dev]`` (what ``make test`` installs)), reports the
venv's size (``du -sb``), its package count, and the wall time and peak RSS (GNU
``/usr/bin/time -v``: the process and the children it waited for, e.g. Prefect's temporary
server) of ``movierec pipeline --source <ml-100k.zip> --user 1 -n 5`` in a fresh home,
``--repeats`` times (first run cold, then warm: same home, cached steps). Without Prefect
installed the pipeline runs its steps in-process (one note line).

Writes ``benchmarks/results/install.json``.
Run: ``python benchmarks/install.py core=/tmp/v/core flow=/tmp/v/flow dev=.venv [--create]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "install.json"
SPECS = {"core": ".", "flow": ".[flow]", "dev": ".[dev]", "all": ".[all]"}


def shared_data() -> Path:
    env = os.environ.get("MOVIEREC_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def create(name: str, venv: Path) -> None:
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}{SPECS[name][1:]}"], check=True)


def size(venv: Path) -> dict[str, Any]:
    du = subprocess.run(["du", "-sb", str(venv)], capture_output=True, text=True, check=True)
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"bytes": int(du.stdout.split()[0]), "packages": len(json.loads(listed.stdout))}


def pipeline(venv: Path, home: Path) -> dict[str, Any]:
    cmd = ["/usr/bin/time", "-v", str(venv / "bin" / "movierec"), "pipeline", "--source"]
    cmd += [str(shared_data() / "ml-100k.zip"), "--user", "1", "-n", "5", "--home", str(home)]
    env = {**os.environ, "MOVIEREC_TRACKING": "0"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pipeline failed in {venv}:\n{done.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert wall and rss, done.stderr[-1000:]
    h, m, s = (float(g) if g else 0.0 for g in wall.groups())
    return {"wall_s": round(h * 3600 + m * 60 + s, 2), "peak_rss_mb": round(int(rss[1]) / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venvs", nargs="+", help="NAME=PATH")
    parser.add_argument("--create", action="store_true", help="create missing venvs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, Any] = {"load": os.getloadavg(), "installs": {}}
    for item in args.venvs:
        name, _, path = item.partition("=")
        venv = Path(path)
        if not (venv / "bin" / "movierec").exists():
            if not args.create:
                raise SystemExit(f"no movierec in {venv} (use --create)")
            create(name, venv)
        entry: dict[str, Any] = size(venv)
        with tempfile.TemporaryDirectory() as tmp:
            entry["pipeline"] = [pipeline(venv, Path(tmp)) for _ in range(args.repeats)]
        report["installs"][name] = entry
        print(name, json.dumps(entry))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
