"""Ingest: corpus files in any supported layout -> canonical conversations + quarantined rejects.

    for kind, row in FileReader(uri).rows():   # kind: "conversation" or "reject"
        ...
    for conversations, rejects in FileReader(uri).batches():   # the same, in Arrow blocks (faster)
        ...

Every record read from a file ends up in exactly one of the two outputs, so per file
``rows_read == accepted + rejected`` (see :class:`FileStats`, which also counts the empty messages
kept in accepted conversations). Formats are named or detected per
file from the first records; the WildFeedback annotation file's flat utterance rows are grouped
into conversations first (a record is then one conversation).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from .. import schema, storage
from . import columnar, reasons
from .adapters import ADAPTERS, FORMATS, Limits, detect_format
from .readers import RawRecord, base_name, container_of, iter_records, parquet_columns
from .reasons import REASONS, Reject

__all__ = [
    "FORMATS",
    "REASONS",
    "FileReader",
    "FileStats",
    "Reject",
    "detect_file_format",
    "detect_format",
]

_DETECT_PEEK = 100
_WITH_ROW = schema.CONVERSATIONS.append(pa.field("_row", pa.int64()))


@dataclass
class FileStats:
    file: str
    format: str | None = None
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    empty_messages: int = 0  # empty messages kept in accepted conversations
    conversations_with_empty: int = 0

    def count_empty(self, per_conversation: Iterable[int]) -> None:
        for n in per_conversation:
            self.empty_messages += n
            self.conversations_with_empty += n > 0

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "format": self.format,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "empty_messages": self.empty_messages,
            "conversations_with_empty_messages": self.conversations_with_empty,
        }


def _truncate(text: str | None, n: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[:n] + "...[truncated]"


def detect_file_format(uri: str) -> str | None:
    """The format of a file from its name and first records (None: not recognised)."""
    name = base_name(uri)
    if container_of(uri) == "parquet":
        return detect_format(parquet_columns(uri), name)
    for rec in itertools.islice(iter_records(uri), _DETECT_PEEK):
        if isinstance(rec.value, dict):
            return detect_format(rec.value.keys(), name)
    return None


def _group_utterances(records: Iterator[RawRecord]) -> Iterator[RawRecord]:
    """Flat annotation rows -> one record per conversation (``UtterranceId`` restarts)."""
    group: list[dict] = []
    first_loc = last_loc = ""
    bad: RawRecord | None = None
    prev_id: float | None = None

    def flush() -> RawRecord:
        loc = first_loc if first_loc == last_loc else f"{first_loc}..{last_loc.rsplit(':', 1)[-1]}"
        if bad is not None:
            return RawRecord(
                loc,
                reason=bad.reason,
                detail=f"utterance {bad.locator}: {bad.detail}",
                raw_text=json.dumps(group, ensure_ascii=False, default=str),
            )
        return RawRecord(
            loc,
            value={"utterances": group},
            raw_text=json.dumps(group, ensure_ascii=False, default=str),
        )

    for rec in records:
        uid = rec.value.get("UtterranceId") if isinstance(rec.value, dict) else None
        try:
            uid_num = float(uid) if uid is not None else None
        except (TypeError, ValueError):
            uid_num = None
        if (group or bad) and uid_num is not None and prev_id is not None and uid_num <= prev_id:
            yield flush()
            group, bad = [], None
        if not group and bad is None:
            first_loc = rec.locator
        last_loc = rec.locator
        if uid_num is not None:
            prev_id = uid_num
        if rec.reason is not None:
            bad = bad or rec
        elif not isinstance(rec.value, dict):
            bad = bad or RawRecord(
                rec.locator,
                reason=reasons.NOT_AN_OBJECT,
                detail=f"utterance is {type(rec.value).__name__}",
            )
        else:
            group.append(rec.value)
    if group or bad:
        yield flush()


class FileReader:
    """Streams one input file as canonical conversation rows and reject rows."""

    def __init__(
        self,
        uri: str,
        fmt: str = "auto",
        max_message_chars: int = 100_000,
        max_raw_chars: int = 2_000,
        stage: str = "ingest",
    ):
        if fmt != "auto" and fmt not in ADAPTERS:
            raise ValueError(
                f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}"
            )
        self.uri = str(uri)
        self.fmt = fmt
        self.limits = Limits(max_message_chars)
        self.max_raw_chars = max_raw_chars
        self.stage = stage
        self.stats = FileStats(self.uri)

    def _reject(
        self, source: str | None, locator: str, reason: str, detail: str, raw: str | None
    ) -> dict:
        self.stats.rejected += 1
        self.stats.rejected_by_reason[reason] = self.stats.rejected_by_reason.get(reason, 0) + 1
        return {
            "stage": self.stage,
            "source": source or "unknown",
            "locator": locator,
            "reason_code": reason,
            "detail": detail[:1000],
            "raw": _truncate(raw, self.max_raw_chars),
        }

    def _records(self) -> tuple[str | None, Iterator[RawRecord]]:
        records = iter_records(self.uri)
        fmt = None if self.fmt == "auto" else self.fmt
        if fmt is None:
            if container_of(self.uri) == "parquet":
                fmt = detect_format(parquet_columns(self.uri), base_name(self.uri))
            else:
                peeked: list[RawRecord] = []
                try:
                    for rec in itertools.islice(records, _DETECT_PEEK):
                        peeked.append(rec)
                except Exception as e:  # the file breaks off early: keep what was read
                    loc = peeked[-1].locator.rsplit(":", 1)[-1] if peeked else ""
                    peeked.append(
                        RawRecord(
                            f"{self.uri}:after={loc}" if loc else self.uri,
                            reason=reasons.UNREADABLE_FILE,
                            detail=f"{type(e).__name__}: {str(e)[:500]}",
                        )
                    )
                    records = iter(())
                for rec in peeked:
                    if isinstance(rec.value, dict):
                        fmt = detect_format(rec.value.keys(), base_name(self.uri))
                        break
                records = itertools.chain(peeked, records)
        if fmt == "wildfeedback_annotation":
            records = _group_utterances(records)
        return fmt, records

    def _convert(self, fmt: str | None, adapter, rec: RawRecord) -> tuple[str, dict]:
        """One decoded record -> ("conversation", row) or ("reject", row); counts it."""
        self.stats.rows_read += 1
        if rec.reason is not None:
            return "reject", self._reject(fmt, rec.locator, rec.reason, rec.detail, rec.raw_text)
        raw = rec.raw_text
        if not isinstance(rec.value, dict):
            return "reject", self._reject(
                fmt,
                rec.locator,
                reasons.NOT_AN_OBJECT,
                f"record is {type(rec.value).__name__}",
                raw or _dump(rec.value),
            )
        if adapter is None:
            return "reject", self._reject(
                fmt,
                rec.locator,
                reasons.UNKNOWN_FORMAT,
                f"keys {sorted(rec.value)[:12]} match no format",
                raw or _dump(rec.value),
            )
        try:
            row = adapter(rec.value, rec.locator, self.limits)
        except Reject as e:
            return "reject", self._reject(
                fmt, rec.locator, e.reason, e.detail, raw or _dump(rec.value)
            )
        self.stats.accepted += 1
        self.stats.count_empty([row["empty_messages"]])
        return "conversation", row

    def _unreadable(self, fmt: str | None, loc: str, e: Exception) -> dict:
        self.stats.rows_read += 1
        where = self.uri if loc == self.uri else f"{self.uri}:after={loc.rsplit(':', 1)[-1]}"
        return self._reject(
            fmt, where, reasons.UNREADABLE_FILE, f"{type(e).__name__}: {str(e)[:500]}", None
        )

    def rows(self) -> Iterator[tuple[str, dict]]:
        """Yields ``("conversation", row)`` or ``("reject", row)`` for every record of the file."""
        fmt = None
        loc = self.uri
        try:
            fmt, records = self._records()
            self.stats.format = fmt
            adapter = ADAPTERS.get(fmt) if fmt else None
            for rec in records:
                loc = rec.locator
                yield self._convert(fmt, adapter, rec)
        except Exception as e:  # the file itself (or its rest) cannot be read
            yield "reject", self._unreadable(fmt, loc, e)

    def batches(self, batch_rows: int = 4096) -> Iterator[tuple[pa.Table, list[dict]]]:
        """The same rows as :meth:`rows`, in blocks: ``(conversations table, reject rows)``.

        Parquet files in the WildChat / LMSYS layouts are converted column-wise (see
        :mod:`wfcore.ingest.columnar`), other files record by record. Conversations keep file order.
        """
        fmt = None if self.fmt == "auto" else self.fmt
        if container_of(self.uri) == "parquet":
            try:
                fmt = fmt or detect_format(parquet_columns(self.uri), base_name(self.uri))
            except Exception:  # unreadable: the record path reports it
                fmt = None
        if fmt not in columnar.LAYOUTS or container_of(self.uri) != "parquet":
            yield from self._blocks(self.rows(), batch_rows)
            return
        import pyarrow.parquet as pq

        self.stats.format = fmt
        adapter = ADAPTERS[fmt]
        row = 0
        loc = self.uri
        try:
            fs, path = storage.filesystem(self.uri)
            with fs.open_input_file(path) as f:
                for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
                    done = columnar.convert_batch(
                        batch, fmt, self.uri, row, self.limits.max_message_chars
                    )
                    fast, rest = done if done is not None else (None, range(batch.num_rows))
                    convs: list[dict] = []
                    rejects: list[dict] = []
                    slow = batch.take(pa.array(rest, pa.int64())).to_pylist() if len(rest) else []
                    for i, value in zip(rest, slow, strict=True):
                        loc = f"{self.uri}:row={row + int(i)}"
                        kind, out = self._convert(fmt, adapter, RawRecord(loc, value=value))
                        if kind == "conversation":
                            out["_row"] = row + int(i)
                            convs.append(out)
                        else:
                            rejects.append(out)
                    table = pa.Table.from_pylist(convs, schema=_WITH_ROW)
                    if fast is not None and fast.num_rows:
                        self.stats.rows_read += fast.num_rows
                        self.stats.accepted += fast.num_rows
                        self.stats.count_empty(fast.column("empty_messages").to_pylist())
                        table = pa.concat_tables([fast, table]).sort_by("_row")
                    row += batch.num_rows
                    loc = f"{self.uri}:row={row - 1}"
                    yield table.drop_columns(["_row"]), rejects
        except Exception as e:  # the file itself (or its rest) cannot be read
            yield schema.CONVERSATIONS.empty_table(), [self._unreadable(fmt, loc, e)]

    def _blocks(
        self, rows: Iterator[tuple[str, dict]], n: int
    ) -> Iterator[tuple[pa.Table, list[dict]]]:
        convs: list[dict] = []
        rejects: list[dict] = []
        for kind, row in rows:
            (convs if kind == "conversation" else rejects).append(row)
            if len(convs) + len(rejects) >= n:
                yield schema.to_table(convs, schema.CONVERSATIONS), rejects
                convs, rejects = [], []
        if convs or rejects:
            yield schema.to_table(convs, schema.CONVERSATIONS), rejects


def _dump(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, default=str)
    return text
