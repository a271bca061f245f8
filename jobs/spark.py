"""The Spark-stage helper shared by prepare and assemble.

One place for what both Spark stages need, so the two cannot drift apart:

- :func:`get_spark`: the session, ``local[*]``, a cluster master URL, or Spark Connect (``sc://``);
- :func:`functions` / :func:`window`: ``pyspark.sql.functions`` and ``Window`` matching the
  session (a Connect session needs Connect columns: the classic ``col`` asserts a SparkContext);
- :func:`spark_schema`: Spark schema of an Arrow schema;
- :class:`PhaseTimer`: per-phase wall seconds for the stage record;
- :class:`ObjectStorageBridge`: an ``s3://`` run directory for a Spark without s3a jars, as a
  context manager (its scratch folder lives exactly as long as the stage);
- :func:`write_sharded`, :func:`write_plain`, :func:`commit_sharded`, :func:`write_committed`:
  write a DataFrame into a new attempt of a dataset (through the bridge), then commit it.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import sys
import tempfile
import time
from typing import Any

import pyarrow as pa

from wfcore import storage
from wfcore.config import SparkConfig
from wfcore.storage import Dataset

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the session


def get_spark(cfg: SparkConfig, app_name: str = "wildfeedback") -> Any:
    """A Spark session for ``cfg.master``: ``local[*]``, a master URL, or ``sc://HOST:PORT``."""
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
    if not is_connect(spark):
        spark.sparkContext.setLogLevel("ERROR")
    log.info("spark session %s on %s", app_name, cfg.master)
    return spark


def is_connect(spark_or_df: Any) -> bool:
    """Whether a session (or a DataFrame's session) is a Spark Connect client."""
    session = getattr(spark_or_df, "sparkSession", spark_or_df)
    return type(session).__module__.startswith("pyspark.sql.connect")


def functions(spark_or_df: Any) -> Any:
    """``pyspark.sql.functions`` matching the session: Connect sessions need Connect columns."""
    if is_connect(spark_or_df):
        from pyspark.sql.connect import functions as F
    else:
        from pyspark.sql import functions as F
    return F


def window(spark_or_df: Any) -> Any:
    """``pyspark.sql.Window`` matching the session."""
    if is_connect(spark_or_df):
        from pyspark.sql.connect.window import Window
    else:
        from pyspark.sql import Window
    return Window


def spark_schema(schema: pa.Schema) -> Any:
    """Spark schema of an Arrow schema (pyspark's own mapping; the same for classic and Connect)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


class PhaseTimer:
    """Wall seconds per phase of a stage, into ``phases`` (the stage record's ``phase_seconds``)."""

    def __init__(self, phases: dict[str, float] | None = None):
        self.phases: dict[str, float] = {} if phases is None else phases
        self._t0 = time.time()

    def lap(self, name: str) -> None:
        self.phases[name] = round(time.time() - self._t0, 3)
        self._t0 = time.time()


# ---------------------------------------------------------------- object storage


def local_path(uri: str) -> str:
    """Spark-readable form of a run-directory URI (s3:// becomes s3a:// for Hadoop)."""
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    return uri


def fs_path(spark_path: str) -> str:
    """A path Spark wrote to, as a wfcore.storage URI (s3a:// is s3:// to pyarrow)."""
    return "s3://" + spark_path[len("s3a://") :] if spark_path.startswith("s3a://") else spark_path


def spark_reads_object_storage(spark: Any) -> bool:
    """Whether this Spark can read s3a:// itself (the cluster image adds hadoop-aws).

    A Connect client cannot look into the server's classpath: ``WF_SPARK_S3A=0`` tells it the
    server has no s3a jars (then the bridge stages through local scratch, which only works when
    client and server share a file system).
    """
    if is_connect(spark):
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
    itself, or the run directory is local, paths pass through unchanged. Use it as a context
    manager: the scratch folder is removed when the stage ends, whether it succeeded or not.
    """

    def __init__(self, spark: Any, run_uri: str):
        self.remote = storage.is_remote(run_uri)
        self.bridge = self.remote and not spark_reads_object_storage(spark)
        self.scratch = tempfile.mkdtemp(prefix="wf-spark-") if self.bridge else None

    def __enter__(self) -> ObjectStorageBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inputs(self, files: list[str]) -> list[str]:
        """Spark-readable paths of committed input files (local copies if bridged)."""
        if not self.bridge:
            return [local_path(f) for f in files]
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
        if not self.bridge:
            return local_path(storage.join(dataset_uri, attempt))
        return os.path.join(self.scratch, "out", attempt)

    def publish(self, dataset_uri: str, attempt: str, suffix: str = ".parquet") -> list[str]:
        """Parts of an attempt as paths relative to the dataset (uploading them if bridged)."""
        if not self.bridge:
            files = storage.list_files(storage.join(dataset_uri, attempt), suffix)
            base = storage.join(dataset_uri, "")
            return [f[len(base) :].lstrip("/") for f in files]
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
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


# ---------------------------------------------------------------- write and commit


def parquet_rows(uri: str) -> int:
    """Rows of one Parquet file, from its footer."""
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(uri)
    with fs.open_input_file(path) as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def write_sharded(
    df: Any, ds: Dataset, sort_cols: list[str], num_shards: int, bridge: ObjectStorageBridge
) -> dict[int, tuple[str, int]]:
    """Write ``df`` (with a ``shard`` column) as one Parquet file per shard under a new attempt.

    Spark writes ``shard_part=N/`` folders into a ``_spark`` folder of the attempt's output
    (local scratch when ``bridge`` bridges object storage); each shard's single part is renamed
    there to ``shard-0000N.parquet``, then the bridge publishes the attempt. Returns {shard:
    (file relative to the dataset, rows)}; the caller commits (:func:`commit_sharded`).
    """
    F = functions(df)
    attempt = ds.new_attempt()
    base = fs_path(bridge.output(ds.uri, attempt))
    tmp = storage.join(base, "_spark")
    (
        df.withColumn("shard_part", F.col("shard"))
        .repartition(max(1, num_shards), "shard_part")
        .sortWithinPartitions("shard_part", *sort_cols)
        .write.mode("overwrite")
        .partitionBy("shard_part")
        .parquet(local_path(tmp))
    )
    by_shard: dict[int, list[str]] = {}
    for f in storage.list_files(tmp, ".parquet"):
        part = [p for p in f.replace("\\", "/").split("/") if p.startswith("shard_part=")]
        if part:
            by_shard.setdefault(int(part[-1].split("=", 1)[1]), []).append(f)
    rows: dict[str, int] = {}
    for shard, files in sorted(by_shard.items()):
        if len(files) != 1:
            raise RuntimeError(f"{ds.uri}: shard {shard} written as {len(files)} files")
        name = f"shard-{shard:05d}.parquet"
        fs, src = storage.filesystem(files[0])
        _, dst = storage.filesystem(storage.join(base, name))
        fs.move(src, dst)
        rows[posixpath.join(attempt, name)] = parquet_rows(storage.join(base, name))
    storage.delete(tmp)
    published = bridge.publish(ds.uri, attempt)
    if sorted(published) != sorted(rows):
        raise RuntimeError(f"{ds.uri}: published {published}, expected {sorted(rows)}")
    return {int(rel.rsplit("-", 1)[1].split(".")[0]): (rel, n) for rel, n in rows.items()}


def commit_sharded(
    ds: Dataset, written: dict[int, tuple[str, int]], fingerprint: str, num_shards: int
) -> int:
    """Commit what :func:`write_sharded` wrote, with its ``shards`` map; returns the rows."""
    rows = sum(n for _, n in written.values())
    ds.commit(
        [f for f, _ in written.values()],
        rows,
        fingerprint,
        extra={
            "shards": {str(s): f for s, (f, _) in written.items()},
            "shard_rows": {str(s): n for s, (_, n) in written.items()},
            "num_shards": num_shards,
        },
    )
    return rows


def write_plain(df: Any, ds: Dataset, bridge: ObjectStorageBridge) -> tuple[list[str], int]:
    """Write ``df`` as Parquet parts under a new attempt; (part files relative to ``ds``, rows
    read back from the parts' footers). The caller commits."""
    attempt = ds.new_attempt()
    path = bridge.output(ds.uri, attempt)
    df.write.mode("overwrite").parquet(path)
    rows = sum(parquet_rows(f) for f in storage.list_files(fs_path(path), ".parquet"))
    return bridge.publish(ds.uri, attempt), rows


def write_committed(
    df: Any,
    ds: Dataset,
    table_schema: pa.Schema,
    fingerprint: str,
    expected_rows: int,
    bridge: ObjectStorageBridge,
) -> int:
    """Write ``df``'s ``table_schema`` columns as a new attempt and commit it (an empty table when
    nothing was written). Fails when the rows written differ from ``expected_rows`` (the stage's
    own tally), so the committed table always matches the counts in the manifest."""
    files, rows = write_plain(df.select(*table_schema.names), ds, bridge)
    if rows != expected_rows:
        raise RuntimeError(f"{ds.uri}: wrote {rows} rows, counted {expected_rows}")
    if not files:
        ds.write(table_schema.empty_table(), fingerprint)
    else:
        ds.commit(files, rows, fingerprint)
    return rows
