"""Conversation filters of the prepare stage: pure predicates returning a reason code.

Each filter is configurable (``PrepareConfig``) and counted per reason in the manifest. The
first failing filter, in the order of ``REASONS``, names the drop.

Empty messages (null or blank, kept and counted by ingest: :func:`wfcore.schema.is_empty`) never
drop a conversation: ``min_message_chars`` judges only messages with content, and
``min_user_turns`` counts only user messages with content. The turn and pair rules keep them
out of what is used (no candidate turn on an empty user message, no pair with an empty side).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .config import PrepareConfig
from .schema import is_empty

REASONS = (
    "language",
    "moderation_flagged",
    "toxic",
    "redacted",
    "too_few_user_turns",
    "message_too_short",
    "message_too_long",
    "conversation_too_long",
)

# Markers sources leave where they removed content (WildChat/LMSYS style anonymisation).
REDACTION_MARKERS = ("[REDACTED]", "<REDACTED>", "NAME_1", "<PRESIDIO_ANONYMIZED")


def has_redaction_marker(messages: Sequence[dict]) -> bool:
    return any(mk in (m.get("content") or "") for m in messages for mk in REDACTION_MARKERS)


def filter_reason(conv: dict[str, Any], cfg: PrepareConfig) -> tuple[str, str] | None:
    """(reason, detail) of the first filter ``conv`` fails, or None when it passes them all."""
    messages = conv.get("messages") or []
    if cfg.languages and conv.get("language") not in cfg.languages:
        return "language", str(conv.get("language"))
    if cfg.drop_moderation_flagged and conv.get("moderation_flagged"):
        return "moderation_flagged", ""
    if cfg.drop_toxic and conv.get("toxic"):
        return "toxic", ""
    if cfg.drop_redacted and (conv.get("redacted") or has_redaction_marker(messages)):
        return "redacted", "source flag" if conv.get("redacted") else "content marker"
    users = sum(1 for m in messages if m.get("role") == "user" and not is_empty(m.get("content")))
    if users < cfg.min_user_turns:
        return "too_few_user_turns", f"{users} < {cfg.min_user_turns}"
    total = 0
    for i, m in enumerate(messages):
        content = m.get("content") or ""
        n = len(content.strip())
        if 0 < n < cfg.min_message_chars:
            return "message_too_short", f"message {i}: {n} chars"
        if len(content) > cfg.max_message_chars:
            return "message_too_long", f"message {i}: {len(content)} chars"
        total += len(content)
    if total > cfg.max_conversation_chars:
        return "conversation_too_long", f"{total} chars"
    return None
