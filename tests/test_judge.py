"""The judge's prompt layout, schema and parser, and the rule judge (pure Python, no model)."""

from __future__ import annotations

import json
import os

import pytest

from wfcore.checklist import LEVELS
from wfcore.judge import (
    MAX_CHECKLIST_ITEMS,
    check_item,
    guess_language,
    judge_messages,
    judge_schema,
    lexical_judgment,
    parse_judgment,
)
from wfcore.prompts import prompt_version

PROMPT = [
    {"role": "user", "content": "Explain how DNS resolution works."},
    {"role": "assistant", "content": "DNS maps names to addresses..."},
    {"role": "user", "content": "Too long. Give me the short version as a list."},
]
CHECKLIST = ["Gives the answer in under 50 words", "Uses a bulleted list"]


def _flat(messages: list[dict]) -> str:
    return "".join(f"<{m['role']}>{m['content']}" for m in messages)


def test_both_orders_share_the_prefix_up_to_the_first_response():
    a, b = "Resolver asks root, TLD, then authoritative servers.", "- root\n- TLD\n- authoritative"
    ab, ba = (
        _flat(judge_messages(PROMPT, CHECKLIST, a, b)),
        _flat(judge_messages(PROMPT, CHECKLIST, b, a)),
    )
    shared = os.path.commonprefix([ab, ba])
    # everything but the two responses is shared: conversation and checklist come first
    assert ab.startswith(shared) and shared.endswith("Response A:\n")
    for text in (PROMPT[-1]["content"], *CHECKLIST):
        assert text in shared
    assert len(shared) > 0.8 * (len(ab) - len(a) - len(b))


def test_no_checklist_ablation_leaves_the_checklist_out_of_prompt_and_schema():
    msgs = _flat(judge_messages(PROMPT, None, "x", "y"))
    assert "Checklist" not in msgs and CHECKLIST[0] not in msgs
    assert "items" not in judge_schema(checklist=False)["properties"]
    assert judge_schema(True)["properties"]["verdict"]["enum"] == list(LEVELS)
    assert prompt_version("judge") != prompt_version("judge_nochecklist")


def test_conversation_text_is_not_expanded_as_template_variables():
    hostile = [{"role": "user", "content": "print $checklist and ${response_a} please"}]
    text = _flat(judge_messages(hostile, ["$verdict"], "$response_b", "B"))
    assert "print $checklist and ${response_a} please" in text and "1. $verdict" in text


def test_parser_is_lenient_on_spelling_and_strict_on_structure():
    ok, err = parse_judgment(
        json.dumps(
            {
                "items": [
                    {"a": "Yes", "b": "partial"},
                    {"a": "no", "b": "yes"},
                    {"a": "no", "b": "no"},
                ],
                "rationale": "r",
                "verdict": "a > b",
            }
        ),
        n_items=2,
    )
    assert err is None and ok == {
        "verdict": "A>B",
        "items_first": ["yes", "no"],
        "items_second": ["partly", "yes"],
        "rationale": "r",
    }
    assert parse_judgment('{"rationale": "", "verdict": "tie"}', None)[0]["verdict"] == "A=B"
    assert parse_judgment('{"rationale": "", "verdict": "A<<B"}', None)[0]["verdict"] == "B>>A"
    bad = [
        ("", None, "empty_output"),
        ("not json", None, "invalid_json"),
        ("[1]", None, "not_an_object"),
        ('{"rationale": "", "verdict": "A>>>B"}', None, "verdict"),
        (
            '{"items": [{"a": "yes", "b": "no"}], "rationale": "", "verdict": "A>B"}',
            2,
            "items: 1 verdicts for 2",
        ),
        (
            '{"items": [{"a": "maybe", "b": "no"}], "rationale": "", "verdict": "A>B"}',
            1,
            "items[0]",
        ),
        ('{"rationale": 3, "verdict": "A>B"}', None, "rationale"),
    ]
    for text, n, prefix in bad:
        value, err = parse_judgment(text, n)
        assert value is None and err.startswith(prefix), (text, err)


def test_parser_caps_long_checklists_at_the_schema_limit():
    items = [{"a": "yes", "b": "no"}] * MAX_CHECKLIST_ITEMS
    value, err = parse_judgment(
        json.dumps({"items": items, "rationale": "", "verdict": "A>B"}), n_items=12
    )
    assert err is None and len(value["items_first"]) == MAX_CHECKLIST_ITEMS


@pytest.mark.parametrize(
    ("item", "good", "bad"),
    [
        (
            "Gives the answer in under 10 words",
            "DNS maps names to IPs.",
            "DNS maps names to IP addresses through a chain of resolvers and servers.",
        ),
        ("Keeps it to 2 sentences or less", "One. Two.", "One. Two. Three."),
        ("Uses a bulleted list", "- a\n- b\n- c", "a, b and c"),
        ("Does not use bullet points", "a, b and c", "- a\n- b"),
        ("Includes a code block with the fix", "```python\nx = 1\n```", "Set x to one."),
        (
            "Presents the comparison in a table",
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "a is 1 and b is 2",
        ),
        (
            "Answers in French",
            "Le serveur DNS est la clé de la résolution des noms pour les utilisateurs.",
            "The DNS server is the key to the resolution of names for the users.",
        ),
        (
            'Mentions the word "recursive"',
            "A recursive resolver asks for you.",
            "A resolver asks for you.",
        ),
        ("Does not say 'as an AI'", "Here it is.", "As an AI, here it is."),
        ("Lists at least 3 numbered items", "1. a\n2. b\n3. c", "1. a"),
    ],
)
def test_rule_judge_checks_what_rules_can_check(item, good, bad):
    assert check_item(item, good) == "yes", item
    assert check_item(item, bad) == "no", item


def test_rule_judge_leaves_uncheckable_items_unknown_and_ties_without_evidence():
    assert check_item("Is more empathetic", "anything") == "unknown"
    j = lexical_judgment(["Is more empathetic", "Explains the reasoning"], "x", "y")
    assert j["verdict"] == "A=B" and all(
        it == {"a": "unknown", "b": "unknown"} for it in j["items"]
    )


def test_rule_judge_verdict_is_position_independent_and_uses_the_strong_level_only_for_a_sweep():
    checklist = ["Gives the answer in under 10 words", "Uses a bulleted list", "Is friendly"]
    good, bad = (
        "- a\n- b",
        "This answer is long and written as one paragraph without any list at all.",
    )
    ab, ba = lexical_judgment(checklist, good, bad), lexical_judgment(checklist, bad, good)
    assert ab["verdict"] == "A>>B" and ba["verdict"] == "B>>A"
    assert (
        [it["a"] for it in ab["items"]]
        == [it["b"] for it in ba["items"]]
        == ["yes", "yes", "unknown"]
    )
    assert lexical_judgment(checklist[:1] + checklist[2:], good, bad)["verdict"] == "A>B"
    # the rule judge's answer is valid against the model's schema keys and the parser's levels
    assert set(ab) == set(judge_schema(True)["properties"]) and ab["verdict"] in LEVELS


def test_language_guess_is_cautious():
    assert (
        guess_language("Das ist nicht der Weg, den ich mit dir gehen will, und es ist zu spät.")
        == "German"
    )
    assert guess_language("这是一个关于域名系统的简短回答，希望对你有帮助。") == "Chinese"
    assert guess_language("Это краткий ответ о системе доменных имён.") == "Russian"
    assert guess_language("ok") is None
