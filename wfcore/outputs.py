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


def detect_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "sat": {"type": "boolean"},
            "dsat": {"type": "boolean"},
            "sat_categories": {
                "type": "array",
                "items": {"type": "string", "enum": list(SAT_CATEGORIES)},
                "maxItems": 3,
            },
            "dsat_categories": {
                "type": "array",
                "items": {"type": "string", "enum": list(DSAT_CATEGORIES)},
                "maxItems": 3,
            },
            "evidence": {"type": "string", "maxLength": EVIDENCE_MAX_CHARS},
        },
        "required": ["sat", "dsat", "sat_categories", "dsat_categories", "evidence"],
        "additionalProperties": False,
    }


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


def parse_detection(text: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a detect answer into {sat, dsat, sat_categories, dsat_categories, evidence}.

    Categories listed under a signal the answer says is absent make the answer inconsistent
    (an error, so the row is retried), rather than being silently dropped.
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
    return {
        "sat": obj["sat"],
        "dsat": obj["dsat"],
        "sat_categories": sat_c,
        "dsat_categories": dsat_c,
        "evidence": evidence[:EVIDENCE_MAX_CHARS],
    }, None


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
    prefs = obj.get("preferences")
    if not isinstance(prefs, list) or not all(isinstance(p, str) for p in prefs):
        return None, "preferences: not a list of strings"
    prefs = [p.strip()[:PREFERENCE_MAX_CHARS] for p in prefs if p.strip()]
    if not 1 <= len(prefs) <= MAX_PREFERENCES:
        return None, f"preferences: {len(prefs)} non-empty statements (need 1-{MAX_PREFERENCES})"
    for p in prefs:
        if not is_statement(p):
            return None, f"preferences: not a statement: {p[:60]!r}"
    return prefs, None


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
