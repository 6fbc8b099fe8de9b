"""The Prefect evaluation flow runs the same steps and publishes the leaderboard artifact."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from movierec.models import registry
from tests.evaluation.helpers import TEST_MODELS, synthetic_ratings, write_ml100k


@pytest.mark.slow
def test_evaluate_flow(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from movierec.evaluation.flow import evaluate_flow

    for name, target in TEST_MODELS.items():
        monkeypatch.setitem(registry.MODELS, name, target)
    folder = write_ml100k(tmp_path / "data" / "ml-100k", synthetic_ratings())
    board = evaluate_flow(
        protocol="ml100k-u1",
        models="test-mean,test-rank",
        home=str(tmp_path),
        data_dir=str(folder),
        k=5,
    )
    assert board.models == ["test-mean", "test-rank"]
    saved = json.loads((tmp_path / "reports" / "ml100k-u1" / "leaderboard.json").read_text())
    assert saved["summary"][0]["model"] == "test-mean"

    async def artifacts() -> list:
        async with get_client() as client:
            flt = ArtifactFilter(key=ArtifactFilterKey(any_=["leaderboard-ml100k-u1"]))
            return await client.read_artifacts(artifact_filter=flt)

    found = asyncio.run(artifacts())
    assert found and "Leaderboard — protocol `ml100k-u1`" in found[0].data
