"""Planted conversations for the pair-rule tests (shared by test_pairs and test_assemble)."""

from __future__ import annotations

from wfcore import turns


def msgs(*texts: str) -> list[dict]:
    """Alternating user/assistant messages, starting with the user."""
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)
    ]


def turn_rows(
    conversation_id: str,
    messages: list[dict],
    cluster_id: str | None = None,
    flagged: bool = False,
    source: str = "synthetic",
    model: str = "gpt-x",
) -> list[dict]:
    """TURNS rows as prepare writes them (prepare's own rule, :func:`wfcore.turns.explode`)."""
    conv = {
        "conversation_id": conversation_id,
        "messages": messages,
        "source": source,
        "language": "English",
        "model": model,
        "cluster_id": cluster_id or conversation_id,
        "moderation_flagged": flagged,
    }
    return [dict(row, shard=0) for row in turns.explode(conv)]


def feedback_row(turn: dict, signal: str | None, categories: list[str] | None = None) -> dict:
    cats = categories or (
        ["Revision"] if signal == "DSAT" else ["Gratitude"] if signal == "SAT" else []
    )
    return {
        "turn_id": turn["turn_id"],
        "conversation_id": turn["conversation_id"],
        "message_index": turn["message_index"],
        "sat": signal == "SAT",
        "dsat": signal == "DSAT",
        "sat_categories": cats if signal == "SAT" else [],
        "dsat_categories": cats if signal == "DSAT" else [],
        "evidence": "",
        "detector": "lexical",
        "shard": 0,
        "model": None,
        "prompt_version": "lexical-1",
        "sampling": None,
        "tokens_in": None,
        "tokens_out": None,
        "error": None,
        "raw_output": None,
    }


def response_row(turn: dict, variant: str, text: str, finish_reason: str = "stop") -> dict:
    return {
        "turn_id": turn["turn_id"],
        "conversation_id": turn["conversation_id"],
        "message_index": turn["message_index"],
        "variant": variant,
        "response": text,
        "finish_reason": finish_reason,
        "shard": 0,
        "model": "policy" if variant == "unconditioned" else "writer",
        "prompt_version": "respond-1",
        "sampling": "{}",
        "tokens_in": 10,
        "tokens_out": 5,
        "error": None,
        "raw_output": None,
    }


def preference_row(turn: dict, signal: str, prefs: list[str]) -> dict:
    return {
        "turn_id": turn["turn_id"],
        "conversation_id": turn["conversation_id"],
        "message_index": turn["message_index"],
        "signal": signal,
        "preferences": prefs,
        "shard": 0,
        "model": "m",
        "prompt_version": "prefs-1",
        "sampling": "{}",
        "tokens_in": 3,
        "tokens_out": 2,
        "error": None,
        "raw_output": None,
    }


def conv(
    conversation_id: str,
    messages: list[dict],
    labels: dict[int, str],
    responses: dict | None = None,
    preferences: dict | None = None,
    flagged: bool = False,
    cluster_id: str | None = None,
) -> dict:
    """A conversation as the assemble UDF receives it (labelled turns joined per conversation)."""
    turns = []
    for t in turn_rows(conversation_id, messages, cluster_id, flagged):
        k = t["message_index"]
        if k not in labels:
            continue
        fb = feedback_row(t, labels[k])
        row = {
            **t,
            **{c: fb[c] for c in ("sat", "dsat", "sat_categories", "dsat_categories", "detector")},
        }
        row["fb_prompt_version"] = fb["prompt_version"]
        sides = (responses or {}).get(k, {})
        for variant in ("preferred", "unconditioned"):
            if variant in sides:
                text, finish = (
                    sides[variant]
                    if isinstance(sides[variant], tuple)
                    else (sides[variant], "stop")
                )
                row[variant] = {
                    "response": text,
                    "finish_reason": finish,
                    "model": variant,
                    "prompt_version": "r1",
                    "tokens_in": 1,
                    "tokens_out": 1,
                }
        row["preferences"] = (preferences or {}).get(k)
        turns.append(row)
    return {
        "conversation_id": conversation_id,
        "source": "synthetic",
        "cluster_id": cluster_id or conversation_id,
        "moderation_flagged": flagged,
        "model": "gpt-x",
        "messages": messages,
        "turns": turns,
    }
