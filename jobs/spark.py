"""One place that makes the Spark session: local[*], a cluster master, or Spark Connect (sc://)."""

from __future__ import annotations

import os
import sys

from wfcore.config import SparkConfig


def get_spark(cfg: SparkConfig, app_name: str = "wildfeedback"):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if cfg.master.startswith("sc://"):
        builder = builder.remote(cfg.master)
    else:
        builder = (
            builder.master(cfg.master)
            .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", os.environ.get("WF_SPARK_DRIVER_MEMORY", "4g"))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.python.worker.reuse", "true")
        )
    for k, v in cfg.conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    if not cfg.master.startswith("sc://"):
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_path(uri: str) -> str:
    """Spark-readable form of a run-directory URI (s3:// becomes s3a:// for Hadoop)."""
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    return uri
