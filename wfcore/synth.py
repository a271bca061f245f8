"""Synthetic chat corpus with ground truth: realistic multi-turn conversations in published layouts.

    generate(conversations=100_000, seed=7, output="s3://bucket/synth", format="wildchat")

Conversation ``i`` is a pure function of ``(seed, i)``: output is identical for the same seed on
any machine, and it is produced one shard at a time (bounded memory at any size). Duplicates are
re-derived from the earlier index they copy, so nothing is remembered across shards.

What is planted (and recorded per user turn in the ``_truth.parquet`` sidecar, marked synthetic):
all 18 rubric categories in varied phrasings, feedback opening the turn or in mid-message,
mixed SAT+DSAT turns, neutral follow-ups, repeats of the previous request (DSAT Revision),
DSAT -> assistant revision -> acceptance sequences (the source of harvested pairs), non-English
conversations, moderation-flagged / toxic ones, exact and near duplicates, malformed records.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from . import ids, storage
from . import synth_phrases as P
from .rubric import DSAT_CATEGORIES, SAT_CATEGORIES

FORMATS = ("wildchat", "wildchat_jsonl", "lmsys", "sharegpt", "openai")

# Malformed kinds each layout can carry (Parquet has a fixed schema: no bad JSON, no wrong types).
MALFORMED_PARQUET = ("empty_content", "unknown_role", "missing_role", "no_user_turn", "missing_messages")
MALFORMED_JSONL = MALFORMED_PARQUET + (
    "malformed_json", "invalid_utf8", "not_an_object", "non_string_content", "wrong_type",
)

MOD_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
                  "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
                  "violence/graphic")
DETOXIFY = ("identity_attack", "insult", "obscene", "severe_toxicity", "sexual_explicit", "threat", "toxicity")
MODELS = ("gpt-3.5-turbo-0613", "gpt-4-0314", "gpt-3.5-turbo-0125", "gpt-4-1106-preview")
_EPOCH = _dt.datetime(2023, 4, 9, tzinfo=_dt.UTC)

WILDCHAT_SCHEMA = pa.schema([
    ("conversation_hash", pa.string()),
    ("model", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("conversation", pa.list_(pa.struct([
        ("content", pa.string()), ("language", pa.string()), ("redacted", pa.bool_()),
        ("role", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")), ("toxic", pa.bool_()),
        ("turn_identifier", pa.int64()),
    ]))),
    ("turn", pa.int64()),
    ("language", pa.string()),
    ("openai_moderation", pa.list_(pa.struct([
        ("categories", pa.struct([(c, pa.bool_()) for c in MOD_CATEGORIES])),
        ("category_scores", pa.struct([(c, pa.float64()) for c in MOD_CATEGORIES])),
        ("flagged", pa.bool_()),
    ]))),
    ("detoxify_moderation", pa.list_(pa.struct([(c, pa.float64()) for c in DETOXIFY]))),
    ("toxic", pa.bool_()),
    ("redacted", pa.bool_()),
    ("state", pa.string()),
    ("country", pa.string()),
    ("hashed_ip", pa.string()),
])

TRUTH_SCHEMA = pa.schema(
    [
        ("record_index", pa.int64()),
        ("conversation_id", pa.string()),  # the id ingest gives the conversation
        ("message_index", pa.int32()),  # of the user message; null for a malformed record
        ("signal", pa.string()),  # SAT / DSAT / none (mixed turns: DSAT, with sat and dsat true)
        ("categories", pa.list_(pa.string())),
        ("sat", pa.bool_()),
        ("dsat", pa.bool_()),
        ("mixed", pa.bool_()),
        ("position", pa.string()),  # start / middle (feedback's place in the turn); null without feedback
        ("repeat", pa.bool_()),  # repeats or rephrases the previous request
        ("harvestable", pa.bool_()),  # DSAT, then an assistant revision, then a user turn without DSAT
        ("harvest_accept", pa.string()),  # sat / none: how the revision was accepted
        ("language", pa.string()),
        ("moderation_flagged", pa.bool_()),
        ("toxic", pa.bool_()),
        ("duplicate_of", pa.string()),  # exact duplicate of this conversation id
        ("near_duplicate_of", pa.string()),
        ("malformed", pa.string()),  # expected ingest reason code; null for valid records
        ("synthetic", pa.bool_()),
    ],
    metadata={"synthetic": "true", "generator": "wfcore.synth",
              "note": "SYNTHETIC ground truth for a generated corpus; not real user data."},
)

_HARVEST_DSAT = ("Revision", "Style", "Insufficient Detail", "Ignored", "Negative Feedback", "Lower Quality")
_ACCEPT_SAT = ("Gratitude", "Acknowledgment", "Praise", "Positive Closure", "Compliance", "Learning")
_MIX_SAT = ("Gratitude", "Praise", "Acknowledgment", "Learning")
_MIX_DSAT = ("Revision", "Style", "Insufficient Detail", "Ignored")
_FOREIGN_SAT = ("Gratitude", "Praise", "Acknowledgment")
_FOREIGN_DSAT = ("Negative Feedback", "Revision", "Insufficient Detail", "Style")


@dataclass
class Label:
    message_index: int
    signal: str = "none"
    categories: list[str] = field(default_factory=list)
    sat: bool = False
    dsat: bool = False
    mixed: bool = False
    position: str | None = None
    repeat: bool = False
    harvestable: bool = False
    harvest_accept: str | None = None


@dataclass
class Conversation:
    index: int
    messages: list[dict]
    labels: list[Label]
    language: str = "English"
    model: str = MODELS[0]
    timestamp: _dt.datetime = _EPOCH
    flagged_messages: list[str | None] = field(default_factory=list)  # moderation category per message
    toxic: bool = False
    redacted: bool = False
    duplicate_of: int | None = None
    near_duplicate_of: int | None = None
    malformed: str | None = None


# ---------------------------------------------------------------- text


def _fill(template: str, slots: dict) -> str:
    return template.format(**slots)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _task(rng: random.Random, slots: dict) -> tuple[str, str]:
    """A fresh English task: (domain, request text); fills domain slots into ``slots``."""
    domain = rng.choices(["writing", "code", "explain", "plan", "cook", "advice", "summary", "fact"],
                         [26, 18, 16, 10, 8, 10, 4, 8])[0]
    slots["n"] = rng.choice([50, 100, 150, 200, 300])
    slots["audience"] = rng.choice(P.AUDIENCES)
    if domain == "writing":
        slots["artifact"], slots["thing"] = rng.choice(P.WRITING_ARTIFACTS)
        slots["subject"] = rng.choice(P.WRITING_SUBJECTS)
        req = rng.choice(P.WRITING_REQUESTS)
    elif domain == "code":
        slots["lang"], slots["codetask"] = rng.choice(P.CODE_LANGS), rng.choice(P.CODE_TASKS)
        slots["thing"] = rng.choice(["the code", "the function", "the script", "your snippet"])
        slots["subject"] = slots["codetask"]
        req = rng.choice(P.CODE_REQUESTS)
    elif domain == "explain":
        slots["concept"] = rng.choice(P.CONCEPTS)
        slots["thing"] = "the explanation"
        slots["subject"] = slots["concept"]
        req = rng.choice(P.EXPLAIN_REQUESTS)
    elif domain == "plan":
        slots.update(days=rng.choice([2, 3, 4, 5, 7]), weeks=rng.choice([4, 6, 8, 12]),
                     diet=rng.choice(P.DIETS), exam=rng.choice(P.EXAMS), sport=rng.choice(P.SPORTS))
        slots["thing"] = "the plan"
        slots["subject"] = slots["city"]
        req = rng.choice(P.PLAN_REQUESTS)
    elif domain == "cook":
        slots["dish"] = rng.choice(P.DISHES)
        slots["thing"] = "the recipe"
        slots["subject"] = slots["dish"]
        req = rng.choice(P.COOK_REQUESTS)
    elif domain == "advice":
        slots["goal"] = rng.choice(P.ADVICE_GOALS)
        slots["thing"] = "the advice"
        slots["subject"] = "how to " + slots["goal"]
        req = rng.choice(P.ADVICE_REQUESTS)
    elif domain == "summary":
        slots["book"] = rng.choice(P.BOOKS)
        slots["thing"] = "the summary"
        slots["subject"] = slots["book"]
        req = rng.choice(P.SUMMARY_REQUESTS)
    else:
        q, right, wrong = rng.choice(P.FACTS)
        slots.update(question=q, question_lower=q[:1].lower() + q[1:], right=right, wrong=wrong, answer=wrong)
        slots["thing"] = "the answer"
        slots["subject"] = q.rstrip("?").lower()
        req = rng.choice(P.FACT_REQUESTS)
    slots["subject_short"] = slots["subject"] if len(slots["subject"]) < 40 else "this"
    slots["thing_cap"] = _cap(slots["thing"])
    for k in ("concept", "dish"):
        if k in slots:
            slots[k + "_cap"] = _cap(slots[k])
    return domain, _fill(req, slots)


def _base_slots(rng: random.Random) -> dict:
    return {
        "aspect": rng.choice(P.ASPECTS), "constraint": rng.choice(P.CONSTRAINTS),
        "detail_item": rng.choice(P.DETAIL_ITEMS), "adj": rng.choice(P.ADJECTIVES),
        "small_change": rng.choice(P.SMALL_CHANGES), "outcome": rng.choice(P.OUTCOMES),
        "relation": rng.choice(P.RELATIONS), "relation_fact": rng.choice(P.RELATION_FACTS),
        "job": rng.choice(P.JOBS), "city": rng.choice(P.CITIES), "age": rng.choice([19, 27, 34, 45, 58, 66]),
        "name": rng.choice(P.NAMES), "email": rng.choice(P.EMAILS), "impossible": rng.choice(P.IMPOSSIBLE),
        "alt_subject": rng.choice(P.WRITING_SUBJECTS + P.CITIES), "right": "", "wrong": "", "answer": "",
        "lang": rng.choice(P.CODE_LANGS), "codetask": rng.choice(P.CODE_TASKS), "concept": rng.choice(P.CONCEPTS),
        "dish": rng.choice(P.DISHES), "book": rng.choice(P.BOOKS),
    }


def _reply(rng: random.Random, domain: str, slots: dict, opener: str | None = None) -> str:
    parts = [_fill(opener or rng.choice(P.OPENERS[domain]), slots)]
    body = P.BODY[domain]
    parts += [_fill(s, slots) for s in rng.sample(body, k=min(len(body), rng.randint(2, 4)))]
    if domain == "fact":
        parts[0] = _fill(rng.choice(P.OPENERS["fact"]), slots)
    closer = rng.choice(P.CLOSERS)
    if closer:
        parts.append(closer)
    sep = "\n\n" if domain in ("writing", "code", "plan", "cook") else " "
    return sep.join(parts)


def _lower_first(text: str) -> str:
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def _casual(rng: random.Random, text: str) -> str:
    lead = rng.choice(P.INTERJECTIONS)
    if lead:
        text = lead + _lower_first(text)
    if rng.random() < 0.15:
        text = text.lower()
    return text


def _new_request(rng: random.Random, slots: dict) -> tuple[str, str]:
    domain, req = _task(rng, slots)
    slots["new_request"] = req
    slots["_new_domain"] = domain
    slots["new_request_lower"] = _lower_first(req)
    return domain, req


# ---------------------------------------------------------------- one conversation


def _plan_moves(rng: random.Random, n_user: int, domain: str, harvest_share: float) -> list[str | None]:
    """Planned move per user turn (None: draw at random)."""
    moves: list[str | None] = [None] * n_user
    moves[0] = "request"
    if domain == "fact" and n_user >= 2 and rng.random() < 0.7:
        moves[1] = "factual"
        if n_user >= 3:
            moves[2] = "accept"
    elif n_user >= 3 and rng.random() < harvest_share:
        k = rng.randint(1, n_user - 2)
        moves[k], moves[k + 1] = "harvest", "accept"
    return moves


def _english(rng: random.Random, index: int, harvest_share: float) -> Conversation:
    slots = _base_slots(rng)
    domain, request = _task(rng, slots)
    n_user = rng.choices([1, 2, 3, 4, 5, 6], [14, 24, 26, 18, 10, 8])[0]
    moves = _plan_moves(rng, n_user, domain, harvest_share)
    messages = [{"role": "user", "content": _casual(rng, request)},
                {"role": "assistant", "content": _reply(rng, domain, slots)}]
    labels = [Label(0)]
    prev_request = request
    for u in range(1, n_user):
        move = moves[u]
        if move is None:
            move = rng.choices(["neutral", "sat", "dsat", "mixed", "repeat"], [42, 20, 24, 7, 7])[0]
        last = u == n_user - 1
        label = Label(len(messages))
        pivot = False
        if move in ("neutral", "accept") and (move == "neutral" or rng.random() < 0.3):
            template = rng.choice(P.NEUTRAL_FOLLOWUPS)
            if "new_request" in template:
                domain, prev_request = _new_request(rng, slots)
            text = _fill(template, slots)
            messages.append({"role": "user", "content": _casual(rng, text)})
            messages.append({"role": "assistant", "content": _reply(rng, domain, slots)})
            labels.append(label)
            continue
        if move == "repeat":
            text = rng.choice(P.REPEAT_PREFIXES) + _rephrase(rng, prev_request)
            label.signal, label.categories, label.dsat, label.repeat = "DSAT", ["Revision"], True, True
            label.position = "start"
            opener = rng.choice(P.REVISION_OPENERS["Revision"])
        else:
            if move in ("sat", "accept"):
                pool = _ACCEPT_SAT if move == "accept" else tuple(SAT_CATEGORIES)
                cat = rng.choice(pool)
                if cat == "Positive Closure" and not last:
                    cat = "Gratitude"
                feedback = _fill(rng.choice(P.SAT_PHRASES[cat]), slots)
                label.signal, label.categories, label.sat = "SAT", [cat], True
                opener = rng.choice(P.REVISION_OPENERS["Getting There"]) if cat == "Getting There" else None
            elif move == "mixed":
                scat, dcat = rng.choice(_MIX_SAT), rng.choice(_MIX_DSAT)
                feedback = (_fill(rng.choice(P.SAT_PHRASES[scat]), slots) + rng.choice(P.MIX_JOINERS)
                            + _fill(rng.choice(P.DSAT_PHRASES[dcat]), slots))
                label.signal, label.categories, label.sat, label.dsat, label.mixed = "DSAT", [scat, dcat], True, True, True
                opener = rng.choice(P.REVISION_OPENERS["mixed"])
            else:
                if move == "factual":
                    cat = "Factual Error"
                elif move == "harvest":
                    cat = rng.choice(_HARVEST_DSAT)
                else:
                    cat = rng.choice([c for c in DSAT_CATEGORIES if c != "Factual Error"])
                feedback = _fill(rng.choice(P.DSAT_PHRASES[cat]), slots)
                label.signal, label.categories, label.dsat = "DSAT", [cat], True
                opener = rng.choice(P.REVISION_OPENERS[cat])
                if cat == "Factual Error":
                    slots["answer"] = slots["right"]
            if rng.random() < 0.2:
                lead = rng.choice(P.MID_LEAD_INS)
                tail = rng.choice(P.MID_TAILS) if label.sat and not label.dsat else ""
                if tail:
                    _new_request(rng, slots)
                    tail = _fill(tail, slots)
                text = " ".join(t for t in (lead, feedback, tail) if t)
                label.position = "middle"
                pivot = bool(tail)
            else:
                text = feedback
                label.position = "start"
                if label.sat and not label.dsat and label.categories[0] != "Getting There" and not last and rng.random() < 0.3:
                    _new_request(rng, slots)
                    text = f"{feedback} Now, {slots['new_request_lower']}"
                    pivot = True
        messages.append({"role": "user", "content": _casual(rng, text)})
        if pivot:
            domain = _domain_of_new(slots, domain)
            prev_request = slots["new_request"]
            reply = _reply(rng, domain, slots)
        elif opener is not None:
            reply = _reply(rng, domain, slots, opener=opener)
        else:
            reply = rng.choice(["Glad it helped!", "You're welcome!", "Happy to help. Anything else?",
                                "Great to hear.", "Thanks for letting me know!"])
        messages.append({"role": "assistant", "content": reply})
        labels.append(label)
    return Conversation(index, messages, labels)


def _domain_of_new(slots: dict, default: str) -> str:
    return slots.get("_new_domain", default)


def _rephrase(rng: random.Random, request: str) -> str:
    r = rng.random()
    if r < 0.45:
        return request
    if r < 0.65:
        return "please " + request[:1].lower() + request[1:]
    if r < 0.8:
        return request.rstrip(".?!") + ". I need this."
    return "I need this: " + request[:1].lower() + request[1:]


def _foreign(rng: random.Random, index: int, harvest_share: float) -> Conversation:
    language = rng.choice(list(P.FOREIGN))
    bank = P.FOREIGN[language]
    slots = {"subject": rng.choice(bank["subjects"])}
    slots["subject_cap"] = _cap(slots["subject"])
    n_user = rng.choices([1, 2, 3, 4], [15, 35, 30, 20])[0]
    moves = _plan_moves(rng, n_user, "foreign", harvest_share)
    messages = [{"role": "user", "content": _fill(rng.choice(bank["requests"]), slots)},
                {"role": "assistant", "content": _fill(rng.choice(bank["replies"]), slots)}]
    labels = [Label(0)]
    for u in range(1, n_user):
        move = moves[u] or rng.choices(["neutral", "sat", "dsat"], [40, 25, 35])[0]
        label = Label(len(messages))
        if move == "harvest":
            move = "dsat"
        if move == "accept":
            move = "sat"
        if move == "neutral":
            slots["subject"] = rng.choice(bank["subjects"])
            slots["subject_cap"] = _cap(slots["subject"])
            text = _fill(rng.choice(bank["neutral"]), slots)
        else:
            cat = rng.choice(_FOREIGN_SAT if move == "sat" else _FOREIGN_DSAT)
            text = rng.choice(bank[cat])
            label.categories, label.position = [cat], "start"
            label.signal = "SAT" if move == "sat" else "DSAT"
            label.sat, label.dsat = move == "sat", move != "sat"
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": _fill(rng.choice(bank["replies"]), slots)})
        labels.append(label)
    return Conversation(index, messages, labels, language=language)


def _mark_harvest(conv: Conversation) -> None:
    for a, b in zip(conv.labels, conv.labels[1:], strict=False):
        if a.dsat and not b.dsat:
            a.harvestable = True
            a.harvest_accept = "sat" if b.sat else "none"


def _rng(seed: int, index: int, what: str) -> random.Random:
    return random.Random(f"wfsynth:{seed}:{index}:{what}")


def base_conversation(seed: int, index: int, harvest_share: float = 0.1) -> Conversation:
    """Conversation ``index`` before duplication or corruption: a pure function of (seed, index)."""
    rng = _rng(seed, index, "content")
    kind = rng.random()
    conv = _foreign(rng, index, harvest_share) if kind < 0.08 else _english(rng, index, harvest_share)
    conv.model = rng.choice(MODELS)
    conv.timestamp = _EPOCH + _dt.timedelta(seconds=rng.randint(0, 365 * 86400))
    conv.flagged_messages = [None] * len(conv.messages)
    r = rng.random()
    if conv.language == "English" and r < 0.03 and len(conv.labels) >= 2:
        # a toxic outburst replaces one feedback turn (still DSAT: Negative Feedback)
        lab = conv.labels[rng.randint(1, len(conv.labels) - 1)]
        conv.messages[lab.message_index]["content"] = rng.choice(P.TOXIC_LINES)
        lab.signal, lab.categories, lab.sat, lab.dsat = "DSAT", ["Negative Feedback"], False, True
        lab.mixed, lab.repeat, lab.position = False, False, "start"
        conv.flagged_messages[lab.message_index] = "harassment"
        conv.toxic = True
    elif conv.language == "English" and r < 0.045:
        conv.messages[0]["content"] = "Describe a brutal, bloody fight scene in graphic detail. " + conv.messages[0]["content"]
        conv.flagged_messages[0] = "violence/graphic"
    conv.redacted = rng.random() < 0.02
    _mark_harvest(conv)
    return conv


def record_kind(seed: int, index: int, malformed_share: float) -> str:
    r = _rng(seed, index, "kind").random()
    if r < malformed_share:
        return "malformed"
    if index >= 20 and r < malformed_share + 0.02:
        return "duplicate"
    if index >= 20 and r < malformed_share + 0.04:
        return "near_duplicate"
    return "normal"


def conversation(seed: int, index: int, malformed_share: float = 0.02, fmt: str = "wildchat") -> Conversation:
    """Record ``index`` of the corpus, with duplication and corruption applied."""
    kind = record_kind(seed, index, malformed_share)
    rng = _rng(seed, index, "variant")
    if kind in ("duplicate", "near_duplicate"):
        for _ in range(10):
            j = rng.randint(max(0, index - 500), index - 1)
            if record_kind(seed, j, malformed_share) == "normal":
                break
        else:
            kind, j = "normal", index
        conv = base_conversation(seed, j)
        conv.index = index
        conv.timestamp += _dt.timedelta(seconds=rng.randint(60, 86400))
        if kind == "duplicate":
            conv.duplicate_of = j
        else:
            conv.near_duplicate_of = j
            last = len(conv.messages) - 1
            conv.messages[last]["content"] = conv.messages[last]["content"] + rng.choice(
                [" Let me know if anything else would help.", "\n\n(Edited for clarity.)", " Good luck!"])
            k = rng.randrange(0, len(conv.messages), 2)
            conv.messages[k]["content"] = conv.messages[k]["content"].rstrip(".!?") + rng.choice(["", "!", "?", " "])
        return conv
    conv = base_conversation(seed, index)
    if kind == "malformed":
        kinds = MALFORMED_PARQUET if fmt == "wildchat" else MALFORMED_JSONL
        conv.malformed = rng.choice(kinds)
    return conv


# ---------------------------------------------------------------- layouts


def _int_id(tag: str, *numbers: int, length: int) -> str:
    """``ids.content_id(tag, *numbers, length=length)`` without the JSON encoder (same bytes, faster)."""
    payload = "[" + ",".join([json.dumps(tag), *map(str, numbers)]) + "]"
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()[:length]


@functools.lru_cache(maxsize=4096)
def _hashed_ip(seed: int, bucket: int) -> str:
    return _int_id("ip", seed, bucket, length=32)


def conversation_id(seed: int, conv: Conversation, fmt: str) -> str:
    """The id the source layout carries (and ingest keeps)."""
    if fmt == "openai" and _rng(seed, conv.index, "noid").random() < 0.3 and conv.duplicate_of is None and not conv.malformed:
        return ids.conversation_id_from_messages("openai", conv.messages)
    return _index_id(seed, conv.index, fmt)


def _index_id(seed: int, index: int, fmt: str) -> str:
    return _int_id("synth", seed, index, length=16 if fmt == "sharegpt" else 32)


def _canned_moderation(flagged_cat: str | None, variant: int) -> dict:
    low = (0.00001, 0.00004, 0.0002, 0.0011)
    cats = {c: c == flagged_cat for c in MOD_CATEGORIES}
    scores = {c: 0.93 if c == flagged_cat else low[(k + variant) % 4] for k, c in enumerate(MOD_CATEGORIES)}
    return {"categories": cats, "category_scores": scores, "flagged": flagged_cat is not None}


# Prebuilt (read-only) moderation results: building them per message dominates generation time.
_MODERATION = {cat: [_canned_moderation(cat, v) for v in range(4)] for cat in (None,) + MOD_CATEGORIES}
_DETOXIFY = {
    toxic: [{c: 0.91 if toxic and c in ("insult", "toxicity") else (0.0005, 0.0008, 0.0012)[(k + v) % 3]
             for k, c in enumerate(DETOXIFY)} for v in range(3)]
    for toxic in (False, True)
}


def _moderation(rng: random.Random, flagged_cat: str | None) -> dict:
    return rng.choice(_MODERATION[flagged_cat])


def _detoxify(rng: random.Random, toxic: bool) -> dict:
    return rng.choice(_DETOXIFY[toxic])


def _corrupt_messages(rng: random.Random, msgs: list[dict], reason: str, role_key: str, content_key: str):
    msgs = [dict(m) for m in msgs]
    i = rng.randrange(len(msgs))
    if reason == "empty_content":  # ingest keeps empty messages; it rejects a record whose user messages all are
        blank = rng.choice(["", "   ", None])
        for m in msgs:
            if m[role_key] in ("user", "human"):
                m[content_key] = blank
    elif reason == "unknown_role":
        msgs[i][role_key] = rng.choice(["bot", "moderator", "narrator"])
    elif reason == "missing_role":
        msgs[i][role_key] = None
    elif reason == "no_user_turn":
        msgs = [m for m in msgs if m[role_key] not in ("user", "human")]
    elif reason == "non_string_content":
        msgs[i][content_key] = rng.choice([42, {"text": "hello"}, 3.5])
    elif reason == "missing_messages":
        return rng.choice([None, []])
    elif reason == "wrong_type":
        return "user: " + str(msgs[0][content_key])
    return msgs


def to_record(seed: int, conv: Conversation, fmt: str, cid: str | None = None) -> dict:
    """The conversation as one record of layout ``fmt`` (before JSON-level corruption)."""
    rng = _rng(seed, conv.index, "layout")
    cid = cid or conversation_id(seed, conv, fmt)
    if fmt in ("wildchat", "wildchat_jsonl"):
        msgs = []
        turn_ids = [int(_int_id("turn", seed, conv.index, t, length=8), 16) % 10**9
                    for t in range((len(conv.messages) + 1) // 2)]
        for k, m in enumerate(conv.messages):
            msgs.append({
                "content": m["content"], "language": conv.language, "redacted": conv.redacted,
                "role": m["role"],
                "timestamp": conv.timestamp + _dt.timedelta(seconds=20 * k) if m["role"] == "assistant" else None,
                "toxic": conv.flagged_messages[k] == "harassment",
                "turn_identifier": turn_ids[k // 2],
            })
        rec = {
            "conversation_hash": cid, "model": conv.model, "timestamp": conv.timestamp,
            "conversation": msgs, "turn": len(conv.labels), "language": conv.language,
            "openai_moderation": [_moderation(rng, conv.flagged_messages[k]) for k in range(len(conv.messages))],
            "detoxify_moderation": [_detoxify(rng, conv.flagged_messages[k] == "harassment") for k in range(len(conv.messages))],
            "toxic": conv.toxic, "redacted": conv.redacted,
            "state": rng.choice(["California", "Bavaria", "Ontario", "Sao Paulo", None]),
            "country": rng.choice(["United States", "Germany", "Canada", "Brazil", "Spain"]),
            "hashed_ip": _hashed_ip(seed, conv.index % 997),
        }
        key, role_key, content_key = "conversation", "role", "content"
    elif fmt == "lmsys":
        rec = {
            "conversation_id": cid, "model": conv.model.split("-0")[0],
            "conversation": [{"content": m["content"], "role": m["role"]} for m in conv.messages],
            "turn": len(conv.labels), "language": conv.language,
            "openai_moderation": [{"categories": _moderation(rng, conv.flagged_messages[k])["categories"],
                                   "flagged": conv.flagged_messages[k] is not None} for k in range(len(conv.messages))],
            "redacted": conv.redacted,
        }
        key, role_key, content_key = "conversation", "role", "content"
    elif fmt == "sharegpt":
        names = {"user": "human", "assistant": "gpt", "system": "system"}
        rec = {"id": cid, "conversations": [{"from": names[m["role"]], "value": m["content"]} for m in conv.messages]}
        key, role_key, content_key = "conversations", "from", "value"
    elif fmt == "openai":
        rec = {"messages": [dict(m) for m in conv.messages]}
        if not cid.startswith("h"):
            rec = {"id": cid, **rec}
        key, role_key, content_key = "messages", "role", "content"
    else:
        raise ValueError(f"unknown synth format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if conv.malformed in MALFORMED_PARQUET + ("non_string_content", "wrong_type"):
        rec[key] = _corrupt_messages(rng, rec[key], conv.malformed, role_key, content_key)
    return rec


def to_line(seed: int, conv: Conversation, rec: dict) -> bytes:
    """One JSONL line (JSON-level corruption applied here)."""
    text = json.dumps(rec, ensure_ascii=False, default=lambda v: v.isoformat())
    if conv.malformed == "malformed_json":
        return text[: max(1, len(text) // 2)].encode("utf-8") + b"\n"
    if conv.malformed == "not_an_object":
        key = "conversation" if "conversation" in rec else ("conversations" if "conversations" in rec else "messages")
        return json.dumps(rec[key], ensure_ascii=False, default=str).encode("utf-8") + b"\n"
    data = text.encode("utf-8")
    if conv.malformed == "invalid_utf8":
        cut = len(data) // 2
        data = data[:cut] + b"\xff\xfe" + data[cut:]
    return data + b"\n"


def _source_id(seed: int, index: int, fmt: str) -> str:
    """The id of the (unmodified) record ``index`` copies; only openai ids may depend on content."""
    if fmt == "openai":
        return conversation_id(seed, base_conversation(seed, index), fmt)
    return _index_id(seed, index, fmt)


def truth_rows(seed: int, conv: Conversation, fmt: str, cid: str | None = None) -> list[dict]:
    cid = cid or conversation_id(seed, conv, fmt)
    common = {
        "record_index": conv.index, "conversation_id": cid, "language": conv.language,
        "moderation_flagged": any(conv.flagged_messages), "toxic": conv.toxic,
        "duplicate_of": None, "near_duplicate_of": None, "malformed": conv.malformed, "synthetic": True,
    }
    if conv.near_duplicate_of is not None:
        common["near_duplicate_of"] = _source_id(seed, conv.near_duplicate_of, fmt)
    if conv.duplicate_of is not None:
        common["duplicate_of"] = _source_id(seed, conv.duplicate_of, fmt)
    if conv.malformed:
        return [{**common, "message_index": None, "signal": None, "categories": [], "sat": None, "dsat": None,
                 "mixed": None, "position": None, "repeat": None, "harvestable": None, "harvest_accept": None}]
    return [{**common, "message_index": lab.message_index, "signal": lab.signal, "categories": lab.categories,
             "sat": lab.sat, "dsat": lab.dsat, "mixed": lab.mixed, "position": lab.position, "repeat": lab.repeat,
             "harvestable": lab.harvestable, "harvest_accept": lab.harvest_accept} for lab in conv.labels]


# ---------------------------------------------------------------- corpus


def iter_corpus(seed: int, conversations: int, fmt: str = "wildchat", malformed_share: float = 0.02,
                start: int = 0) -> Iterator[Conversation]:
    for i in range(start, start + conversations):
        yield conversation(seed, i, malformed_share, fmt)


def generate_malformed(records: int, seed: int, output: str, format: str = "wildchat_jsonl") -> dict[str, Any]:
    """Like :func:`generate`, but every record is malformed (cycling through all kinds the layout can carry)."""
    return generate(records, seed, output, format, shard_rows=max(records, 1), malformed_share=1.0,
                    _cycle_malformed=True)


def generate(conversations: int, seed: int, output: str, format: str = "wildchat", shard_rows: int = 10000,
             malformed_share: float = 0.02, _cycle_malformed: bool = False, workers: int = 0) -> dict[str, Any]:
    """Write ``conversations`` records of layout ``format`` as shards under ``output``, plus the
    ground-truth sidecar ``_truth.parquet`` and a summary ``_synth.json``; returns the summary.

    ``wildchat`` writes Parquet (as WildChat-1M is published); the other layouts write JSONL.
    Shards are made by ``workers`` processes (0: one per core for 2+ shards of a large corpus);
    the bytes written do not depend on it. Memory is bounded by a few shards in flight.
    """
    import pyarrow.parquet as pq

    if format not in FORMATS:
        raise ValueError(f"unknown synth format {format!r}; expected one of {', '.join(FORMATS)}")
    if conversations < 0 or shard_rows <= 0 or not 0 <= malformed_share <= 1 or workers < 0:
        raise ValueError("conversations >= 0, shard_rows > 0, workers >= 0 and 0 <= malformed_share <= 1 required")
    counts = _new_counts()
    tasks = [_ShardTask(shard, start, min(shard_rows, conversations - start), seed, output, format,
                        malformed_share, _cycle_malformed)
             for shard, start in enumerate(range(0, conversations, shard_rows))]
    files: list[str] = []
    truth_uri = storage.join(output, "_truth.parquet")
    fs, truth_path = storage.filesystem(truth_uri)
    fs.create_dir(truth_path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(truth_path, compression=None) as sink, pq.ParquetWriter(sink, TRUTH_SCHEMA, compression="zstd") as tw:
        for uri, truth, shard_counts in _run_shards(tasks, _synth_workers(workers, tasks)):
            files.append(uri)
            tw.write_table(truth)
            _merge_counts(counts, shard_counts)
    summary = {
        "synthetic": True, "generator": "wfcore.synth", "seed": seed, "format": format,
        "conversations": conversations, "shard_rows": shard_rows, "malformed_share": malformed_share,
        "files": [f.rsplit("/", 1)[-1] for f in files], "truth": "_truth.parquet", "counts": counts,
    }
    storage.write_json_atomic(storage.join(output, "_synth.json"), summary)
    return {**summary, "output": output, "files": files, "truth": truth_uri}


@dataclass
class _ShardTask:
    shard: int
    start: int
    n: int
    seed: int
    output: str
    format: str
    malformed_share: float
    cycle_malformed: bool


def _make_shard(t: _ShardTask) -> tuple[str, pa.Table, dict]:
    """Write one shard file; returns its URI, its ground-truth rows and its counts."""
    parquet = t.format == "wildchat"
    counts = _new_counts()
    records: list = []
    truth: list[dict] = []
    kinds = MALFORMED_PARQUET if parquet else MALFORMED_JSONL
    for conv in iter_corpus(t.seed, t.n, t.format, t.malformed_share, t.start):
        if t.cycle_malformed:
            conv.malformed = kinds[conv.index % len(kinds)]
        cid = conversation_id(t.seed, conv, t.format)
        rec = to_record(t.seed, conv, t.format, cid)
        records.append(rec if parquet else to_line(t.seed, conv, rec))
        rows = truth_rows(t.seed, conv, t.format, cid)
        truth.extend(rows)
        _count(counts, conv, rows)
    uri = storage.join(t.output, f"part-{t.shard:05d}.{'parquet' if parquet else 'jsonl'}")
    if parquet:
        storage.write_parquet_atomic(uri, pa.Table.from_pylist(records, schema=WILDCHAT_SCHEMA))
    else:
        storage.write_bytes_atomic(uri, b"".join(records))
    return uri, pa.Table.from_pylist(truth, schema=TRUTH_SCHEMA), counts


_PARALLEL_MIN_CONVERSATIONS = 20_000  # below this, starting worker processes costs more than it saves


def _synth_workers(workers: int, tasks: list[_ShardTask]) -> int:
    if workers:
        return max(1, min(workers, len(tasks)))
    if len(tasks) < 2 or sum(t.n for t in tasks) < _PARALLEL_MIN_CONVERSATIONS:
        return 1
    return max(1, min(os.cpu_count() or 1, len(tasks)))


def _run_shards(tasks: list[_ShardTask], workers: int) -> Iterator[tuple[str, pa.Table, dict]]:
    """Shard results in shard order; at most ``2 * workers`` shards in flight."""
    if workers == 1:
        yield from map(_make_shard, tasks)
        return
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        pending: deque = deque()
        for t in tasks:
            pending.append(pool.submit(_make_shard, t))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _new_counts() -> dict[str, Any]:
    return {"records": 0, "user_turns": 0, "malformed": {}, "duplicates": 0, "near_duplicates": 0,
            "harvestable_conversations": 0, "non_english": 0, "moderation_flagged": 0, "toxic": 0,
            "categories": {}, "signals": {}}


def _merge_counts(total: dict, part: dict) -> None:
    for k, v in part.items():
        if isinstance(v, dict):
            for kk, n in v.items():
                total[k][kk] = total[k].get(kk, 0) + n
        else:
            total[k] += v


def _count(counts: dict, conv: Conversation, rows: list[dict]) -> None:
    counts["records"] += 1
    if conv.malformed:
        counts["malformed"][conv.malformed] = counts["malformed"].get(conv.malformed, 0) + 1
        return
    counts["duplicates"] += conv.duplicate_of is not None
    counts["near_duplicates"] += conv.near_duplicate_of is not None
    counts["harvestable_conversations"] += any(r["harvestable"] for r in rows)
    counts["non_english"] += conv.language != "English"
    counts["moderation_flagged"] += any(conv.flagged_messages)
    counts["toxic"] += conv.toxic
    for r in rows:
        counts["user_turns"] += 1
        counts["signals"][r["signal"]] = counts["signals"].get(r["signal"], 0) + 1
        for c in r["categories"]:
            counts["categories"][c] = counts["categories"].get(c, 0) + 1
