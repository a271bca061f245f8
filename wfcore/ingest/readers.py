"""Streaming record readers: JSONL, JSON arrays and Parquet, plain or compressed, local or remote.

A reader yields :class:`RawRecord` s one at a time; a record that cannot even be decoded carries
its reason instead of a value, so it can be quarantined without stopping the file. Memory stays
bounded by one record (JSONL, JSON arrays) or one row batch (Parquet).
"""

from __future__ import annotations

import codecs
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import storage
from . import reasons as R

COMPRESSION_SUFFIXES = (".gz", ".zst", ".bz2", ".xz")
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_CHUNK = 1 << 20
_MAX_ELEMENT_BYTES = 256 << 20


@dataclass
class RawRecord:
    locator: str
    value: Any = None
    reason: str | None = None  # set when the record could not be decoded
    detail: str = ""
    raw_text: str | None = None


def base_name(uri: str) -> str:
    """File name without compression suffix, lower-cased (``a/b.jsonl.gz`` -> ``b.jsonl``)."""
    name = posixpath.basename(str(uri)).lower()
    for suf in COMPRESSION_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def container_of(uri: str) -> str:
    """``parquet`` or ``json`` (JSON lines or a JSON array, decided by the first byte)."""
    return "parquet" if base_name(uri).endswith(PARQUET_SUFFIXES) else "json"


def iter_records(uri: str) -> Iterator[RawRecord]:
    if container_of(uri) == "parquet":
        yield from iter_parquet(uri)
        return
    with storage.open_stream(uri, "rb") as f:
        head = f.read(4096)
    first = head.lstrip()[:1]
    if first == b"[":
        yield from iter_json_array(uri)
    else:
        yield from iter_jsonl(uri)


def iter_jsonl(uri: str) -> Iterator[RawRecord]:
    """One record per non-blank line; locator ``uri:LINE`` (1-based)."""
    with storage.open_stream(uri, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            loc = f"{uri}:{lineno}"
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield RawRecord(
                    loc,
                    reason=R.INVALID_UTF8,
                    detail=str(e)[:200],
                    raw_text=line.decode("utf-8", "replace"),
                )
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                yield RawRecord(loc, reason=R.MALFORMED_JSON, detail=str(e)[:200], raw_text=text)
                continue
            yield RawRecord(loc, value=value, raw_text=text)


def iter_json_array(uri: str) -> Iterator[RawRecord]:
    """Elements of a top-level JSON array, decoded incrementally; locator ``uri:item=I`` (0-based).

    A syntax error inside the array cannot be resynchronised: the rest of the file becomes one
    ``malformed_json`` record.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buf = ""
    pos = 0
    eof = False
    index = 0
    started = False
    with storage.open_stream(uri, "rb") as f:

        def more() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            chunk = f.read(_CHUNK)
            buf = buf[pos:] + utf8.decode(chunk, final=not chunk)
            pos = 0
            eof = not chunk
            return True

        def skip(chars: str) -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in chars:
                    pos += 1
                if pos < len(buf) or not more():
                    return

        try:
            more()
            skip(" \t\r\n")
            if buf[pos : pos + 1] != "[":
                raise ValueError("expected a JSON array")
            pos += 1
            started = True
            while True:
                skip(" \t\r\n")
                if buf[pos : pos + 1] == "]":
                    return
                if index > 0:
                    if buf[pos : pos + 1] != ",":
                        raise ValueError(f"expected ',' or ']' after item {index - 1}")
                    pos += 1
                    skip(" \t\r\n")
                while True:
                    try:
                        value, end = decoder.raw_decode(buf, pos)
                        break
                    except json.JSONDecodeError:
                        if len(buf) - pos > _MAX_ELEMENT_BYTES or not more():
                            raise
                text = buf[pos:end]
                pos = end
                yield RawRecord(f"{uri}:item={index}", value=value, raw_text=text)
                index += 1
        except UnicodeDecodeError as e:
            yield RawRecord(
                f"{uri}:item={index}",
                reason=R.INVALID_UTF8,
                detail=str(e)[:200],
                raw_text=buf[pos : pos + 2000],
            )
        except (json.JSONDecodeError, ValueError) as e:
            where = "rest of file" if started else "file"
            yield RawRecord(
                f"{uri}:item={index}",
                reason=R.MALFORMED_JSON,
                detail=f"{where} unreadable: {str(e)[:200]}",
                raw_text=buf[pos : pos + 2000],
            )


def iter_parquet(uri: str, batch_size: int = 512) -> Iterator[RawRecord]:
    """Rows of a Parquet file, one row batch in memory at a time; locator ``uri:row=I``."""
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(uri)
    with fs.open_input_file(path) as f:
        pf = pq.ParquetFile(f)
        row = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            for value in batch.to_pylist():
                yield RawRecord(f"{uri}:row={row}", value=value)
                row += 1


def parquet_columns(uri: str) -> list[str]:
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(uri)
    with fs.open_input_file(path) as f:
        return list(pq.ParquetFile(f).schema_arrow.names)
