"""Pair rules: from labelled feedback turns (and generated responses) to preference pairs.

Pure Python, one conversation at a time, so the same code runs in a test, in a Spark Arrow UDF
and in a notebook. The assemble job (``jobs/assemble.py``) only joins tables and calls
:func:`conversation_candidates`, then applies the corpus-wide rules (duplicates, balancing).

Pair types
    generated       DSAT turn: prompt = history up to the response the user reacted to,
                    rejected = that response, chosen = the generated preferred response.
    on_policy       DSAT turn, on-policy run: chosen = the policy's response written with the
                    preferences, rejected = the policy's response written without them.
    sat_on_policy   SAT turn, on-policy run: chosen = the original response the user was
                    satisfied with, rejected = the policy's response written without preferences
                    (the user's approval is evidence for the original, none exists for the
                    policy's own answer).
    harvested       No model: a DSAT turn at index k, the assistant's revision at k+1, then
                    acceptance (the user's turn k+2 is SAT, or carries no DSAT, or the
                    conversation ends). chosen = revision, rejected = original (k-1),
                    prompt = the messages before the original.

Every SAT turn also yields an SFT example (prompt, satisfied response) when configured.

A candidate carries ``reject_reason`` (None when it passes the per-pair filters); duplicates
and balancing caps need the whole corpus and are applied by the job with the keys computed here
(:func:`dedup_key`, :func:`balance_key`), with the same semantics as :func:`corpus_filters`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import ids
from .rubric import DSAT, SAT

GENERATED = "generated"
ON_POLICY = "on_policy"
SAT_ON_POLICY = "sat_on_policy"
HARVESTED = "harvested"
PAIR_TYPES = (GENERATED, ON_POLICY, SAT_ON_POLICY, HARVESTED)
# Which duplicate survives when two pairs have the same (prompt, chosen, rejected).
TYPE_RANK = {GENERATED: 0, ON_POLICY: 1, SAT_ON_POLICY: 2, HARVESTED: 3}

# Rejection reasons (the manifest's rejected_by_reason keys).
R_EMPTY = "empty_response"
R_TRUNCATED = "truncated_response"
R_SAME = "chosen_equals_rejected"
R_PROMPT_ROLE = "prompt_not_ending_with_user"
R_PROMPT_LONG = "prompt_too_long"
R_SAFETY_FLAG = "safety_moderation_flag"
R_SAFETY_CLASSIFIER = "safety_classifier"
R_DUP_ID = "duplicate_pair_id"
R_DUP_PAIR = "duplicate_pair"
R_CAP_SIGNAL = "balance_signal_cap"
R_CAP_CATEGORY = "balance_category_cap"

# Why a DSAT turn gave no harvested candidate (statistics, not rejections: no pair was built).
H_NO_REVISION = "harvest_no_revision"
H_NOT_ACCEPTED = "harvest_not_accepted"
H_BAD_PROMPT = "harvest_prompt_not_user"


@dataclass(frozen=True)
class PairOptions:
    harvest: bool = True
    harvest_accept: str = "no_dsat"  # "sat" or "no_dsat"
    generated: bool = True
    sat_sft: bool = True
    max_prompt_chars: int = 24_000
    min_response_chars: int = 1
    drop_truncated: bool = True
    safety_drop_flagged: bool = True
    safety_classifier: str | None = None
    test_fraction: float = 0.05
    split_seed: int = 0
    balance_seed: int = 0

    @classmethod
    def from_config(cls, a: Any) -> PairOptions:
        """From a :class:`wfcore.config.AssembleConfig`."""
        return cls(
            harvest=a.harvest,
            harvest_accept=a.harvest_accept,
            generated=a.generated,
            sat_sft=a.sat_sft,
            max_prompt_chars=a.max_prompt_chars,
            min_response_chars=a.min_response_chars,
            drop_truncated=a.drop_truncated,
            safety_drop_flagged=a.safety_drop_flagged,
            safety_classifier=a.safety_classifier,
            test_fraction=a.split.test_fraction,
            split_seed=a.split.seed,
            balance_seed=a.balance.seed,
        )


# ---------------------------------------------------------------- small rules

_WS = re.compile(r"\s+")


def normalise(text: str | None) -> str:
    """Text for equality checks: NFKC, case-folded, whitespace collapsed."""
    if not text:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def signal_of(sat: bool | None, dsat: bool | None) -> str | None:
    """DSAT wins over SAT (a turn like "closer, but still too long" is a request to change)."""
    if dsat:
        return DSAT
    if sat:
        return SAT
    return None


def _hash_unit(*parts: Any) -> float:
    h = hashlib.blake2b(json.dumps(parts, default=str).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def split_of(cluster_id: str, seed: int, test_fraction: float) -> str:
    """train/test for a near-dup cluster: a hash of (seed, cluster), so a cluster never straddles."""
    return "test" if _hash_unit("split", int(seed), str(cluster_id)) < test_fraction else "train"


def balance_key(pair_id: str, seed: int) -> str:
    """Order in which pairs survive a balancing cap (lowest first): a seeded hash, deterministic."""
    return ids.content_id("balance", int(seed), pair_id)


def dedup_key(prompt: list[dict], chosen: str, rejected: str) -> str:
    return ids.content_id(
        "pairtext", [(m["role"], normalise(m["content"])) for m in prompt], normalise(chosen), normalise(rejected)
    )


def prompt_chars(prompt: list[dict]) -> int:
    return sum(len(m.get("content") or "") for m in prompt)


def load_hook(spec: str | None) -> Callable[[str], bool] | None:
    """``module:function`` -> the function (a safety classifier: text -> True when unsafe)."""
    if not spec:
        return None
    if ":" not in spec:
        raise ValueError(f"safety_classifier must be 'module:function', got {spec!r}")
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn)


def _preferences_for(turn: dict, categories: list[str], signal: str) -> tuple[list[str], str | None]:
    """Preferences from the preferences stage, else extracted from the feedback turn's words."""
    if turn.get("preferences"):
        return list(turn["preferences"]), turn.get("pref_prompt_version")
    try:
        from .extract import extract_preferences
    except ImportError:
        return [], None
    return list(extract_preferences(turn.get("user_message") or "", categories, signal)), "extract"


def _messages(msgs: Iterable[dict] | None) -> list[dict]:
    return [{"role": m["role"], "content": m["content"] or ""} for m in (msgs or [])]


# ---------------------------------------------------------------- building candidates


def _lineage(turn: dict, extra: dict[str, dict | None]) -> tuple[str, str]:
    versions = {"detect": turn.get("fb_prompt_version")}
    tokens = {"detect": {"in": turn.get("fb_tokens_in"), "out": turn.get("fb_tokens_out")}}
    for stage, src in extra.items():
        if src:
            versions[stage] = src.get("prompt_version")
            tokens[stage] = {"in": src.get("tokens_in"), "out": src.get("tokens_out")}
    versions = {k: v for k, v in versions.items() if v}
    tokens = {k: v for k, v in tokens.items() if v["in"] is not None or v["out"] is not None}
    return json.dumps(versions, sort_keys=True), json.dumps(tokens, sort_keys=True)


def _candidate(conv: dict, turn: dict, pair_type: str, prompt: list[dict], chosen: str, rejected: str,
               signal: str, categories: list[str], chosen_model: str | None, rejected_model: str | None,
               generated_sides: list[dict], opts: PairOptions) -> dict:
    cluster = conv.get("cluster_id") or turn.get("cluster_id") or conv["conversation_id"]
    preferences, pref_version = _preferences_for(turn, categories, signal)
    pref_src = None
    if turn.get("preferences"):
        pref_src = {"prompt_version": pref_version, "tokens_in": turn.get("pref_tokens_in"),
                    "tokens_out": turn.get("pref_tokens_out")}
    elif pref_version:
        pref_src = {"prompt_version": pref_version}
    extra: dict[str, dict | None] = {"preferences": pref_src}
    for side in generated_sides:
        extra["respond" if side.get("variant", "preferred") == "preferred" else "respond_unconditioned"] = side
    versions, tokens = _lineage(turn, extra)
    pid = ids.pair_id(conv["conversation_id"], turn["message_index"], pair_type, chosen, rejected)
    row = {
        "pair_id": pid,
        "conversation_id": conv["conversation_id"],
        "message_index": int(turn["message_index"]),
        "source": conv.get("source") or turn.get("source"),
        "cluster_id": cluster,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "pair_type": pair_type,
        "signal": signal,
        "categories": list(categories),
        "preferences": preferences,
        "split": split_of(cluster, opts.split_seed, opts.test_fraction),
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "detector": turn.get("detector"),
        "prompt_versions": versions,
        "tokens": tokens,
        "judge": None,  # set by assemble.judge_on_policy
    }
    row["reject_reason"] = pair_filter(row, conv, generated_sides, opts)
    return row


_classifier_cache: dict[str, Callable[[str], bool] | None] = {}


def pair_filter(pair: dict, conv: dict, generated_sides: list[dict], opts: PairOptions) -> str | None:
    """The first per-pair filter a candidate fails (None: it passes), in a fixed order."""
    n = opts.min_response_chars
    if len((pair["chosen"] or "").strip()) < max(n, 1) or len((pair["rejected"] or "").strip()) < max(n, 1):
        return R_EMPTY
    if opts.drop_truncated and any(s.get("finish_reason") == "length" for s in generated_sides):
        return R_TRUNCATED
    if normalise(pair["chosen"]) == normalise(pair["rejected"]):
        return R_SAME
    if not pair["prompt"] or pair["prompt"][-1]["role"] != "user":
        return R_PROMPT_ROLE
    if prompt_chars(pair["prompt"]) > opts.max_prompt_chars:
        return R_PROMPT_LONG
    if opts.safety_drop_flagged and conv.get("moderation_flagged"):
        return R_SAFETY_FLAG
    if opts.safety_classifier:
        if opts.safety_classifier not in _classifier_cache:
            _classifier_cache[opts.safety_classifier] = load_hook(opts.safety_classifier)
        clf = _classifier_cache[opts.safety_classifier]
        if clf is not None and clf(pair["chosen"]):
            return R_SAFETY_CLASSIFIER
    return None


def _turn_categories(turn: dict, signal: str) -> list[str]:
    return list(turn.get("dsat_categories" if signal == DSAT else "sat_categories") or [])


def generated_candidates(conv: dict, turn: dict, opts: PairOptions) -> list[dict]:
    """Pairs from generated responses for one labelled turn (see the module docstring)."""
    signal = signal_of(turn.get("sat"), turn.get("dsat"))
    pref, uncond = turn.get("preferred"), turn.get("unconditioned")
    if signal is None or not opts.generated:
        return []
    prompt = _messages(turn.get("history"))
    cats = _turn_categories(turn, signal)
    out = []
    if signal == DSAT and pref is not None and uncond is not None:
        p, u = dict(pref, variant="preferred"), dict(uncond, variant="unconditioned")
        out.append(_candidate(conv, turn, ON_POLICY, prompt, pref.get("response") or "", uncond.get("response") or "",
                              signal, cats, pref.get("model"), uncond.get("model"), [p, u], opts))
    elif signal == DSAT and pref is not None:
        p = dict(pref, variant="preferred")
        out.append(_candidate(conv, turn, GENERATED, prompt, pref.get("response") or "", turn.get("response") or "",
                              signal, cats, pref.get("model"), turn.get("model") or conv.get("model"), [p], opts))
    elif signal == SAT and uncond is not None:
        u = dict(uncond, variant="unconditioned")
        out.append(_candidate(conv, turn, SAT_ON_POLICY, prompt, turn.get("response") or "", uncond.get("response") or "",
                              signal, cats, turn.get("model") or conv.get("model"), uncond.get("model"), [u], opts))
    return out


def harvest_candidates(conv: dict, turns_by_index: dict[int, dict], opts: PairOptions) -> tuple[list[dict], dict[str, int]]:
    """Harvested pairs of one conversation, and why other DSAT turns gave none (counts)."""
    skipped: dict[str, int] = {}
    msgs = _messages(conv.get("messages"))
    if not opts.harvest or not msgs:
        return [], skipped
    out = []
    for k in sorted(turns_by_index):
        turn = turns_by_index[k]
        if signal_of(turn.get("sat"), turn.get("dsat")) != DSAT:
            continue
        if not (1 <= k - 1 and k + 1 < len(msgs) and msgs[k]["role"] == "user"
                and msgs[k - 1]["role"] == "assistant" and msgs[k + 1]["role"] == "assistant"):
            skipped[H_NO_REVISION] = skipped.get(H_NO_REVISION, 0) + 1
            continue
        if not _accepted(msgs, turns_by_index, k + 2, opts.harvest_accept):
            skipped[H_NOT_ACCEPTED] = skipped.get(H_NOT_ACCEPTED, 0) + 1
            continue
        prompt = msgs[: k - 1]
        if not prompt or prompt[-1]["role"] != "user":
            skipped[H_BAD_PROMPT] = skipped.get(H_BAD_PROMPT, 0) + 1
            continue
        model = turn.get("model") or conv.get("model")
        out.append(_candidate(conv, turn, HARVESTED, prompt, msgs[k + 1]["content"], msgs[k - 1]["content"],
                              DSAT, _turn_categories(turn, DSAT), model, model, [], opts))
    return out, skipped


def _accepted(msgs: list[dict], turns_by_index: dict[int, dict], j: int, mode: str) -> bool:
    """Did the user accept the revision? ``j`` is the index of the user's next message."""
    if j >= len(msgs):
        return mode == "no_dsat"  # the conversation ends after the revision
    nxt = turns_by_index.get(j)
    sig = signal_of(nxt.get("sat"), nxt.get("dsat")) if nxt else None
    if mode == "sat":
        return sig == SAT
    return sig != DSAT


def sft_example(conv: dict, turn: dict, opts: PairOptions) -> dict | None:
    """A SAT turn's satisfied response as an SFT example (None when it fails the filters)."""
    if not opts.sat_sft or signal_of(turn.get("sat"), turn.get("dsat")) != SAT:
        return None
    prompt = _messages(turn.get("history"))
    response = turn.get("response") or ""
    if len(response.strip()) < max(opts.min_response_chars, 1) or not prompt or prompt[-1]["role"] != "user":
        return None
    if prompt_chars(prompt) > opts.max_prompt_chars or (opts.safety_drop_flagged and conv.get("moderation_flagged")):
        return None
    cluster = conv.get("cluster_id") or turn.get("cluster_id") or conv["conversation_id"]
    return {
        "sft_id": "s" + ids.content_id("sft", conv["conversation_id"], int(turn["message_index"]), response),
        "conversation_id": conv["conversation_id"],
        "message_index": int(turn["message_index"]),
        "source": conv.get("source") or turn.get("source"),
        "cluster_id": cluster,
        "prompt": prompt,
        "response": response,
        "categories": _turn_categories(turn, SAT),
        "split": split_of(cluster, opts.split_seed, opts.test_fraction),
        "model": turn.get("model") or conv.get("model"),
        "detector": turn.get("detector"),
    }


def conversation_candidates(conv: dict, opts: PairOptions) -> tuple[list[dict], list[dict], dict[str, int]]:
    """All candidate pairs, SFT examples and harvest statistics of one conversation.

    ``conv`` has ``conversation_id``, ``source``, ``cluster_id``, ``moderation_flagged``,
    ``model``, ``messages`` (may be None: no harvesting) and ``turns``: the conversation's
    labelled turns (turn columns + feedback + preferences + ``preferred``/``unconditioned``
    response structs).
    """
    turns = {int(t["message_index"]): t for t in conv.get("turns") or []}
    pairs: list[dict] = []
    sft: list[dict] = []
    for k in sorted(turns):
        pairs.extend(generated_candidates(conv, turns[k], opts))
        ex = sft_example(conv, turns[k], opts)
        if ex is not None:
            sft.append(ex)
    harvested, skipped = harvest_candidates(conv, turns, opts)
    pairs.extend(harvested)
    for p in pairs:
        p["dedup_key"] = dedup_key(p["prompt"], p["chosen"], p["rejected"])
        p["balance_key"] = balance_key(p["pair_id"], opts.balance_seed)
    return pairs, sft, skipped


# ---------------------------------------------------------------- corpus-wide rules (reference)


def primary_category(categories: list[str] | None) -> str:
    return categories[0] if categories else ""


def corpus_filters(pairs: list[dict], max_per_signal: dict[str, int] | None = None,
                   max_per_category: int | None = None) -> list[dict]:
    """Duplicates, then balancing caps, over candidates that passed the per-pair filters.

    Sets ``reject_reason`` in place and returns the list. The Spark job applies the same rules
    with window functions; this is their reference (and what tests and small runs use).
    """
    live = [p for p in pairs if p.get("reject_reason") is None]
    order = sorted(live, key=lambda p: (TYPE_RANK.get(p["pair_type"], 9), p["pair_id"], p["conversation_id"], p["message_index"]))
    seen_id: set[str] = set()
    seen_text: set[str] = set()
    for p in order:
        if p["pair_id"] in seen_id:
            p["reject_reason"] = R_DUP_ID
        elif p["dedup_key"] in seen_text:
            p["reject_reason"] = R_DUP_PAIR
        else:
            seen_id.add(p["pair_id"])
            seen_text.add(p["dedup_key"])
    for reason, key, cap_of in (
        (R_CAP_SIGNAL, lambda p: p["signal"], lambda g: (max_per_signal or {}).get(g)),
        (R_CAP_CATEGORY, lambda p: primary_category(p["categories"]), lambda g: max_per_category),
    ):
        count: dict[str, int] = {}
        for p in sorted((p for p in pairs if p.get("reject_reason") is None), key=lambda p: p["balance_key"]):
            g = key(p)
            cap = cap_of(g)
            count[g] = count.get(g, 0) + 1
            if cap is not None and count[g] > cap:
                p["reject_reason"] = reason
    return pairs
