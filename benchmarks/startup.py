"""Start-up and per-run overhead of the commands, measured from fresh processes.

On real ml-100k (a working directory prepared by a first ``movierec pipeline`` run):

* ``movierec --help`` and ``movierec recommend --user 1``: wall time of a whole fresh
  process (``/usr/bin/time``-style, ``time.perf_counter`` around ``subprocess.run``), the
  median of ``--repeat`` runs;
* ``movierec pipeline`` with a persistent Prefect server (``movierec prefect start``) and
  with Prefect's temporary server, against **the plain steps**: the same step functions
  (:mod:`movierec.steps`, download → … → recommend) in one fresh ``python`` process
  without Prefect. The overhead of a pipeline mode is its median minus the plain median,
  measured in the same run (runs interleaved, so a change of load hits all alike).

With ``--before-src DIR`` (the ``src`` folder of an older checkout, e.g. ``git archive
<commit> src | tar -x -C DIR``) the same two commands of that code run interleaved with
this code's (``python -m movierec`` for both, the old code first on ``PYTHONPATH``), so
before/after is one side-by-side measurement. The load average is recorded before and
after. Usage::

    .venv/bin/python benchmarks/startup.py --source /path/to/ml-100k.zip [--before-src DIR]

Writes ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
PLAIN = """
import sys
from movierec import steps
from movierec.pipeline_config import PipelineConfig
cfg = PipelineConfig.from_settings(home=sys.argv[1], source=sys.argv[2], n=3)
steps.check(cfg)
steps.download(cfg)
steps.convert(cfg)
steps.ingest(cfg)
steps.transform(cfg)
cfg, _ = steps.choose_model(cfg)
if not steps.is_trained(cfg):
    steps.train(cfg)
steps.store(cfg)
steps.recommend(cfg)
"""


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="ml-100k.zip or folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=4217)
    parser.add_argument("--before-src", type=Path, default=None, help="older code to compare")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="movierec-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOVIEREC_", "PREFECT_"))}
    env |= {"MOVIEREC_HOME": str(work / "home"), "PREFECT_HOME": str(work / "prefect"),
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}  # fmt: skip
    movierec = str(BIN / "movierec")
    pipeline = [movierec, "pipeline", "--source", args.source, "-n", "3"]
    plain_cmd = [sys.executable, "-c", PLAIN, str(work / "home"), args.source]
    subprocess.run(plain_cmd, check=True, stdout=subprocess.DEVNULL, env=env)  # prepare + warm
    load = [os.getloadavg()[0]]
    out: dict[str, Any] = {"benchmark": "startup", "cpu_count": os.cpu_count()}
    commands = {"help": ["--help"], "recommend_user_1": ["recommend", "--user", "1"]}
    module = [sys.executable, "-m", "movierec"]
    old_env = None
    if args.before_src:  # the old code in its own home, with a model file it wrote itself
        old_home = work / "home-before"
        old_env = {**env, "PYTHONPATH": str(args.before_src), "MOVIEREC_HOME": str(old_home)}
        old_plain = [sys.executable, "-c", PLAIN, str(old_home), args.source]
        subprocess.run(old_plain, check=True, stdout=subprocess.DEVNULL, env=old_env)
    for name, cmd in commands.items():
        if old_env is not None:
            wall(module + cmd, old_env)  # the old code's first run (its numba caches)
        runs, before = [], []
        for _ in range(args.repeat):
            runs.append(wall(module + cmd, env))
            if old_env is not None:
                before.append(wall(module + cmd, old_env))
        out[name] = {"median_seconds": round(statistics.median(runs), 3), "runs": runs}
        if before:
            out[name] |= {"before_median_seconds": round(statistics.median(before), 3),
                          "before_runs": before}  # fmt: skip
        print(
            f"{name:<20} {statistics.median(runs):6.3f} s"
            + (f" (before {statistics.median(before):6.3f} s)" if before else ""),
            flush=True,
        )
    t0 = time.perf_counter()
    subprocess.run([movierec, "prefect", "start", "--port", str(args.port)], check=True, env=env)
    out["prefect_server_start_seconds"] = round(time.perf_counter() - t0, 3)
    plain, served = [], []
    for _ in range(args.repeat):  # interleaved: load changes hit both alike
        plain.append(wall(plain_cmd, env))
        served.append(wall(pipeline, env))
    subprocess.run([movierec, "prefect", "stop"], check=True, env=env, stdout=subprocess.DEVNULL)
    temporary = [wall(pipeline, env) for _ in range(max(2, args.repeat // 2))]
    med = statistics.median
    out["pipeline_ml100k"] = {
        "plain_steps_median_seconds": round(med(plain), 3),
        "with_server_median_seconds": round(med(served), 3),
        "temporary_server_median_seconds": round(med(temporary), 3),
        "overhead_with_server_seconds": round(med(served) - med(plain), 3),
        "overhead_temporary_server_seconds": round(med(temporary) - med(plain), 3),
        "runs": {"plain": plain, "with_server": served, "temporary": temporary},
    }
    load.append(os.getloadavg()[0])
    out["loadavg_1min_before_after"] = [round(x, 2) for x in load]
    print(json.dumps(out["pipeline_ml100k"], indent=1), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'startup.json'} (load {load})")


if __name__ == "__main__":
    main()
