"""The Spark engine (``--engine spark``): the pipeline's steps on Apache Spark.

:mod:`movierec.spark.engine` holds them: ``spark_session`` (``local[*]`` or a cluster
master, loopback-bound in local mode, checkpoint directory set), ``read_ratings`` (Parquet
or ml-25m CSV), ``transform`` (the local filters, same semantics), ``train_als``
(``pyspark.ml.recommendation.ALS``, explicit or implicit), ``evaluate_rmse``,
``recommend_all`` (exact top-N with seen movies excluded) and ``run`` (all of them).
pyspark is the optional extra ``movierec[spark]``; nothing here imports it at module load.
"""
