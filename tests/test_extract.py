"""Behaviour of preference extraction from feedback turns (wfcore.extract)."""

from __future__ import annotations

import pytest

from wfcore.extract import MAX_PREFERENCES, extract_preferences
from wfcore.lexical import classify
from wfcore.rubric import DSAT, DSAT_CATEGORIES, SAT


def test_a_correction_becomes_a_statement_with_the_right_value() -> None:
    prefs = extract_preferences("It's 1989, not 1991.", ["Factual Error"], DSAT)
    assert prefs[0] == "Use the correct year: 1989"


def test_a_non_numeric_correction_names_both_values() -> None:
    prefs = extract_preferences("the author is Mary Shelley, not Percy", ["Factual Error"], DSAT)
    assert any("Mary Shelley" in p and "Percy" in p for p in prefs)


@pytest.mark.parametrize(
    ("message", "statement"),
    [
        ("too long, make it shorter", "Be shorter"),
        ("way too short, I need more detail", "Give more detail"),
        ("too formal for a birthday card", "Be less formal"),
        ("put it in bullet points please", "Use bullet points"),
        ("the code still doesn't compile", "Make sure it works without errors"),
    ],
)
def test_style_and_detail_complaints_map_to_checkable_statements(
    message: str, statement: str
) -> None:
    assert statement in extract_preferences(message, ["Style"], DSAT)


def test_directives_keep_the_users_own_words() -> None:
    prefs = extract_preferences(
        "You forgot the references, and don't use emojis.", ["Ignored"], DSAT
    )
    assert "Include the references" in prefs
    assert "Do not use emojis" in prefs
    assert not any(p == "Use emojis" for p in prefs)


def test_an_imperative_sentence_becomes_a_preference() -> None:
    assert "Rewrite it in French" in extract_preferences(
        "Rewrite it in French.", ["Revision"], DSAT
    )


@pytest.mark.parametrize("category", list(DSAT_CATEGORIES))
def test_a_dsat_turn_without_usable_words_falls_back_to_its_category(category: str) -> None:
    prefs = extract_preferences("hmm", [category], DSAT)
    assert len(prefs) == 1 and prefs[0]


@pytest.mark.parametrize("message", ["", "???", "no", "你好", "x" * 10_000])
def test_dsat_preferences_are_never_empty(message: str) -> None:
    assert 1 <= len(extract_preferences(message, [], DSAT)) <= MAX_PREFERENCES


def test_preferences_are_bounded_short_unique_and_deterministic() -> None:
    msg = (
        "Too long. Use bullet points. Add a summary. Remove the intro. You forgot the costs. "
        "What about risks? Don't use jargon. Make it friendlier. It's 2021, not 2020."
    )
    first = extract_preferences(msg, ["Style", "Ignored"], DSAT)
    assert first == extract_preferences(msg, ["Style", "Ignored"], DSAT)
    assert 1 <= len(first) <= MAX_PREFERENCES
    assert len({p.lower() for p in first}) == len(first)
    assert all(len(p.split()) <= 18 and p[0].isupper() for p in first)


def test_sat_turn_yields_a_keep_statement() -> None:
    assert extract_preferences("Thanks, perfect!", ["Gratitude", "Praise"], SAT)


def test_detector_and_extractor_compose_on_a_feedback_turn() -> None:
    msg = "No, it's 1989, not 1991. And make it shorter."
    det = classify(msg)
    prefs = extract_preferences(msg, det.dsat_categories, DSAT)
    assert det.dsat and "Use the correct year: 1989" in prefs and "Be shorter" in prefs
