"""Checklist-guided evaluation, the judge half: prompt layout, JSON schema, parser, rule judge.

A judge sees the conversation up to the judged turn, the checklist (the user's preference
statements) and two responses, and answers with one JSON object::

    {"items": [{"a": "yes|partly|no", "b": "yes|partly|no"}, ...], "rationale": "...",
     "verdict": "A>>B" | "A>B" | "A=B" | "B>A" | "B>>A"}

where ``a`` / ``b`` and the verdict refer to the *positions* in the prompt (Response A is shown
first). The scorer (:mod:`wfcore.checklist`) maps positions back to candidates.

Prompt layout: conversation, then checklist, then Response A, then Response B. The two orders of
one prompt therefore share everything up to the first response (system prompt, conversation,
checklist), which is the longest prefix they can share, and the engine's prefix cache serves it
for the second order. ``checklist=False`` (the paper's ablation) uses a template without the
checklist and a schema without ``items``.

The rule judge (``evaluate.judge: lexical``) is the offline default and a weak proxy: it checks
only what rules can check in a checklist item (stated length limits, lists, code blocks, tables,
JSON, the response language, phrases the item quotes) and marks every other item ``unknown``; its
verdict compares the checkable items only, and is a tie when there are none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from .checklist import ITEM_SCORE, LEVELS
from .outputs import load_object
from .prompts import format_context, render

MAX_CHECKLIST_ITEMS = 8
RATIONALE_MAX_CHARS = 300
RESPONSE_TRUNCATION_MARKER = "[... response truncated ...]"
JUDGED_ITEM_VALUES = ("yes", "partly", "no")


def template_name(checklist: bool) -> str:
    return "judge" if checklist else "judge_nochecklist"


def judge_schema(checklist: bool = True) -> dict:
    """The JSON schema the judge answers through (vLLM structured outputs / ``response_format``)."""
    props: dict = {}
    required = []
    if checklist:
        verdict = {"type": "string", "enum": list(JUDGED_ITEM_VALUES)}
        props["items"] = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"a": verdict, "b": verdict},
                "required": ["a", "b"],
                "additionalProperties": False,
            },
            "minItems": 1,
            "maxItems": MAX_CHECKLIST_ITEMS,
        }
        required.append("items")
    props["rationale"] = {"type": "string", "maxLength": RATIONALE_MAX_CHARS}
    props["verdict"] = {"type": "string", "enum": list(LEVELS)}
    required += ["rationale", "verdict"]
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def truncate_end(text: str, max_chars: int) -> str:
    """Keep the first ``max_chars`` of a response; mark the cut at the end."""
    text = text or ""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - len(RESPONSE_TRUNCATION_MARKER) - 1, 0)
    return text[:keep] + "\n" + RESPONSE_TRUNCATION_MARKER


def format_checklist(checklist: list[str]) -> str:
    return (
        "\n".join(f"{i}. {item}" for i, item in enumerate(checklist[:MAX_CHECKLIST_ITEMS], 1))
        or "(none)"
    )


def judge_messages(
    prompt: list[dict],
    checklist: list[str] | None,
    first: str,
    second: str,
    max_context_chars: int = 12_000,
    max_response_chars: int = 6_000,
) -> list[dict]:
    """Chat messages asking the judge to compare ``first`` (Response A) with ``second`` (B).

    ``checklist=None`` renders the no-checklist template.
    """
    values = {
        "conversation": format_context(prompt, max_context_chars),
        "response_a": truncate_end(first, max_response_chars),
        "response_b": truncate_end(second, max_response_chars),
    }
    if checklist is not None:
        values["checklist"] = format_checklist(checklist)
    return render(template_name(checklist is not None), **values)


# ---------------------------------------------------------------- parsing

_ITEM_ALIASES = {
    "yes": "yes",
    "y": "yes",
    "true": "yes",
    "partly": "partly",
    "partial": "partly",
    "partially": "partly",
    "no": "no",
    "n": "no",
    "false": "no",
}
_TIE = {"A=B", "B=A", "TIE", "A~B", "EQUAL", "SAME"}


def normalise_verdict(v: object) -> str | None:
    """A verdict level from lenient spellings (spaces, ``tie``, ``>>`` written as ``≫``)."""
    if not isinstance(v, str):
        return None
    s = re.sub(r"\s+", "", v).upper().replace("≫", ">>").replace("≪", "<<").replace("==", "=")
    s = {"A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B"}.get(s, s)
    if s in _TIE:
        return "A=B"
    return s if s in LEVELS else None


def _item_value(v: object) -> str | None:
    return _ITEM_ALIASES.get(v.strip().lower()) if isinstance(v, str) else None


def parse_judgment(text: str | None, n_items: int | None = None) -> tuple[dict | None, str | None]:
    """Parse a judge answer into ``{verdict, items_first, items_second, rationale}``.

    Lenient on spelling (``"A > B"``, ``"tie"``, ``"Yes"``) and on extra items beyond the
    checklist (dropped); strict on structure. ``n_items``: the checklist length (None: no
    checklist); fewer item verdicts than that is an error, so the row is retried.
    Returns ``(value, error)``, exactly one of them None.
    """
    obj, err = load_object(text)
    if err:
        return None, err
    verdict = normalise_verdict(obj.get("verdict"))
    if verdict is None:
        return None, f"verdict: not one of {list(LEVELS)} (got {str(obj.get('verdict'))[:40]!r})"
    rationale = obj.get("rationale", "")
    if not isinstance(rationale, str):
        return None, "rationale: not a string"
    first: list[str] = []
    second: list[str] = []
    if n_items:
        items = obj.get("items")
        if not isinstance(items, list):
            return None, "items: not a list"
        want = min(n_items, MAX_CHECKLIST_ITEMS)
        if len(items) < want:
            return None, f"items: {len(items)} verdicts for {want} checklist items"
        for i, it in enumerate(items[:want]):
            a = _item_value(it.get("a")) if isinstance(it, dict) else None
            b = _item_value(it.get("b")) if isinstance(it, dict) else None
            if a is None or b is None:
                return None, f"items[{i}]: needs 'a' and 'b' each one of {list(JUDGED_ITEM_VALUES)}"
            first.append(a)
            second.append(b)
    return {
        "verdict": verdict,
        "items_first": first,
        "items_second": second,
        "rationale": rationale[:RATIONALE_MAX_CHARS],
    }, None


# ---------------------------------------------------------------- the rule judge

_NEG = re.compile(
    r"\b(no|not|never|without|avoid|avoids|avoiding|don't|doesn't|do not|does not|stop|omit|omits|free of|instead of)\b",
    re.I,
)
_NUM_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twenty": 20,
    "fifty": 50,
    "hundred": 100,
    "a hundred": 100,
}
_NUM = r"(\d[\d,]*|" + "|".join(sorted(map(re.escape, _NUM_WORDS), key=len, reverse=True)) + r")"
_UNIT = r"(?:[a-z-]+\s+)?(words?|sentences?|characters?|chars?|letters?|lines?|paragraphs?|bullet points?|bullets?|points?|items?|steps?|tokens?)"
_MAX = re.compile(
    r"\b(?:under|less than|fewer than|at most|no more than|not more than|maximum of|max(?:imum)?|within|"
    r"below|up to|not exceed(?:ing)?|shorter than|limit(?:ed)? to)\s+(?:about\s+|around\s+|roughly\s+)?"
    + _NUM
    + r"\s+"
    + _UNIT,
    re.I,
)
_MAX_AFTER = re.compile(_NUM + r"\s+" + _UNIT + r"\s+or\s+(?:less|fewer|under)\b", re.I)
_MIN = re.compile(
    r"\b(?:at least|more than|over|no fewer than|no less than|minimum of|a minimum of|longer than)\s+"
    + _NUM
    + r"\s+"
    + _UNIT,
    re.I,
)
_EXACT = re.compile(r"\b(?:exactly|in|with|of|gives?|lists?)\s+" + _NUM + r"\s+" + _UNIT, re.I)
_LIST_KW = re.compile(
    r"\b(bullet(?:ed)?(?: points?| list)?|numbered list|list form|as a list|in a list|in points|step[- ]by[- ]step|enumerat\w+)\b",
    re.I,
)
_CODE_KW = re.compile(
    r"\b(code blocks?|code snippets?|(?:the |working |full |complete |example |sample )?code|snippet|script)\b",
    re.I,
)
_TABLE_KW = re.compile(r"\b(tables?|tabular)\b", re.I)
_JSON_KW = re.compile(r"\bjson\b", re.I)
LANGUAGES = (
    "English",
    "Spanish",
    "French",
    "German",
    "Italian",
    "Portuguese",
    "Dutch",
    "Chinese",
    "Japanese",
    "Korean",
    "Russian",
    "Arabic",
    "Hindi",
    "Greek",
    "Hebrew",
    "Thai",
    "Ukrainian",
    "Turkish",
)
_LANG_KW = re.compile(r"\b(?:in|into|to)\s+(" + "|".join(LANGUAGES) + r")\b", re.I)
_QUOTED = re.compile(
    r"\"([^\"]{2,80})\"|“([^”]{2,80})”|«([^»]{2,80})»|(?<![\w'])'([^']{2,80})'(?![\w'])"
)

_LIST_LINE = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S", re.M)
_TABLE_LINE = re.compile(r"^\s*\|?.*\|.*\n\s*\|?\s*:?-{3,}", re.M)
_STOPWORDS = {
    "English": {
        "the",
        "and",
        "is",
        "are",
        "of",
        "to",
        "in",
        "that",
        "it",
        "you",
        "for",
        "with",
        "this",
        "be",
        "on",
        "not",
    },
    "Spanish": {
        "el",
        "la",
        "los",
        "las",
        "de",
        "que",
        "y",
        "en",
        "un",
        "una",
        "es",
        "por",
        "para",
        "con",
        "no",
        "se",
    },
    "French": {
        "le",
        "la",
        "les",
        "de",
        "des",
        "et",
        "est",
        "un",
        "une",
        "que",
        "en",
        "pour",
        "dans",
        "pas",
        "vous",
        "il",
    },
    "German": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "ein",
        "eine",
        "zu",
        "mit",
        "sie",
        "ich",
        "den",
        "von",
        "es",
    },
    "Italian": {
        "il",
        "di",
        "che",
        "e",
        "la",
        "un",
        "una",
        "per",
        "non",
        "sono",
        "del",
        "della",
        "con",
        "gli",
        "è",
    },
    "Portuguese": {
        "o",
        "os",
        "de",
        "que",
        "e",
        "do",
        "da",
        "em",
        "um",
        "uma",
        "para",
        "não",
        "com",
        "é",
        "por",
        "você",
    },
    "Dutch": {
        "de",
        "het",
        "een",
        "en",
        "van",
        "is",
        "niet",
        "dat",
        "op",
        "te",
        "zijn",
        "voor",
        "met",
        "je",
        "ik",
    },
    "Turkish": {
        "ve",
        "bir",
        "bu",
        "da",
        "de",
        "için",
        "ile",
        "ne",
        "çok",
        "olarak",
        "gibi",
        "daha",
        "ama",
        "var",
    },
}
_SCRIPTS = [
    ("Korean", re.compile(r"[\uac00-\ud7af]")),
    ("Japanese", re.compile(r"[\u3040-\u30ff]")),
    ("Chinese", re.compile(r"[\u4e00-\u9fff]")),
    ("Russian", re.compile(r"[\u0400-\u04ff]")),
    ("Arabic", re.compile(r"[\u0600-\u06ff]")),
    ("Hindi", re.compile(r"[\u0900-\u097f]")),
    ("Greek", re.compile(r"[\u0370-\u03ff]")),
    ("Hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("Thai", re.compile(r"[\u0e00-\u0e7f]")),
]


def guess_language(text: str) -> str | None:
    """A cheap language guess (script, then stopwords); None when unsure. Used by the rule judge."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 8:
        return None
    for name, rx in _SCRIPTS:
        if len(rx.findall(text)) >= 0.3 * len(letters):
            if name == "Russian" and re.search(r"[іїєґ]", text, re.I):
                return "Ukrainian"
            if name == "Chinese" and _SCRIPTS[1][1].search(text):
                return "Japanese"
            return name
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) < 5:
        return None
    hits = {lang: sum(w in sw for w in words) for lang, sw in _STOPWORDS.items()}
    best = max(hits, key=hits.get)
    ranked = sorted(hits.values(), reverse=True)
    if ranked[0] < 2 or ranked[0] < 1.5 * ranked[1]:
        return None
    return best


def _number(s: str) -> int:
    s = s.lower().replace(",", "")
    return int(s) if s.isdigit() else _NUM_WORDS[s]


def _count(text: str, unit: str) -> int:
    u = unit.lower()
    if u.startswith(("word", "token")):
        return len(re.findall(r"\S+", text))
    if u.startswith(("char", "letter")):
        return len(text)
    if u.startswith("sentence"):
        return len([s for s in re.split(r"(?<=[.!?。！？])\s+", text.strip()) if s.strip()])
    if u.startswith("line"):
        return len([ln for ln in text.splitlines() if ln.strip()])
    if u.startswith("paragraph"):
        return len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()])
    return len(_LIST_LINE.findall(text))  # bullet points, points, items, steps


def _has_code(text: str) -> bool:
    return "```" in text or len(re.findall(r"^(?: {4}|\t)\S", text, re.M)) >= 2


def _has_json(text: str) -> bool:
    for m in re.finditer(r"```(?:json)?\s*\n(.*?)```", text, re.S | re.I):
        try:
            json.loads(m.group(1))
            return True
        except ValueError:
            pass
    s = text.strip()
    try:
        return isinstance(json.loads(s), (dict, list))
    except ValueError:
        return False


Check = Callable[[str], bool | None]


def item_checks(item: str) -> list[tuple[str, Check]]:
    """The rule checks one checklist item states, as ``(name, check(response))`` pairs; empty
    when no rule applies (the item is then ``unknown``)."""
    checks: list[tuple[str, Check]] = []
    before = lambda m: bool(_NEG.search(item[: m.start()]))  # noqa: E731

    for m in _MAX.finditer(item):
        n, unit = _number(m.group(1)), m.group(2)
        checks.append((f"at most {n} {unit}", lambda t, n=n, u=unit: _count(t, u) <= n))
    for m in _MAX_AFTER.finditer(item):
        n, unit = _number(m.group(1)), m.group(2)
        checks.append((f"at most {n} {unit}", lambda t, n=n, u=unit: _count(t, u) <= n))
    for m in _MIN.finditer(item):
        n, unit = _number(m.group(1)), m.group(2)
        checks.append((f"at least {n} {unit}", lambda t, n=n, u=unit: _count(t, u) >= n))
    if not checks:
        m = _EXACT.search(item)
        if m and not re.search(r"\b(?:code|example)s?\b", m.group(0), re.I):
            n, unit = _number(m.group(1)), m.group(2)
            checks.append((f"{n} {unit}", lambda t, n=n, u=unit: _count(t, u) == n))
    if m := _LIST_KW.search(item):
        neg = before(m)
        checks.append(
            (
                "no list" if neg else "list",
                lambda t, neg=neg: (len(_LIST_LINE.findall(t)) >= 2) != neg,
            )
        )
    if (m := _CODE_KW.search(item)) and not re.search(
        r"\b(?:explain|comment|describe)\w*\b.*\bcode\b", item, re.I
    ):
        neg = before(m)
        checks.append(("no code" if neg else "code block", lambda t, neg=neg: _has_code(t) != neg))
    if m := _TABLE_KW.search(item):
        neg = before(m)
        checks.append(
            ("no table" if neg else "table", lambda t, neg=neg: bool(_TABLE_LINE.search(t)) != neg)
        )
    if m := _JSON_KW.search(item):
        neg = before(m)
        checks.append(("no JSON" if neg else "JSON", lambda t, neg=neg: _has_json(t) != neg))
    if m := _LANG_KW.search(item):
        lang = next(lg for lg in LANGUAGES if lg.lower() == m.group(1).lower())

        def in_language(t: str, lang: str = lang) -> bool | None:
            g = guess_language(t)
            return None if g is None else g == lang

        checks.append((f"in {lang}", in_language))
    for m in _QUOTED.finditer(item):
        phrase = next(g for g in m.groups() if g)
        neg = before(m)
        low = phrase.lower()
        checks.append(
            (
                f"{'without' if neg else 'contains'} {phrase!r}",
                lambda t, p=low, neg=neg: (p in t.lower()) != neg,
            )
        )
    return checks


def check_item(item: str, response: str) -> str:
    """``yes`` / ``no`` when the item's rule checks all decide, else ``unknown``."""
    results = [c(response or "") for _, c in item_checks(item)]
    if not results or any(r is None for r in results):
        return "unknown"
    return "yes" if all(results) else "no"


def lexical_judgment(checklist: list[str], first: str, second: str) -> dict:
    """The rule judge's answer for Response A = ``first``, B = ``second`` (the model's JSON shape).

    Verdict: over the items checkable on both responses, the difference of satisfied items;
    ``>>`` when one response satisfies every such item and the other none (with two or more such
    items), a tie when nothing is checkable or the counts are equal.
    """
    items = checklist[:MAX_CHECKLIST_ITEMS]
    a = [check_item(it, first) for it in items]
    b = [check_item(it, second) for it in items]
    both = [(x, y) for x, y in zip(a, b, strict=True) if x in ITEM_SCORE and y in ITEM_SCORE]
    diff = sum(ITEM_SCORE[x] - ITEM_SCORE[y] for x, y in both)
    k = len(both)
    if k == 0 or diff == 0:
        verdict = "A=B"
    elif abs(diff) == k and k >= 2:
        verdict = "A>>B" if diff > 0 else "B>>A"
    else:
        verdict = "A>B" if diff > 0 else "B>A"
    names = sorted({n for it in items for n, _ in item_checks(it)})
    rationale = (
        f"rule judge: {k} of {len(items)} items checkable on both ({', '.join(names) or 'none'})"
    )
    return {
        "items": [{"a": x, "b": y} for x, y in zip(a, b, strict=True)],
        "rationale": rationale[:RATIONALE_MAX_CHARS],
        "verdict": verdict,
    }
