"""Content-derived ids: the same content always gives the same id, on any machine."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_id(*parts: Any, length: int = 20) -> str:
    """A stable hex id from the JSON rendering of ``parts`` (blake2b, ``length`` hex chars)."""
    payload = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()[:length]


def conversation_id_from_messages(source: str, messages: list[dict]) -> str:
    """Id for a conversation whose source gives none: a hash of its messages."""
    return "h" + content_id("conversation", [(m.get("role"), m.get("content")) for m in messages])


def turn_id(conversation_id: str, message_index: int) -> str:
    return "t" + content_id("turn", conversation_id, int(message_index))


def pair_id(conversation_id: str, message_index: int, pair_type: str, chosen: str, rejected: str) -> str:
    return "p" + content_id("pair", conversation_id, int(message_index), pair_type, chosen, rejected)
