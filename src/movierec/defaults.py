"""Defaults of the pipeline options that have no ``MOVIEREC_*`` setting.

Their one home: :class:`movierec.pipeline_config.PipelineConfig`'s fields and the command
line's options both read them (this module imports nothing, so ``movierec --help`` does
not load pydantic).
"""

USER = 1
"""The user ``recommend`` / ``pipeline`` print recommendations for."""
N = 5
"""Movies printed for that user."""
STORE_N = 10
"""Movies per user written to the store (0: skip the store step)."""
ENGINE = "local"
"""Where the heavy steps run (:data:`movierec.engines.ENGINES`)."""
SPARK_MASTER = "local[*]"
"""Spark master URL of ``--engine spark``."""
