"""Candidate feedback turns: a user message at index i >= 2 right after an assistant message.

An empty assistant message (the model failed to answer) still has a turn after it: the user's
reaction to no answer, usually the request again, is feedback. An empty user message is no
candidate: there is nothing to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .ids import turn_id
from .schema import is_empty

# Conversation columns copied onto each of its turns.
CARRIED = ("source", "language", "model", "cluster_id", "moderation_flagged")


def candidate_indices(messages: Sequence[dict]) -> list[int]:
    """Indices i >= 2 of non-empty user messages whose previous message is the assistant's (empty or not)."""
    return [
        i
        for i in range(2, len(messages))
        if messages[i].get("role") == "user"
        and messages[i - 1].get("role") == "assistant"
        and not is_empty(messages[i].get("content"))
    ]


def explode(conv: dict[str, Any]) -> list[dict[str, Any]]:
    """One TURNS row (without ``shard``) per candidate turn of ``conv``, in message order.

    ``history`` is every message before the assistant response the user reacts to.
    """
    messages = list(conv.get("messages") or [])
    cid = conv["conversation_id"]
    rows = []
    for i in candidate_indices(messages):
        row = {
            "turn_id": turn_id(cid, i),
            "conversation_id": cid,
            "message_index": i,
            "history": [
                {"role": m.get("role"), "content": m.get("content")} for m in messages[: i - 1]
            ],
            "response": messages[i - 1].get("content"),
            "user_message": messages[i].get("content"),
        }
        for c in CARRIED:
            row[c] = conv.get(c)
        rows.append(row)
    return rows
