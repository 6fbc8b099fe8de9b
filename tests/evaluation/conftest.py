"""Fixtures of the evaluation tests."""

from __future__ import annotations

import pytest

from movierec.models import registry
from tests.evaluation.helpers import TEST_MODELS


@pytest.fixture()
def test_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only models of :mod:`tests.evaluation.helpers`, registered for one test."""
    for name, target in TEST_MODELS.items():
        monkeypatch.setitem(registry.MODELS, name, target)
