import json

from wfcore import outputs
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES


def _det(**kw):
    d = {"sat": False, "dsat": True, "sat_categories": [], "dsat_categories": ["Revision"], "evidence": "redo"}
    d.update(kw)
    return json.dumps(d)


def test_detect_schema_enums_are_the_rubric():
    props = outputs.detect_schema()["properties"]
    assert props["sat_categories"]["items"]["enum"] == list(SAT_CATEGORIES)
    assert props["dsat_categories"]["items"]["enum"] == list(DSAT_CATEGORIES)
    assert outputs.detect_schema()["additionalProperties"] is False


def test_valid_detection_parses():
    value, err = outputs.parse_detection(_det())
    assert err is None and value["dsat"] is True and value["dsat_categories"] == ["Revision"]


def test_raw_control_characters_in_strings_are_tolerated():
    value, err = outputs.parse_detection(_det(evidence="a").replace('"a"', '"a\tb\nc"'))
    assert err is None and value["evidence"] == "a\tb\nc"


def test_invalid_detections_are_errors_not_exceptions():
    cases = ["", "not json", "[1]", '{"sat": true', _det(sat="yes"), _det(dsat_categories=["Made Up"]),
             _det(dsat=False), _det(sat_categories="Praise")]
    for text in cases:
        value, err = outputs.parse_detection(text)
        assert value is None and err, text


def test_preferences_need_one_to_five_nonblank_statements():
    assert outputs.parse_preferences('{"preferences": ["Be shorter", " "]}') == (["Be shorter"], None)
    for text in ['{"preferences": []}', '{"preferences": ["a","b","c","d","e","f"]}', '{"p": 1}', '{"preferences": [1]}']:
        value, err = outputs.parse_preferences(text)
        assert value is None and err


def test_blank_response_is_an_error():
    assert outputs.parse_response("  ") == (None, "empty_output")
    assert outputs.parse_response("hi") == ("hi", None)


def test_evidence_is_a_quote_only_when_the_turn_contains_it():
    turn = "No, that's wrong.  The capital is\nCanberra, not Sydney."
    assert outputs.is_quote_of("that's wrong", turn)
    assert outputs.is_quote_of('"The capital is Canberra, not Sydney."', turn), "quote marks, case and spacing aside"
    assert outputs.is_quote_of("the CAPITAL is canberra", turn)
    assert not outputs.is_quote_of("The user says the answer is wrong", turn), "a paraphrase is no quote"
    assert not outputs.is_quote_of("", turn) and not outputs.is_quote_of(' "" ', turn)


def test_detect_row_clears_an_invented_evidence_and_notes_it():
    from jobs import detect, modelstage

    turn = {"turn_id": "t", "conversation_id": "c", "message_index": 2, "shard": 0, "user_message": "That is not what I asked."}
    value = {"sat": False, "dsat": True, "sat_categories": [], "dsat_categories": ["Ignored"], "evidence": "The user is upset"}
    row = detect.make_row({"turn": turn}, dict(value), {"model": "m"})
    assert row["evidence"] == "" and row["dsat"] is True and row["dsat_categories"] == ["Ignored"]
    assert row[modelstage.NOTES] == [detect.EVIDENCE_NOT_QUOTED]
    kept = detect.make_row({"turn": turn}, {**value, "evidence": "not what I asked"}, {"model": "m"})
    assert kept["evidence"] == "not what I asked" and modelstage.NOTES not in kept


def test_preference_placeholders_and_fragments_are_not_statements():
    assert outputs.parse_preferences('{"preferences": ["Gives the correct capital"]}')[1] is None
    for bad in ("your_statement_1", "statement", "42 17", "Shorter"):
        value, err = outputs.parse_preferences(json.dumps({"preferences": ["Gives the correct capital", bad]}))
        assert value is None and err.startswith("preferences: not a statement"), bad


def _one_call(**kw) -> str:
    d = {"sat": False, "dsat": False, "sat_categories": [], "dsat_categories": [], "evidence": "", "preferences": []}
    d.update(kw)
    return json.dumps(d, separators=(", ", ": "))


def test_one_call_schema_lets_the_decoder_write_statements_only_for_a_turn_with_a_signal():
    """The grammar vLLM decodes with (xgrammar, no whitespace, as the engine is configured)."""
    import xgrammar as xgr
    from xgrammar.testing import _is_grammar_accept_string

    grammar = xgr.Grammar.from_json_schema(json.dumps(outputs.detect_schema(with_preferences=True)), any_whitespace=False)
    gives = ["Gives the correct year", "Keeps the answer under 100 words"]
    accepted = [
        _one_call(),
        _one_call(dsat=True, dsat_categories=["Revision"], preferences=gives[:1]),
        _one_call(sat=True, sat_categories=["Gratitude"], preferences=gives),
        _one_call(sat=True, dsat=True, preferences=gives * 2 + gives[:1]),
    ]
    refused = [
        _one_call(preferences=gives[:1]),  # statements without a signal
        _one_call(dsat=True, dsat_categories=["Revision"]),  # a signal without a statement
        _one_call(dsat=True, preferences=gives * 3),  # more than five
        _one_call(dsat=True, preferences=["x"]),  # not a statement
        _one_call(sat_categories=["Praise"]),  # categories of an absent signal
        _one_call(dsat=True, sat_categories=["Praise"], preferences=gives[:1]),
    ]
    for text in accepted:
        assert _is_grammar_accept_string(grammar, text), text
        assert outputs.parse_detection_with_preferences(text)[1] is None, text
    for text in refused:
        assert not _is_grammar_accept_string(grammar, text), text


def test_one_call_schema_for_hosted_endpoints_is_one_object_and_the_default_schema_is_unchanged():
    plain = outputs.detect_schema(with_preferences=True, conditional=False)
    assert plain["type"] == "object" and plain["additionalProperties"] is False and "preferences" in plain["required"]
    assert (plain["properties"]["preferences"]["minItems"], plain["properties"]["preferences"]["maxItems"]) == (0, 5)
    assert "preferences" not in outputs.detect_schema()["properties"]
    assert outputs.detect_schema(with_preferences=True)["anyOf"][0]["properties"]["preferences"]["maxItems"] == 0


def test_one_call_detection_carries_its_statements_as_written():
    value, err = outputs.parse_detection(_det(preferences=[" Be shorter ", "x"]), with_preferences=True)
    assert err is None and value["preferences"] == [" Be shorter ", "x"], "checked later, by the preferences stage"
    for text in (_det(), _det(preferences="Be shorter"), _det(preferences=["Be shorter", 3])):
        value, err = outputs.parse_detection(text, with_preferences=True)
        assert value is None and err.startswith("preferences:"), text
    assert "preferences" not in outputs.parse_detection(_det(preferences=["Be shorter"]))[0], "off: ignored"


def test_statement_check_is_shared_and_names_each_failure():
    assert outputs.check_statements(["  Keeps it short  ", " "]) == (["Keeps it short"], None)
    cases = {
        "too_few_statements": [[], ["  "]],
        "too_many_statements": [["Keeps it short"] * 6],
        "not_a_statement": [["your_statement_1"], ["Keeps it short", "Shorter"]],
        "not_a_list_of_strings": [None, "Keeps it short", [1]],
    }
    for code, values in cases.items():
        for v in values:
            prefs, err = outputs.check_statements(v)
            assert prefs is None and outputs.statement_error_code(err) == code, (v, err)
            if isinstance(v, list):
                assert outputs.parse_preferences(json.dumps({"preferences": v})) == (None, err), "one rule for both"


def test_detect_row_clears_statements_of_a_turn_without_a_signal():
    from jobs import detect, modelstage

    turn = {"turn_id": "t", "conversation_id": "c", "message_index": 2, "shard": 0, "user_message": "ok"}
    value = {"sat": False, "dsat": False, "sat_categories": [], "dsat_categories": [], "evidence": "",
             "preferences": ["Keeps it short"]}
    row = detect.make_row({"turn": turn}, dict(value), {"model": "m"})
    assert row["preferences"] == [] and row[modelstage.NOTES] == [detect.PREFERENCES_WITHOUT_SIGNAL]
    kept = detect.make_row({"turn": turn}, {**value, "dsat": True}, {"model": "m"})
    assert kept["preferences"] == ["Keeps it short"] and modelstage.NOTES not in kept
