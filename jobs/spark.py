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
        # The Connect builder directly: SparkSession.builder.remote() refuses to start when a
        # classic session already runs in this process (SESSION_ALREADY_EXIST).
        from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

        builder = RemoteSparkSession.builder.appName(app_name).remote(cfg.master)
    else:
        builder = (
            builder.master(cfg.master)
            .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "true" if sys.stderr.isatty() else "false")
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


def spark_reads_object_storage(spark) -> bool:
    """Whether this Spark can read s3a:// itself (the cluster image adds hadoop-aws)."""
    if getattr(spark, "is_remote", lambda: False)() or type(spark).__module__.startswith("pyspark.sql.connect"):
        return os.environ.get("WF_SPARK_S3A", "1") == "1"
    try:
        spark.sparkContext._jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")
        return True
    except Exception:  # noqa: BLE001
        return False


class ObjectStorageBridge:
    """Lets a Spark without s3a jars run over an object-storage run directory.

    Inputs are copied to a local scratch folder and outputs written there, then uploaded into
    the dataset's attempt folder and committed with the usual protocol. When Spark reads s3a://
    itself, paths pass through unchanged.
    """

    def __init__(self, spark, run_uri: str):
        import tempfile

        from wfcore import storage

        self.remote = storage.is_remote(run_uri)
        self.bridge = self.remote and not spark_reads_object_storage(spark)
        self.scratch = tempfile.mkdtemp(prefix="wf-spark-") if self.bridge else None

    def inputs(self, files: list[str]) -> list[str]:
        if not self.bridge:
            return [local_path(f) for f in files]
        from wfcore import storage
        from wfcore.ids import content_id

        out = []
        for f in files:
            local = os.path.join(self.scratch, "in", content_id(f) + ".parquet")
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "wb") as fh:
                fh.write(storage.read_bytes(f))
            out.append(local)
        return out

    def output(self, dataset_uri: str, attempt: str) -> str:
        """Where Spark should write an attempt's parts."""
        from wfcore import storage

        if not self.bridge:
            return local_path(storage.join(dataset_uri, attempt))
        return os.path.join(self.scratch, "out", attempt)

    def publish(self, dataset_uri: str, attempt: str, suffix: str = ".parquet") -> list[str]:
        """Parts of an attempt as paths relative to the dataset (uploading them if bridged)."""
        from wfcore import storage

        if not self.bridge:
            files = storage.list_files(storage.join(dataset_uri, attempt), suffix)
            base = storage.join(dataset_uri, "")
            return [f[len(base):].lstrip("/") for f in files]
        local_dir = os.path.join(self.scratch, "out", attempt)
        rels = []
        for root, _, names in os.walk(local_dir):
            for n in sorted(names):
                if not n.endswith(suffix):
                    continue
                rel = os.path.relpath(os.path.join(root, n), local_dir).replace(os.sep, "/")
                with open(os.path.join(root, n), "rb") as fh:
                    storage.write_bytes_atomic(storage.join(dataset_uri, attempt, rel), fh.read())
                rels.append(f"{attempt}/{rel}")
        return sorted(rels)

    def close(self) -> None:
        import shutil

        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
