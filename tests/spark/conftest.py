"""One local Spark session shared by every Spark test (a JVM start costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from movierec.spark.engine import java_available
from tests.conftest import unavailable


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """``local[2]`` session bound to loopback, checkpoints under a pytest temp dir."""
    if not java_available():
        unavailable("Spark tests need a Java 17+ runtime (java not on PATH, JAVA_HOME unset)")
    from movierec.spark.engine import spark_session

    ckpt: Path = tmp_path_factory.mktemp("spark")
    session = spark_session("local[2]", shuffle_partitions=2, checkpoint_dir=ckpt)
    yield session
    session.stop()
