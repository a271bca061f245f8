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
                    prompt = the messages before the original. The revision answered feedback
                    the prompt does not contain: an opener that refers to it ("You're right,
                    ...", "Here's a shorter version:") is removed when the rest stands alone,
                    else the pair is dropped (:func:`strip_feedback_opener`).

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
R_CHOSEN_REFERS_TO_FEEDBACK = "chosen_refers_to_feedback"  # harvested: the revision answers feedback not in the prompt
R_DUP_ID = "duplicate_pair_id"
R_DUP_PAIR = "duplicate_pair"
R_CAP_SIGNAL = "balance_signal_cap"
R_CAP_CATEGORY = "balance_category_cap"

# Why a DSAT turn gave no harvested candidate (statistics, not rejections: no pair was built).
H_NO_REVISION = "harvest_no_revision"
H_NOT_ACCEPTED = "harvest_not_accepted"
H_BAD_PROMPT = "harvest_prompt_not_user"
# Harvested candidates whose chosen revision had its feedback opener removed (a statistic, not a rejection).
H_OPENER_REMOVED = "harvest_opener_removed"


@dataclass(frozen=True)
class PairOptions:
    harvest: bool = True
    harvest_accept: str = "no_dsat"  # "sat" or "no_dsat"
    strip_feedback_openers: bool = True
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
            strip_feedback_openers=a.strip_feedback_openers,
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


# ---------------------------------------------------------------- harvested chosen: openers that answer feedback
#
# A harvested chosen is the assistant's revision: it answered the user's feedback (turn k), but the
# pair's prompt stops before that feedback. A revision that opens by referring to it ("You're
# right, ...", "Apologies for the confusion.", "Here's a shorter version:") would teach a model to
# apologise to a first request. The opener (its first sentences or clause) is removed when the rest
# stands alone, else the pair is dropped (R_CHOSEN_REFERS_TO_FEEDBACK). English only, and only what
# these patterns name: other languages and references later in the text pass unchanged.

_REVISED = (
    r"revised|updated|corrected|modified|rewritten|re-?written|edited|improved|amended|adjusted|fixed|"
    r"reworded|rephrased|refined|shortened|condensed|expanded|simplified|tweaked|polished|reworked|"
    r"shorter|longer|simpler|clearer|briefer|better|tighter|more|less"
)
_REVISED_VERBS = (
    r"revised|updated|corrected|modified|rewritten|re-?written|edited|improved|amended|adjusted|fixed|"
    r"reworded|rephrased|refined|shortened|condensed|expanded|simplified|tweaked|polished|reworked|changed"
)
_POLITE = r"(?:sure|certainly|of\s+course|absolutely|okay|ok|alright|all\s+right|no\s+problem|got\s+it|understood)"
# Openers whose clause may end at a comma ("You're right, the capital is Canberra.").
_CLAUSE_OPENERS = re.compile(
    rf"(?:{_POLITE}[,!.]?\s+)?(?:"
    r"(?:my\s+)?apolog(?:y|ies)\b|i\s+(?:do\s+|sincerely\s+)?apologi[sz]e\b"
    r"|(?:(?:i'?m|i\s+am)\s+(?:so\s+|very\s+|really\s+|truly\s+|terribly\s+)?)?sorry\b(?!\s+to\s+hear)(?!"
    r"[,.!]?\s*(?:but\s+)?(?:i|as\s+an\s+ai)\b[^.!?\n]{0,20}?\b(?:can't|cannot|can\s+not|won't|will\s+not|unable|not\s+able|couldn't))"
    r"|(?:oops|whoops)\b"
    r"|you(?:'re|\s+are)\s+(?:absolutely\s+|completely\s+|quite\s+|totally\s+|entirely\s+|definitely\s+)?(?:right|correct)\b"
    r"|my\s+(?:mistake|bad|error)\b|good\s+(?:catch|point)\b|fair\s+point\b|point\s+taken\b"
    r"|(?:that|this)\s+was\s+(?:wrong|incorrect|a\s+mistake|an\s+error|my\s+mistake)\b"
    r"|i\s+(?:have\s+)?made\s+(?:a|an)\s+(?:mistake|error)\b|i\s+misunderstood\b|i\s+missed\s+(?:that|this|it)\b"
    r"|(?:ah|oh|okay|ok)[,!]?\s+i\s+(?:see|understand)\b|i\s+see\s+(?:what\s+you\s+mean|now|the\s+(?:mistake|error|issue|problem|confusion))\b"
    r"|thank(?:s|\s+you)\b(?!\s+to\b)|you(?:'re|\s+are)\s+(?:very\s+|most\s+|so\s+)?welcome\b"
    r"|(?:(?:i'?m|i\s+am)\s+(?:so\s+|really\s+|very\s+)?)?glad\s+(?:it|that|this|you|i)\b|(?:great|good|glad|happy)\s+to\s+hear\b|done\b(?=\s*[,.!:])"
    r")",
    re.IGNORECASE,
)
# Openers that hand over the revision: the clause runs to the end of the sentence or a colon.
_DELIVERY_OPENERS = re.compile(
    rf"(?:{_POLITE}[,!.]?\s+)?(?:"
    rf"here(?:'s|\s+is|\s+are)\s+(?:a|an|the|your|my|some|a\s+few)\s+(?:[\w-]+\s+)?(?:{_REVISED})\b"
    rf"|here(?:'s|\s+is|\s+are)\s+(?:a|an|the)\s+(?:new|another|different|alternative)\s+(?:version|take|attempt|try|approach|option)"
    rf"|here(?:'s|\s+is)\s+another\b|here\s+it\s+is\s+(?:again|in\s+a\s+different|with)\b"
    rf"|here(?:'s|\s+is|\s+are)\s+(?:some\s+)?(?:more|{_REVISED})\b|going\s+back\s+to\b"
    rf"|i(?:'ve|\s+have)\s+(?:now\s+)?(?:{_REVISED_VERBS})\b"
    rf"|(?:{_REVISED_VERBS})(?:\s+(?:as|with|per|below)\b|\s*:)"
    rf"|as\s+(?:you\s+)?(?:requested|asked|suggested|instructed)\b|as\s+per\s+your\s+(?:request|feedback|suggestion|instructions?)\b"
    rf"|let\s+me\s+(?:try\s+(?:again|that\s+again|once\s+more|a\s+different|another)|revise|rewrite|correct|fix|rephrase|clarify|go\s+deeper|elaborate)\b"
    rf"|correction\s*:|(?:{_REVISED})\s+(?:version|text|code|response|answer|draft)\s*:"
    rf")",
    re.IGNORECASE,
)
# A first sentence left after the opener that still points back at the feedback or the old answer.
_BACK_REFERENCE = re.compile(
    r"\b(?:previous(?:ly)?|revised|updated|corrected|confusion|oversight|misunderstanding|"
    r"(?:my|the|that|your)\s+(?:original|previous|earlier|last|prior|first|initial)\s+"
    r"(?:answer|response|reply|version|code|text|message|draft|attempt|one|request|question)|"
    r"my\s+mistake|(?:that|those|these|your)\s+changes?|"
    r"as\s+you\s+(?:said|mentioned|requested|asked|pointed|suggested|noted)|you(?:'re|\s+are)\s+right|"
    r"you\s+(?:mentioned|pointed|said|asked|noted)|your\s+(?:feedback|input|correction|clarification|suggestion|comments?))\b",
    re.IGNORECASE,
)
# A rest that is only a sign-off ("Let me know if ...") is no answer on its own.
_SIGN_OFF = re.compile(
    r"(?:feel\s+free|don't\s+hesitate|do\s+not\s+hesitate|let\s+me\s+know|if\s+you\s+have\s+any|have\s+a\s+(?:great|good|nice)|"
    r"i'?m\s+(?:here|happy|always\s+here)\s+to\s+help|happy\s+to\s+help|hope\s+(?:this|that)\s+helps)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|:|\n")
_CLAUSE_END = re.compile(r"[.!?](?=\s|$)|[:;,\n]|\s[-\u2013\u2014]\s")
_EXTEND = {"and", "which", "as", "for", "since", "because", "especially", "particularly", "thanks", "thank", "with"}
_THROUGH = {"but", "however", "though", "although"}
_WORD = re.compile(r"[A-Za-z']+")

OPENER_REMOVED = "opener_removed"
OPENER_DROPPED = "refers_to_feedback"


def _opener_end(text: str, pos: int) -> int | None:
    """End of the feedback opener starting at ``pos`` (the clause or sentence it opens), or None.

    ``text`` has straight apostrophes (callers replace U+2019, keeping every index).
    """
    m = _DELIVERY_OPENERS.match(text, pos)
    if m:
        if m.group(0).endswith(":"):
            return m.end()
        end = _SENTENCE_END.search(text, m.end())
        return end.end() if end else len(text)
    m = _CLAUSE_OPENERS.match(text, pos)
    if not m:
        return None
    end = _CLAUSE_END.search(text, m.end())
    if end is None:
        return len(text)
    if end.group(0).strip() not in (",", ";", "-", "\u2013", "\u2014"):
        return end.end()  # the sentence (or a colon, a line) ends the opener
    j = end.end()
    while j < len(text) and text[j].isspace():
        j += 1
    word = _WORD.match(text, j)
    nxt = word.group(0).lower() if word else ""
    if nxt in _EXTEND:  # "I apologise for the oversight, and thank you ...": the whole sentence
        sent = _SENTENCE_END.search(text, end.end())
        return sent.end() if sent else len(text)
    if nxt in _THROUGH:  # "Sorry, but the answer is ...": through the connective
        return word.end()
    return end.end()


def opens_with_feedback_reference(text: str | None) -> bool:
    """Does ``text`` open by referring to feedback ("Apologies for the confusion", "You're right", ...)?"""
    if not text:
        return False
    probe = text.replace("\u2019", "'")
    return _opener_end(probe, len(probe) - len(probe.lstrip())) is not None


def strip_feedback_opener(text: str, max_openers: int = 4) -> tuple[str, str | None]:
    """``(text, outcome)`` for a harvested chosen revision.

    outcome None: no feedback opener, text unchanged; ``OPENER_REMOVED``: the opener (up to
    ``max_openers`` consecutive openers) was removed and the rest returned, first letter
    capitalised; ``OPENER_DROPPED``: nothing that stands alone is left (no words, only a sign-off,
    or the next sentence still points back at the feedback), the text is returned unchanged.
    """
    probe = text.replace("\u2019", "'")
    pos = len(probe) - len(probe.lstrip())
    removed = 0
    while removed < max_openers:
        end = _opener_end(probe, pos)
        if end is None:
            break
        removed += 1
        pos = end + len(probe[end:]) - len(probe[end:].lstrip())
    if not removed:
        return text, None
    rest = text[pos:]
    first = _SENTENCE_END.split(probe[pos:], maxsplit=1)[0]
    if (not any(c.isalnum() for c in rest) or _BACK_REFERENCE.search(first) or _SIGN_OFF.match(probe, pos)
            or _opener_end(probe, pos) is not None):
        return text, OPENER_DROPPED
    return (rest[0].upper() + rest[1:] if rest[0].islower() else rest), OPENER_REMOVED


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
               generated_sides: list[dict], opts: PairOptions, opener: str | None = None) -> dict:
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
    row["reject_reason"] = pair_filter(row, conv, generated_sides, opts, opener)
    return row


_classifier_cache: dict[str, Callable[[str], bool] | None] = {}


def pair_filter(pair: dict, conv: dict, generated_sides: list[dict], opts: PairOptions,
                opener: str | None = None) -> str | None:
    """The first per-example filter a candidate fails (None: it passes), in a fixed order.

    The one filter of both training outputs: a pair (``prompt``, ``chosen``, ``rejected``) and an
    SFT example (``prompt``, ``chosen`` = the satisfied response, ``rejected`` None: the checks
    on a second side are skipped). ``opener`` is the outcome of :func:`strip_feedback_opener` on
    a harvested chosen.
    """
    n = max(opts.min_response_chars, 1)
    sides = [pair["chosen"]] + ([pair["rejected"]] if pair.get("rejected") is not None else [])
    if any(len((side or "").strip()) < n for side in sides):
        return R_EMPTY
    if opts.drop_truncated and any(s.get("finish_reason") == "length" for s in generated_sides):
        return R_TRUNCATED
    if pair.get("rejected") is not None and normalise(pair["chosen"]) == normalise(pair["rejected"]):
        return R_SAME
    if opener == OPENER_DROPPED:
        return R_CHOSEN_REFERS_TO_FEEDBACK
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
        chosen, opener = msgs[k + 1]["content"], None
        if opts.strip_feedback_openers:
            chosen, opener = strip_feedback_opener(chosen)
            if opener == OPENER_REMOVED:
                skipped[H_OPENER_REMOVED] = skipped.get(H_OPENER_REMOVED, 0) + 1
        out.append(_candidate(conv, turn, HARVESTED, prompt, chosen, msgs[k - 1]["content"],
                              DSAT, _turn_categories(turn, DSAT), model, model, [], opts, opener))
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
    """A SAT turn's satisfied response as an SFT example (None when the turn gives none).

    The row carries ``reject_reason``: the verdict of :func:`pair_filter`, the same filter as the
    pairs' (empty response, prompt role and length, moderation flag, safety classifier).
    """
    if not opts.sat_sft or signal_of(turn.get("sat"), turn.get("dsat")) != SAT:
        return None
    prompt = _messages(turn.get("history"))
    response = turn.get("response") or ""
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
        "reject_reason": pair_filter({"prompt": prompt, "chosen": response, "rejected": None}, conv, [], opts),
    }


def conversation_candidates(conv: dict, opts: PairOptions) -> tuple[list[dict], list[dict], dict[str, int]]:
    """All candidate pairs, SFT examples and harvest statistics of one conversation.

    Pairs and SFT examples both carry ``reject_reason`` (None: kept), from :func:`pair_filter`.

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
