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
