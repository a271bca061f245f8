"""Stage ingest: input files -> ``RUN/conversations/`` and ``RUN/rejects/``.

Each input file is streamed in row blocks through its format adapter (wfcore.ingest; WildChat and
LMSYS Parquet column-wise) and written as Parquet parts of at most ``ingest.shard_rows`` rows, one
row group at a time (memory does not grow with file or corpus size), named by file index so the
output order is the input order whatever the parallelism. Files are read in parallel processes when there are
several. The manifest gets per-file counts: rows_read = accepted + rejected, and the empty messages
kept in accepted conversations (per file and in total: ``empty_messages``,
``conversations_with_empty_messages``).
"""

from __future__ import annotations

import os
import posixpath
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from wfcore import schema, storage
from wfcore.config import Config
from wfcore.ingest import FileReader

from .context import StageContext
from .pipeline import input_uri

_PART_TEXT_BUDGET = 64 << 20  # close a part early at about this many characters of text


@dataclass
class FileTask:
    index: int
    uri: str
    fmt: str
    max_message_chars: int
    max_raw_chars: int
    shard_rows: int
    conversations_uri: str
    rejects_uri: str
    attempt: str


def fingerprint_parts(cfg: Config) -> dict:
    return cfg.ingest.model_dump(mode="json", exclude={"workers"})


def input_files(uri: str) -> list[str]:
    """The files an input URI names; data files only (no ``_``/``.`` side files) unless named directly."""
    if not any(c in str(uri) for c in "*?["):
        fs, path = storage.filesystem(uri)
        if fs.get_file_info(path).type == pafs.FileType.File:
            return [str(uri)]
    files = storage.expand_inputs(uri)
    return [f for f in files if not posixpath.basename(f).startswith(("_", "."))]


class _PartWriter:
    """Streams row blocks (Arrow) into parts of at most ``shard_rows`` rows (or about 64 MB of text).

    Rows are buffered only up to one row group, so memory does not depend on the part size. A
    part becomes visible whole (temp file + rename locally; S3 objects appear on close), and the
    dataset only lists parts once the stage commits it.
    """

    def __init__(self, dataset_uri: str, prefix: str, schema_, shard_rows: int):
        self.dataset_uri = dataset_uri
        self.prefix = prefix
        self.schema = schema_
        self.shard_rows = shard_rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0  # in the open part, written or buffered
        self.chars = 0
        self.parts: list[tuple[str, int]] = []
        self._open: tuple | None = None  # (final path, temp path, stream, ParquetWriter, fs)

    def add(self, table: pa.Table) -> None:
        while table.num_rows:
            take = table.slice(0, self.shard_rows - self.rows)
            table = table.slice(take.num_rows)
            self.buffer.append(take)
            self.buffered += take.num_rows
            self.rows += take.num_rows
            self.chars += _text_chars(take)
            if self.rows >= self.shard_rows or self.chars >= _PART_TEXT_BUDGET:
                self.flush()
            elif self.buffered >= _ROW_GROUP_ROWS:
                self._write_buffer()

    def _write_buffer(self) -> None:
        if not self.buffered:
            return
        if self._open is None:
            name = f"{self.prefix}-{len(self.parts):05d}.parquet"
            fs, path = storage.filesystem(storage.join(self.dataset_uri, name))
            fs.create_dir(posixpath.dirname(path), recursive=True)
            local = isinstance(fs, pafs.LocalFileSystem)
            tmp = f"{path}.tmp-{os.getpid()}" if local else path
            stream = fs.open_output_stream(tmp, compression=None)
            self._open = (
                name,
                path,
                tmp,
                stream,
                pq.ParquetWriter(stream, self.schema, compression="zstd"),
                local,
            )
        self._open[4].write_table(pa.concat_tables(self.buffer))
        self.buffer, self.buffered = [], 0

    def flush(self) -> None:
        """Close the open part (if it has rows)."""
        self._write_buffer()
        if self._open is None:
            return
        name, path, tmp, stream, writer, local = self._open
        writer.close()
        stream.close()
        if local:
            os.replace(tmp, path)
        self.parts.append((name, self.rows))
        self._open, self.rows, self.chars = None, 0, 0


_ROW_GROUP_ROWS = 8192


def _text_chars(table: pa.Table) -> int:
    """Bytes of message text, metadata and raw records in a block (the bulk of a part's size)."""
    total = 0
    for name in ("metadata", "raw"):
        if name in table.column_names:
            total += pc.sum(pc.binary_length(table.column(name))).as_py() or 0
    if "messages" in table.column_names:
        content = pc.struct_field(pc.list_flatten(table.column("messages")), "content")
        total += pc.sum(pc.binary_length(content)).as_py() or 0
    return total


def ingest_file(task: FileTask) -> dict:
    """Read one file and write its parts; returns its stats and the parts written."""
    reader = FileReader(task.uri, task.fmt, task.max_message_chars, task.max_raw_chars)
    prefix = f"{task.attempt}/part-{task.index:05d}"
    conv = _PartWriter(task.conversations_uri, prefix, schema.CONVERSATIONS, task.shard_rows)
    rej = _PartWriter(task.rejects_uri, prefix, schema.REJECTS, task.shard_rows)
    for conversations, rejects in reader.batches():
        conv.add(conversations)
        if rejects:
            rej.add(schema.to_table(rejects, schema.REJECTS))
    conv.flush()
    rej.flush()
    return {"stats": reader.stats.as_dict(), "conversations": conv.parts, "rejects": rej.parts}


_PARALLEL_MIN_BYTES = 32 << 20  # below this, starting worker processes costs more than it saves


def _workers(cfg: Config, files: list[str]) -> int:
    if cfg.ingest.workers:
        return max(1, min(cfg.ingest.workers, len(files)))
    if len(files) < 2 or _total_bytes(files) < _PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, len(files)))


def _total_bytes(files: list[str]) -> int:
    total = 0
    for f in files:
        fs, path = storage.filesystem(f)
        total += fs.get_file_info(path).size or 0
    return total


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    uri = input_uri(cfg)
    files = input_files(uri)
    if not files:
        raise FileNotFoundError(f"ingest: no input files at {uri}")
    conversations = ctx.run.table("conversations")
    rejects = ctx.run.table("rejects")
    attempt = conversations.new_attempt()
    tasks = [
        FileTask(
            i,
            f,
            cfg.ingest.format,
            cfg.ingest.max_message_chars,
            cfg.ingest.max_raw_chars,
            cfg.ingest.shard_rows,
            conversations.uri,
            rejects.uri,
            attempt,
        )
        for i, f in enumerate(files)
    ]
    progress = ctx.progress(len(tasks), unit="files")
    results: list[dict] = []
    workers = _workers(cfg, files)
    if workers == 1:
        for t in tasks:
            results.append(ingest_file(t))
            progress.advance(1, rows=results[-1]["stats"]["rows_read"])
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            for res in pool.map(ingest_file, tasks):
                results.append(res)
                progress.advance(1, rows=res["stats"]["rows_read"])

    conv_parts = [p for r in results for p in r["conversations"]]
    rej_parts = [p for r in results for p in r["rejects"]]
    for ds, parts, sch in (
        (conversations, conv_parts, schema.CONVERSATIONS),
        (rejects, rej_parts, schema.REJECTS),
    ):
        if not parts:  # an empty dataset still has one (empty) part, so readers see its schema
            name = f"{attempt}/part-empty.parquet"
            storage.write_parquet_atomic(storage.join(ds.uri, name), sch.empty_table())
            parts = [(name, 0)]
        ds.commit([p for p, _ in parts], sum(n for _, n in parts), ctx.fingerprint)

    stats = [r["stats"] for r in results]
    ctx.record["rows_in"] = sum(s["rows_read"] for s in stats)
    ctx.record["rows_out"] = sum(s["accepted"] for s in stats)
    for s in stats:
        for reason, n in s["rejected_by_reason"].items():
            ctx.reject(reason, n)
    formats: dict[str, int] = {}
    for s in stats:
        formats[s["format"] or "unknown"] = (
            formats.get(s["format"] or "unknown", 0) + s["rows_read"]
        )
    ctx.record["empty_messages"] = sum(s["empty_messages"] for s in stats)
    ctx.record["conversations_with_empty_messages"] = sum(
        s["conversations_with_empty_messages"] for s in stats
    )
    ctx.record["files"] = stats
    ctx.record["formats"] = formats
    ctx.record["input"] = uri
    ctx.record["workers"] = workers
