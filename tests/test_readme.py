"""The README's Python quickstart runs as written (a doctest), on the real ml-100k."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text that hold doctest examples."""
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if ">>> " in b]


def test_readme_quickstart_runs(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default home: nothing written beside the repository
    monkeypatch.setenv("MOVIEREC_SOURCE", str(shared_data / "ml-100k.zip"))
    monkeypatch.delenv("MOVIEREC_HOME", raising=False)
    monkeypatch.delenv("MOVIEREC_DATASET", raising=False)
    (block,) = python_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block, {}, "README quickstart", "README.md", 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} README example(s) failed (see output above)"
    assert list(tmp_path.iterdir()) == []  # loading from a source installs nothing


def test_api_names_are_not_shadowed_by_submodules() -> None:
    """``mr.recommend`` stays the function after ``movierec.<submodule>`` imports (a package
    attribute of the same name would be replaced by the submodule)."""
    import importlib
    import pkgutil
    import types

    import movierec

    for info in pkgutil.walk_packages(movierec.__path__, "movierec."):
        importlib.import_module(info.name)
    for name in movierec.__all__:
        value = getattr(movierec, name)
        assert not isinstance(value, types.ModuleType), name
