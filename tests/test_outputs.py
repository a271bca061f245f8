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
