"""Format adapters: one published record layout -> one canonical conversation row.

Each adapter maps the fields it understands onto :data:`wfcore.schema.CONVERSATIONS` and keeps
every other source field in ``metadata`` (JSON). A record that cannot become a valid
conversation raises :class:`~wfcore.ingest.reasons.Reject` with its reason code. Empty messages
(null or blank content: a model that failed to answer, a user who sent nothing) are real log
content: they are kept (null becomes ``""``) and counted in ``empty_messages``; only a
conversation with no user message that has content is rejected.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from typing import Any

from .. import ids, schema
from . import reasons as R
from .reasons import Reject

# Record fields the WildChat and LMSYS adapters map to columns (the rest goes to metadata); the
# columnar Parquet path (columnar.py) uses the same lists.
WILDCHAT_FIELDS = ("conversation_hash", "conversation", "language", "model", "timestamp", "toxic", "redacted", "openai_moderation")
LMSYS_FIELDS = ("conversation_id", "conversation", "language", "model", "timestamp", "tstamp", "redacted", "openai_moderation", "toxic")

ROLES_CHAT = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
ROLES_SHAREGPT = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}
ROLES_ANNOTATION = {
    "user": "user",
    "agent": "assistant",
    "assistant": "assistant",
    "system": "system",
}


class Limits:
    def __init__(self, max_message_chars: int = 100_000):
        self.max_message_chars = max_message_chars


# ---------------------------------------------------------------- shared validation


def _encodable(s: str, what: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise Reject(R.INVALID_UTF8, f"{what}: {e.reason} at {e.start}") from None
    return s


def _content_text(content: Any, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                t = part.get("text")
                if not isinstance(t, str):
                    raise Reject(
                        R.NON_STRING_CONTENT, f"message {i}: text part is {type(t).__name__}"
                    )
                texts.append(t)
            elif isinstance(part, str):
                texts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise Reject(R.NON_STRING_CONTENT, f"message {i}: non-text content part {kind!r}")
        return "\n".join(texts)
    raise Reject(R.NON_STRING_CONTENT, f"message {i}: content is {type(content).__name__}")


def normalise_messages(
    raw: Any,
    limits: Limits,
    role_key: str = "role",
    content_key: str = "content",
    role_map: dict[str, str] = ROLES_CHAT,
    field: str = "messages",
) -> tuple[list[dict], list[dict] | None]:
    """Validate a source message list; returns (messages, per-message extra fields or None)."""
    if raw is None:
        raise Reject(R.MISSING_MESSAGES, f"no '{field}'")
    if not isinstance(raw, list):
        raise Reject(R.WRONG_TYPE, f"'{field}' is {type(raw).__name__}, not a list")
    if not raw:
        raise Reject(R.MISSING_MESSAGES, f"'{field}' is empty")
    messages: list[dict] = []
    extras: list[dict] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise Reject(R.WRONG_TYPE, f"message {i} is {type(m).__name__}, not an object")
        role = m.get(role_key)
        if role is None or role == "":
            raise Reject(R.MISSING_ROLE, f"message {i} has no '{role_key}'")
        if not isinstance(role, str) or role.strip().lower() not in role_map:
            raise Reject(R.UNKNOWN_ROLE, f"message {i}: role {str(role)[:40]!r}")
        content = m.get(content_key)
        text = (
            "" if content is None else _content_text(content, i)
        )  # empty messages are kept (counted)
        if len(text) > limits.max_message_chars:
            raise Reject(
                R.MESSAGE_TOO_LONG, f"message {i}: {len(text)} chars > {limits.max_message_chars}"
            )
        messages.append(
            {"role": role_map[role.strip().lower()], "content": _encodable(text, f"message {i}")}
        )
        extra = {k: v for k, v in m.items() if k not in (role_key, content_key) and v is not None}
        extras.append(extra)
    users = [m for m in messages if m["role"] == "user"]
    if not users:
        raise Reject(R.NO_USER_TURN, f"{len(messages)} messages, none from the user")
    if all(schema.is_empty(m["content"]) for m in users):
        raise Reject(R.EMPTY_CONTENT, f"{len(users)} user messages, all empty")
    return messages, (extras if any(extras) else None)


def _opt_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Reject(R.WRONG_TYPE, f"'{name}' is {type(value).__name__}, not a string")
    return _encodable(value, name)


def _opt_bool(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Reject(R.WRONG_TYPE, f"'{name}' is {type(value).__name__}, not a boolean")


def parse_timestamp(value: Any) -> _dt.datetime | None:
    """Datetime, epoch seconds/milliseconds or ISO-8601 text -> aware UTC datetime (None if unparseable)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, _dt.datetime):
            ts = value
        elif isinstance(value, int | float):
            secs = value / 1000 if abs(value) > 1e11 else value
            ts = _dt.datetime.fromtimestamp(secs, _dt.UTC)
        elif isinstance(value, str) and value.strip():
            ts = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return ts.replace(tzinfo=_dt.UTC) if ts.tzinfo is None else ts.astimezone(_dt.UTC)


def moderation_flagged(value: Any) -> tuple[bool | None, list[str]]:
    """OpenAI moderation (a per-message list, or one result) -> (any flagged, flagged categories)."""
    if value is None:
        return None, []
    items = value if isinstance(value, list) else [value]
    flagged: bool | None = None
    cats: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        f = item.get("flagged")
        if isinstance(f, bool):
            flagged = bool(flagged) or f
        for k, v in (
            (item.get("categories") or {}).items()
            if isinstance(item.get("categories"), dict)
            else ()
        ):
            if v is True:
                cats.add(k)
    return flagged, sorted(cats)


def _jsonable(v: Any) -> Any:
    if isinstance(v, _dt.datetime | _dt.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def dumps_metadata(meta: dict) -> str:
    text = json.dumps(meta, ensure_ascii=False, sort_keys=True, default=_jsonable)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(meta, ensure_ascii=True, sort_keys=True, default=_jsonable)
    return text


def _row(
    source: str,
    cid: Any,
    messages: list[dict],
    locator: str,
    meta: dict,
    language: Any = None,
    model: Any = None,
    timestamp: Any = None,
    flagged: bool | None = None,
    toxic: Any = None,
    redacted: Any = None,
) -> dict:
    if cid is None or (isinstance(cid, str) and not cid.strip()):
        cid = ids.conversation_id_from_messages(source, messages)
    elif not isinstance(cid, str | int):
        raise Reject(R.WRONG_TYPE, f"conversation id is {type(cid).__name__}")
    ts = parse_timestamp(timestamp)
    if timestamp is not None and ts is None:
        meta["timestamp_raw"] = timestamp
    return {
        "conversation_id": _encodable(str(cid), "conversation id"),
        "source": source,
        "messages": messages,
        "language": _opt_str(language, "language"),
        "model": _opt_str(model, "model"),
        "timestamp": ts,
        "moderation_flagged": flagged,
        "toxic": _opt_bool(toxic, "toxic"),
        "redacted": _opt_bool(redacted, "redacted"),
        "locator": locator,
        "metadata": dumps_metadata({k: v for k, v in meta.items() if v is not None}),
        "empty_messages": sum(schema.is_empty(m["content"]) for m in messages),
    }


def _rest(rec: dict, used: tuple[str, ...]) -> dict:
    return {k: v for k, v in rec.items() if k not in used}


# ---------------------------------------------------------------- adapters


def wildchat(rec: dict, locator: str, limits: Limits) -> dict:
    """WildChat-1M: ``conversation_hash``, ``conversation``, ``openai_moderation``, ``toxic``, ..."""
    messages, extras = normalise_messages(rec.get("conversation"), limits, field="conversation")
    flagged, cats = moderation_flagged(rec.get("openai_moderation"))
    meta = _rest(rec, WILDCHAT_FIELDS)
    meta["message_fields"] = extras
    if cats:
        meta["moderation_categories"] = cats
    return _row(
        "wildchat",
        rec.get("conversation_hash"),
        messages,
        locator,
        meta,
        rec.get("language"),
        rec.get("model"),
        rec.get("timestamp"),
        flagged,
        rec.get("toxic"),
        rec.get("redacted"),
    )


def lmsys(rec: dict, locator: str, limits: Limits) -> dict:
    """LMSYS-Chat-1M: ``conversation_id``, ``conversation``, ``model``, ``language``, ``openai_moderation``, ``redacted``."""
    messages, extras = normalise_messages(rec.get("conversation"), limits, field="conversation")
    flagged, cats = moderation_flagged(rec.get("openai_moderation"))
    meta = _rest(rec, LMSYS_FIELDS)
    meta["message_fields"] = extras
    if cats:
        meta["moderation_categories"] = cats
    return _row(
        "lmsys",
        rec.get("conversation_id"),
        messages,
        locator,
        meta,
        rec.get("language"),
        rec.get("model"),
        rec.get("timestamp", rec.get("tstamp")),
        flagged,
        rec.get("toxic"),
        rec.get("redacted"),
    )


def sharegpt(rec: dict, locator: str, limits: Limits) -> dict:
    """ShareGPT: ``id``, ``conversations`` of ``{from: human|gpt|system, value}``."""
    messages, extras = normalise_messages(
        rec.get("conversations"), limits, "from", "value", ROLES_SHAREGPT, field="conversations"
    )
    meta = _rest(rec, ("id", "conversations", "language", "model"))
    meta["message_fields"] = extras
    return _row(
        "sharegpt", rec.get("id"), messages, locator, meta, rec.get("language"), rec.get("model")
    )


def openai(rec: dict, locator: str, limits: Limits) -> dict:
    """OpenAI chat messages: ``{"messages": [{role, content}], "id"?: ...}``."""
    messages, extras = normalise_messages(rec.get("messages"), limits)
    cid = rec.get("id", rec.get("conversation_id"))
    meta = _rest(rec, ("id", "conversation_id", "messages", "language", "model", "timestamp"))
    meta["message_fields"] = extras
    return _row(
        "openai",
        cid,
        messages,
        locator,
        meta,
        rec.get("language"),
        rec.get("model"),
        rec.get("timestamp"),
    )


def _sharegpt_turn(value: Any, name: str) -> dict:
    if isinstance(value, str):
        return {"from": "gpt", "value": value}
    if isinstance(value, dict):
        return value
    raise Reject(
        R.WRONG_TYPE if value is not None else R.MISSING_MESSAGES,
        f"'{name}' is {type(value).__name__}",
    )


def wildfeedback(rec: dict, locator: str, limits: Limits) -> dict:
    """WildFeedback release ``wildfeedback.json``: ``conversations`` + ``chosen`` + ``rejected``.

    The conversation is the history followed by the rejected (original) response; the chosen
    response is kept in metadata.
    """
    history = rec.get("conversations")
    rejected = _sharegpt_turn(rec.get("rejected"), "rejected")
    chosen = _sharegpt_turn(rec.get("chosen"), "chosen")
    if not isinstance(history, list):
        normalise_messages(history, limits, "from", "value", ROLES_SHAREGPT, field="conversations")
    messages, extras = normalise_messages(
        history + [rejected], limits, "from", "value", ROLES_SHAREGPT, field="conversations"
    )
    chosen_msgs, _ = normalise_messages(
        history + [chosen], limits, "from", "value", ROLES_SHAREGPT, field="conversations"
    )
    meta = _rest(
        rec, ("id", "conversation_id", "conversations", "chosen", "rejected", "language", "model")
    )
    meta["chosen"] = chosen_msgs[-1]["content"]
    meta["message_fields"] = extras
    return _row(
        "wildfeedback",
        rec.get("conversation_id", rec.get("id")),
        messages,
        locator,
        meta,
        rec.get("language"),
        rec.get("model"),
    )


def wildfeedback_annotation(rec: dict, locator: str, limits: Limits) -> dict:
    """WildFeedback ``sat_dsat_annotation.json``, grouped: ``{"utterances": [flat rows]}``.

    Rows carry ``UtterranceId`` (restarting at each conversation), ``Role`` (User/Agent),
    ``Content``, ``Satisfaction`` and ``Disatisfaction``; the labels go to metadata.
    """
    rows = rec.get("utterances") or []
    messages, _ = normalise_messages(
        rows, limits, "Role", "Content", ROLES_ANNOTATION, field="utterances"
    )
    labels = [
        {
            "message_index": i,
            "utterance_id": r.get("UtterranceId"),
            "satisfaction": r.get("Satisfaction"),
            "dissatisfaction": r.get("Disatisfaction"),
        }
        for i, r in enumerate(rows)
        if r.get("Satisfaction") not in (None, "", [], 0, "0", False)
        or r.get("Disatisfaction") not in (None, "", [], 0, "0", False)
    ]
    skip = {"UtterranceId", "Role", "Content", "Satisfaction", "Disatisfaction"}
    extras = [{k: v for k, v in r.items() if k not in skip and v is not None} for r in rows]
    meta = {"annotations": labels, "message_fields": extras if any(extras) else None}
    cid = next((r.get("ConversationId") for r in rows if r.get("ConversationId") is not None), None)
    return _row("wildfeedback_annotation", cid, messages, locator, meta)


ADAPTERS: dict[str, Callable[[dict, str, Limits], dict]] = {
    "wildchat": wildchat,
    "lmsys": lmsys,
    "sharegpt": sharegpt,
    "openai": openai,
    "wildfeedback": wildfeedback,
    "wildfeedback_annotation": wildfeedback_annotation,
}
FORMATS: tuple[str, ...] = tuple(ADAPTERS)


def detect_format(keys: set[str] | list[str], file_name: str = "") -> str | None:
    """The adapter for a record with these top-level keys (None: not recognised)."""
    k = set(keys)
    if "UtterranceId" in k or {"Role", "Content"} <= k or "sat_dsat_annotation" in file_name:
        return "wildfeedback_annotation"
    if "conversation_hash" in k:
        return "wildchat"
    if "conversation" in k:
        return "lmsys" if "conversation_id" in k else "wildchat"
    if "conversations" in k and ("chosen" in k or "rejected" in k):
        return "wildfeedback"
    if "conversations" in k:
        return "sharegpt"
    if "messages" in k:
        return "openai"
    return None
