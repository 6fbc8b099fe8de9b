"""Every measured figure in ``docs/benchmarks.md`` is held by a results file.

The page is the one place figures are quoted (the README links to it); each figure must come
from a JSON that a benchmark script wrote to ``benchmarks/results/``. The check: every decimal
number on the page (``0.8806``, ``−0.0659``, ``10.8``) equals, at the precision written, a
number in some results file (a difference may be quoted either way round, ``A − B`` or
``B − A``). Whole numbers (counts, seeds, dates, sizes) are not checked. A figure typed by
hand, rounded wrongly, or left behind after a re-run whose results file changed fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"
DECIMAL = re.compile(r"(?<![\w.])[-−]?\d+\.\d+(?![\w.])")


def _numbers(obj: Any, out: list[float]) -> None:
    """Every number in a parsed JSON value, numbers inside strings included."""
    if isinstance(obj, dict):
        for value in obj.values():
            _numbers(value, out)
    elif isinstance(obj, list):
        for value in obj:
            _numbers(value, out)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out.append(float(obj))
    elif isinstance(obj, str):
        out.extend(float(m) for m in re.findall(r"-?\d+\.\d+", obj))


def _held(token: str, numbers: list[float]) -> bool:
    places = len(token.split(".")[1])
    value = float(token.replace("−", "-"))
    return any(
        abs(round(x, places) - value) < 1e-9 or abs(round(-x, places) - value) < 1e-9
        for x in numbers
    )


def test_every_decimal_figure_is_in_a_results_file() -> None:
    numbers: list[float] = []
    for path in sorted(RESULTS.glob("*.json")):
        _numbers(json.loads(path.read_text()), numbers)
    assert numbers, "no results files"
    missing = [
        f"line {i}: {token}"
        for i, line in enumerate(PAGE.read_text().splitlines(), start=1)
        for token in DECIMAL.findall(line)
        if not _held(token, numbers)
    ]
    assert missing == []


def test_every_results_file_the_page_names_exists() -> None:
    named = set(re.findall(r"results/([\w.-]+\.json)", PAGE.read_text()))
    assert named, "the page names no results file"
    assert sorted(n for n in named if not (RESULTS / n).is_file()) == []


def test_the_check_catches_a_figure_no_file_holds() -> None:
    """The check can fail: a figure typed by hand is not held."""
    numbers: list[float] = []
    _numbers({"rmse": 0.8806, "note": "p99 12.5 ms"}, numbers)
    assert _held("0.8806", numbers) and _held("12.5", numbers) and _held("−0.8806", numbers)
    assert not _held("0.8807", numbers) and not _held("12.4", numbers)
