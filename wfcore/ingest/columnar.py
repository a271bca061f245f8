"""Columnar ingest of Parquet row batches in the WildChat and LMSYS layouts (Arrow compute, no per-row Python).

The per-record adapters (:mod:`wfcore.ingest.adapters`) stay the authority. :func:`convert_batch`
converts in one pass the rows of a batch that are plainly valid (known role spelled as the
canonical one, text content within the size limit, a user message with a non-space character,
an id with a letter or digit; blank messages are kept and counted) and hands every other row
back to the per-record path, which accepts or
rejects it with its reason. So a batch gives the same rows and rejects either way; only
``metadata`` may differ in how a float is spelled (the parsed JSON is equal).
A batch whose column types the columnar path does not handle returns ``None`` (all per-record).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from .adapters import LMSYS_FIELDS, WILDCHAT_FIELDS

ROLES = ("user", "assistant", "system")
# Any character Python's str.strip() does not remove: the content is not blank.
_NOT_BLANK = (
    r"[^\s\x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_RESERVED = ("message_fields", "moderation_categories", "timestamp_raw")


@dataclass(frozen=True)
class Layout:
    source: str
    id_column: str
    used: tuple[str, ...]  # record fields mapped to columns (the rest goes to metadata)


LAYOUTS = {
    "wildchat": Layout("wildchat", "conversation_hash", WILDCHAT_FIELDS),
    "lmsys": Layout("lmsys", "conversation_id", LMSYS_FIELDS),
}


class Unsupported(Exception):
    """The batch has a column type the columnar path does not convert."""


def convert_batch(
    batch: pa.RecordBatch, fmt: str, uri: str, first_row: int, max_message_chars: int
) -> tuple[pa.Table, np.ndarray] | None:
    """(canonical rows of the plainly valid records + ``_row`` column, indices of the other records), or None."""
    layout = LAYOUTS.get(fmt)
    if layout is None:
        return None
    try:
        batch.validate(full=True)  # invalid UTF-8 is left to the per-record path
        return _convert(batch, layout, uri, first_row, max_message_chars)
    except (Unsupported, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _col(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    i = batch.schema.get_field_index(name)
    return None if i < 0 else batch.column(i)


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _by_row(parents: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(parents, weights=values.astype(np.float64), minlength=n)


def _convert(batch: pa.RecordBatch, layout: Layout, uri: str, first_row: int, max_chars: int):
    n = batch.num_rows
    conv = _col(batch, "conversation")
    cid = _col(batch, layout.id_column)
    if (
        conv is None
        or cid is None
        or not _is_string(cid.type)
        or any(c in batch.schema.names for c in _RESERVED)
    ):
        raise Unsupported("layout")
    if not (
        pa.types.is_list(conv.type) or pa.types.is_large_list(conv.type)
    ) or not pa.types.is_struct(conv.type.value_type):
        raise Unsupported("conversation")
    mtype = conv.type.value_type
    if mtype.get_field_index("role") < 0 or mtype.get_field_index("content") < 0:
        raise Unsupported("message fields")
    if not _is_string(mtype.field("role").type) or not _is_string(mtype.field("content").type):
        raise Unsupported("message types")
    ts_name = (
        "timestamp"
        if "timestamp" in batch.schema.names or layout.source == "wildchat"
        else "tstamp"
    )
    for name, check in (
        ("language", _is_string),
        ("model", _is_string),
        ("toxic", pa.types.is_boolean),
        ("redacted", pa.types.is_boolean),
        (ts_name, pa.types.is_timestamp),
    ):
        c = _col(batch, name)
        if c is not None and not (check(c.type) or pa.types.is_null(c.type)):
            raise Unsupported(name)

    # -- which rows are plainly valid
    lengths = pc.fill_null(pc.list_value_length(conv), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(conv)
    parents = pc.list_parent_indices(conv).to_numpy(zero_copy_only=False)
    role = pc.struct_field(flat, "role")
    content = pc.struct_field(flat, "content")
    msg_ok = pc.and_(flat.is_valid(), pc.is_in(role, value_set=pa.array(ROLES, role.type)))
    # null content fails here (null length): the per-record path keeps it as an empty message
    msg_ok = pc.and_(msg_ok, pc.less_equal(pc.utf8_length(content), max_chars))
    msg_ok = pc.fill_null(msg_ok, False).to_numpy(zero_copy_only=False)
    filled = pc.fill_null(pc.match_substring_regex(content, _NOT_BLANK), False).to_numpy(
        zero_copy_only=False
    )
    is_user = pc.fill_null(pc.equal(role, "user"), False).to_numpy(zero_copy_only=False)
    bad = _by_row(parents, ~msg_ok, n)
    users = _by_row(parents, msg_ok & is_user & filled, n)
    empties_all = _by_row(parents, ~filled, n)
    id_ok = pc.fill_null(pc.match_substring_regex(cid, "[0-9A-Za-z]"), False).to_numpy(
        zero_copy_only=False
    )
    ok = (lengths > 0) & (bad == 0) & (users > 0) & id_ok
    good = np.flatnonzero(ok)
    rest = np.flatnonzero(~ok)
    if not len(good):
        return schema.CONVERSATIONS.empty_table().append_column(
            "_row", pa.array([], pa.int64())
        ), rest

    # -- the canonical columns of the valid rows
    sub = batch.take(pa.array(good))
    n = sub.num_rows
    conv = _col(sub, "conversation")
    flat = pc.list_flatten(conv)
    parents = pc.list_parent_indices(conv).to_numpy(zero_copy_only=False)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(pc.list_value_length(conv).to_numpy(zero_copy_only=False), out=offsets[1:])
    messages = pa.ListArray.from_arrays(
        pa.array(offsets),
        pa.StructArray.from_arrays(
            [
                pc.cast(pc.struct_field(flat, "role"), pa.string()),
                pc.cast(pc.struct_field(flat, "content"), pa.string()),
            ],
            fields=list(schema.MESSAGE),
        ),
        type=schema.MESSAGES,
    )
    empties = empties_all[good]
    flagged, cats_json = _moderation(_col(sub, "openai_moderation"), n)
    rows = pa.array(good + first_row, pa.int64())
    cols = {
        "conversation_id": pc.cast(_col(sub, layout.id_column), pa.string()),
        "source": pa.array([layout.source] * n, pa.string()),
        "messages": messages,
        "language": _or_nulls(_col(sub, "language"), pa.string(), n),
        "model": _or_nulls(_col(sub, "model"), pa.string(), n),
        "timestamp": _or_nulls(_col(sub, ts_name), schema.CONVERSATIONS.field("timestamp").type, n),
        "moderation_flagged": flagged,
        "toxic": _or_nulls(_col(sub, "toxic"), pa.bool_(), n),
        "redacted": _or_nulls(_col(sub, "redacted"), pa.bool_(), n),
        "locator": pc.binary_join_element_wise(f"{uri}:row=", pc.cast(rows, pa.string()), ""),
        "metadata": _metadata(sub, layout, flat, parents, cats_json),
        "empty_messages": pa.array(empties.astype(np.int32), pa.int32()),
        "_row": rows,
    }
    return pa.table(cols), rest


def _or_nulls(col: pa.Array | None, type_: pa.DataType, n: int) -> pa.Array:
    return pa.nulls(n, type_) if col is None else pc.cast(col, type_)


def _moderation(om: pa.Array | None, n: int) -> tuple[pa.Array, list[str | None]]:
    """Any-message ``flagged`` per row (null: no result says) and the ``moderation_categories`` JSON per row."""
    none: list[str | None] = [None] * n
    if om is None or pa.types.is_null(om.type):
        return pa.nulls(n, pa.bool_()), none
    if not (pa.types.is_list(om.type) or pa.types.is_large_list(om.type)) or not pa.types.is_struct(
        om.type.value_type
    ):
        raise Unsupported("openai_moderation")
    item_t = om.type.value_type
    items = pc.list_flatten(om)
    parents = pc.list_parent_indices(om).to_numpy(zero_copy_only=False)
    valid = items.is_valid().to_numpy(zero_copy_only=False)
    flagged = pa.nulls(n, pa.bool_())
    if item_t.get_field_index("flagged") >= 0:
        if not pa.types.is_boolean(item_t.field("flagged").type):
            raise Unsupported("flagged")
        f = pc.struct_field(items, "flagged")
        has = valid & f.is_valid().to_numpy(zero_copy_only=False)
        true = has & pc.fill_null(f, False).to_numpy(zero_copy_only=False)
        said, yes = _by_row(parents, has, n) > 0, _by_row(parents, true, n) > 0
        flagged = pa.array(yes, mask=~said)
    if item_t.get_field_index("categories") < 0:
        return flagged, none
    cats_t = item_t.field("categories").type
    if not pa.types.is_struct(cats_t):
        raise Unsupported("categories")
    cats = pc.struct_field(items, "categories")
    cvalid = valid & cats.is_valid().to_numpy(zero_copy_only=False)
    names = sorted(cats_t.field(i).name for i in range(cats_t.num_fields))
    hits = np.zeros((n, len(names)), dtype=bool)
    for j, name in enumerate(names):
        c = pc.struct_field(cats, name)
        if not pa.types.is_boolean(c.type):
            return flagged, none  # only ``v is True`` counts: non-bool categories never do
        true = cvalid & pc.fill_null(c, False).to_numpy(zero_copy_only=False)
        hits[:, j] = _by_row(parents, true, n) > 0
    out = list(none)
    for i in np.flatnonzero(hits.any(axis=1)):
        out[i] = json.dumps([names[j] for j in np.flatnonzero(hits[i])], ensure_ascii=False)
    return flagged, out


# ---------------------------------------------------------------- metadata JSON, column-wise


def _metadata(
    sub: pa.RecordBatch,
    layout: Layout,
    flat: pa.Array,
    parents: np.ndarray,
    cats_json: list[str | None],
) -> pa.Array:
    """``adapters.dumps_metadata`` of each row's other fields, built column-wise."""
    n = sub.num_rows
    frags: dict[str, pa.Array] = {}
    for name in sub.schema.names:
        if name not in layout.used:
            col = _col(sub, name)
            frags[name] = pc.if_else(col.is_valid(), _json(col), pa.nulls(n, pa.string()))
    extra = [f.name for f in flat.type if f.name not in ("role", "content")]
    if extra:
        per_msg = _object({f: pc.struct_field(flat, f) for f in extra}, skip_nulls=True)
        nonempty = (
            _by_row(parents, pc.not_equal(per_msg, "{}").to_numpy(zero_copy_only=False), n) > 0
        )
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(parents, minlength=n), out=offsets[1:])
        lists = pa.ListArray.from_arrays(pa.array(offsets), per_msg)
        arr = pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
        frags["message_fields"] = pc.if_else(pa.array(nonempty), arr, pa.nulls(n, pa.string()))
    if any(c is not None for c in cats_json):
        frags["moderation_categories"] = pa.array(cats_json, pa.string())
    return _object(frags, skip_nulls=True, encoded=True)


def _object(fields: dict[str, pa.Array], skip_nulls: bool, encoded: bool = False) -> pa.Array:
    """One JSON object per row from per-key columns (sorted keys; null values left out when ``skip_nulls``)."""
    n = len(next(iter(fields.values()))) if fields else 0
    parts = []
    for name in sorted(fields):
        col = fields[name]
        text = col if encoded else _json(col)
        frag = pc.binary_join_element_wise(
            json.dumps(name, ensure_ascii=False) + ": ", text, ", ", ""
        )
        if skip_nulls:
            frag = pc.if_else(col.is_valid(), frag, "")
        parts.append(frag)
    if not parts:
        return pa.array(["{}"] * n, pa.string())
    body = pc.utf8_rtrim(pc.binary_join_element_wise(*parts, ""), characters=", ")
    return pc.binary_join_element_wise("{", body, "}", "")


def _json(col: pa.Array) -> pa.Array:
    """JSON text of every value (``null`` for nulls), as ``json.dumps(..., sort_keys=True)`` writes it."""
    t = col.type
    if pa.types.is_dictionary(t):
        return _json(col.dictionary_decode())
    if pa.types.is_null(t):
        out = pa.array(["null"] * len(col), pa.string())
    elif pa.types.is_boolean(t):
        out = pc.if_else(col, "true", "false")
    elif pa.types.is_integer(t):
        out = pc.cast(col, pa.string())
    elif pa.types.is_floating(t):
        out = _floats(col)
    elif _is_string(t):
        out = _strings(col)
    elif (
        pa.types.is_timestamp(t) and t.unit in ("s", "ms", "us") and t.tz in (None, "UTC", "+00:00")
    ):
        out = _timestamps(col)
    elif pa.types.is_struct(t):
        if len({t.field(i).name for i in range(t.num_fields)}) != t.num_fields:
            raise Unsupported("duplicate struct fields")
        obj = _object(
            {t.field(i).name: pc.struct_field(col, [i]) for i in range(t.num_fields)},
            skip_nulls=False,
        )
        out = pc.if_else(col.is_valid(), obj, pa.nulls(len(col), pa.string()))
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        values = _json(pc.list_flatten(col))
        offsets = np.zeros(len(col) + 1, dtype=np.int64)
        np.cumsum(
            pc.fill_null(pc.list_value_length(col), 0).to_numpy(zero_copy_only=False),
            out=offsets[1:],
        )
        lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
        out = pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
    else:
        raise Unsupported(str(t))
    return pc.fill_null(pc.cast(out, pa.string()), "null")


def _strings(col: pa.Array) -> pa.Array:
    col = pc.cast(col, pa.string())
    quoted = pc.binary_join_element_wise('"', col, '"', "")
    needs = pc.fill_null(pc.match_substring_regex(col, _NEEDS_ESCAPE), False)
    if not pc.any(needs).as_py():
        return quoted
    escaped = [json.dumps(s, ensure_ascii=False) for s in pc.filter(col, needs).to_pylist()]
    return pc.replace_with_mask(quoted, needs, pa.array(escaped, pa.string()))


def _floats(col: pa.Array) -> pa.Array:
    col = pc.cast(col, pa.float64())
    text = pc.cast(col, pa.string())
    # Python writes 1.0 where Arrow writes 1; NaN / Infinity as json.dumps does
    plain = pc.invert(pc.fill_null(pc.match_substring_regex(text, r"[.eEna]"), True))
    text = pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)
    text = pc.if_else(pc.fill_null(pc.is_nan(col), False), "NaN", text)
    inf = pc.fill_null(pc.is_inf(col), False)
    return pc.if_else(inf, pc.if_else(pc.greater(col, 0), "Infinity", "-Infinity"), text)


def _timestamps(col: pa.Array) -> pa.Array:
    """``datetime.isoformat()``: microseconds only when non-zero; ``+00:00`` for UTC-aware values."""
    us = pc.cast(pc.cast(col, pa.timestamp("us", tz=col.type.tz)), pa.int64())
    if pc.any(pc.less(us, 0)).as_py():
        raise Unsupported("timestamp before 1970")
    secs = pc.cast(pc.cast(pc.divide(us, 1_000_000), pa.int64()), pa.timestamp("s"))
    text = pc.strftime(secs, format="%Y-%m-%dT%H:%M:%S")
    frac = pc.cast(pc.subtract(us, pc.multiply(pc.divide(us, 1_000_000), 1_000_000)), pa.string())
    frac = pc.if_else(
        pc.equal(frac, "0"), "", pc.binary_join_element_wise(".", pc.utf8_lpad(frac, 6, "0"), "")
    )
    suffix = "" if col.type.tz is None else "+00:00"
    return pc.binary_join_element_wise('"', text, frac, suffix, '"', "")
