"""Structured outputs of the model stages: JSON schemas built from the rubric, lenient parsers.

The schemas go to the engine (vLLM structured outputs / OpenAI ``response_format``), so the
decoder can only emit objects of this shape whatever the conversation text says. Parsing is
still lenient (``strict=False``: xgrammar can let raw control characters into strings) and
validated again here, because an endpoint may ignore the schema and a generation may stop at
the token limit. Every parser returns ``(value, error)``: exactly one of them is None.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .rubric import DSAT_CATEGORIES, SAT_CATEGORIES

EVIDENCE_MAX_CHARS = 160
PREFERENCE_MAX_CHARS = 200
MAX_PREFERENCES = 5
# A preference statement as the decoder may write it: two letters, then a later word of two
# letters (what ``is_statement`` checks), no quote or backslash, at most about 185 characters.
# Without it a random model fills the string with one bracket and a real small one with a
# placeholder; xgrammar refuses ``pattern`` beside ``minLength``/``maxLength``, so the pattern
# carries the length bound.
STATEMENT_PATTERN = r'^[A-Za-z]{2}[^"\\]{0,90} [A-Za-z]{2}[^"\\]{0,90}$'


_DETECT_KEYS = ["sat", "dsat", "sat_categories", "dsat_categories", "evidence"]


def _categories_schema(allowed: dict, max_items: int = 3) -> dict:
    return {"type": "array", "items": {"type": "string", "enum": list(allowed)}, "maxItems": max_items}


def _statements_schema(min_items: int, max_items: int) -> dict:
    return {
        "type": "array",
        "items": {"type": "string", "pattern": STATEMENT_PATTERN},
        "minItems": min_items,
        "maxItems": max_items,
    }


def _object(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def detect_schema(with_preferences: bool = False, conditional: bool = True) -> dict:
    """The detect answer. ``with_preferences`` adds ``preferences``: the turn's 1-5 preference
    statements when it carries a signal (one call for detect and preferences), none otherwise.

    ``conditional`` (the vLLM engine): one ``anyOf`` branch per (sat, dsat) combination, so the
    decoder cannot write categories of an absent signal, statements for a turn without a signal,
    or no statement for a turn with one. Hosted OpenAI endpoints refuse a root ``anyOf`` in strict
    mode, so for them (``conditional=False``) one object allows 0-5 statements and the parser and
    the preferences stage check the rest.
    """
    base = {
        "sat": {"type": "boolean"},
        "dsat": {"type": "boolean"},
        "sat_categories": _categories_schema(SAT_CATEGORIES),
        "dsat_categories": _categories_schema(DSAT_CATEGORIES),
        "evidence": {"type": "string", "maxLength": EVIDENCE_MAX_CHARS},
    }
    if not with_preferences:
        return _object(base)
    if not conditional:
        return _object({**base, "preferences": _statements_schema(0, MAX_PREFERENCES)})
    branches = []
    for sat, dsat in ((False, False), (True, False), (False, True), (True, True)):
        branches.append(_object({
            **base,
            "sat": {"const": sat},
            "dsat": {"const": dsat},
            "sat_categories": _categories_schema(SAT_CATEGORIES, 3 if sat else 0),
            "dsat_categories": _categories_schema(DSAT_CATEGORIES, 3 if dsat else 0),
            "preferences": _statements_schema(1, MAX_PREFERENCES) if sat or dsat else _statements_schema(0, 0),
        }))
    return {"anyOf": branches}


def preferences_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "preferences": {
                "type": "array",
                "items": {"type": "string", "pattern": STATEMENT_PATTERN},
                "minItems": 1,
                "maxItems": MAX_PREFERENCES,
            }
        },
        "required": ["preferences"],
        "additionalProperties": False,
    }


def load_object(text: str | None) -> tuple[dict | None, str | None]:
    """Leniently parse a model answer that must be one JSON object: ``(object, error)``."""
    if text is None or not str(text).strip():
        return None, "empty_output"
    try:
        obj = json.loads(text, strict=False)
    except json.JSONDecodeError as e:
        return None, f"invalid_json: {e.msg} at char {e.pos}"
    if not isinstance(obj, dict):
        return None, f"not_an_object: {type(obj).__name__}"
    return obj, None


def _categories(obj: dict, key: str, allowed: dict) -> tuple[list[str] | None, str | None]:
    val = obj.get(key)
    if not isinstance(val, list) or not all(isinstance(c, str) for c in val):
        return None, f"{key}: not a list of strings"
    unknown = [c for c in val if c not in allowed]
    if unknown:
        return None, f"{key}: not rubric categories {unknown[:3]}"
    return list(dict.fromkeys(val)), None


def parse_detection(text: str | None, with_preferences: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a detect answer into {sat, dsat, sat_categories, dsat_categories, evidence}.

    Categories listed under a signal the answer says is absent make the answer inconsistent
    (an error, so the row is retried), rather than being silently dropped.

    ``with_preferences``: the answer also carries ``preferences``, a list of strings (an error
    when missing or of another type). The statements themselves are checked by the preferences
    stage (:func:`check_statements`), which falls back to its own call for a turn whose
    statements fail: a labelled turn is not retried or lost for them.
    """
    obj, err = load_object(text)
    if err:
        return None, err
    for key in ("sat", "dsat"):
        if not isinstance(obj.get(key), bool):
            return None, f"{key}: not a boolean"
    sat_c, err = _categories(obj, "sat_categories", SAT_CATEGORIES)
    if err:
        return None, err
    dsat_c, err = _categories(obj, "dsat_categories", DSAT_CATEGORIES)
    if err:
        return None, err
    if sat_c and not obj["sat"]:
        return None, "inconsistent: sat_categories given with sat=false"
    if dsat_c and not obj["dsat"]:
        return None, "inconsistent: dsat_categories given with dsat=false"
    evidence = obj.get("evidence", "")
    if not isinstance(evidence, str):
        return None, "evidence: not a string"
    value = {
        "sat": obj["sat"],
        "dsat": obj["dsat"],
        "sat_categories": sat_c,
        "dsat_categories": dsat_c,
        "evidence": evidence[:EVIDENCE_MAX_CHARS],
    }
    if with_preferences:
        prefs = obj.get("preferences")
        if not isinstance(prefs, list) or not all(isinstance(p, str) for p in prefs):
            return None, "preferences: not a list of strings"
        value["preferences"] = list(prefs)
    return value, None


def parse_detection_with_preferences(text: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """:func:`parse_detection` of a one-call answer (``detect.with_preferences``)."""
    return parse_detection(text, with_preferences=True)


_QUOTE_EDGES = " \t\n\"'“”‘’`.…"


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_quote_of(evidence: str, text: str) -> bool:
    """Whether ``evidence`` is a verbatim quote of ``text`` (whitespace and case aside; quote
    marks and ellipses the model put around it do not count). Empty evidence is no quote."""
    quote = _normalise(evidence).strip(_QUOTE_EDGES)
    return bool(quote) and quote in _normalise(text)


def parse_preferences(text: str | None) -> tuple[list[str] | None, str | None]:
    """Parse a preferences answer into 1-5 non-empty statements."""
    obj, err = load_object(text)
    if err:
        return None, err
    return check_statements(obj.get("preferences"))


def check_statements(prefs: Any) -> tuple[list[str] | None, str | None]:
    """The preference-statement check (a preferences answer, or the statements a one-call detect
    answer carries): 1-5 non-empty statements, each a sentence (:func:`is_statement`), stripped
    and cut to ``PREFERENCE_MAX_CHARS``. Errors start with ``preferences:``."""
    if not isinstance(prefs, list) or not all(isinstance(p, str) for p in prefs):
        return None, "preferences: not a list of strings"
    prefs = [p.strip()[:PREFERENCE_MAX_CHARS] for p in prefs if p.strip()]
    if not 1 <= len(prefs) <= MAX_PREFERENCES:
        few = "too few" if len(prefs) < 1 else "too many"
        return None, f"preferences: {few} statements ({len(prefs)} non-empty, need 1-{MAX_PREFERENCES})"
    for p in prefs:
        if not is_statement(p):
            return None, f"preferences: not a statement: {p[:60]!r}"
    return prefs, None


def statement_error_code(err: str) -> str:
    """A reason code for a :func:`check_statements` error (``too_few_statements``, ...)."""
    code = err.removeprefix("preferences:").strip().split(":", 1)[0].split(" (", 1)[0]
    return code.replace(" ", "_")


_WORD = re.compile(r"[^\W\d_]{2,}")


def is_statement(text: str) -> bool:
    """A checkable preference is a sentence: at least two words with letters, not a
    placeholder such as ``your_statement_1`` (a real small model copies the prompt's format)."""
    return sum(1 for word in text.split() if _WORD.search(word)) >= 2


def parse_response(text: str | None) -> tuple[str | None, str | None]:
    """A generated response is valid when it is not blank."""
    if text is None or not text.strip():
        return None, "empty_output"
    return text, None
