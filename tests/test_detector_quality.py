"""benchmarks/detector_quality.py's model-detector plumbing that needs no model: the seeded,
stratified slice of silver turns and how an answer (or an error row) is scored."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter

import pytest

_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "detector_quality.py"
)
_spec = importlib.util.spec_from_file_location("detector_quality", _PATH)
dq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dq)


def _turns() -> list[dict]:
    """Silver-labelled turns in the natural mix (about 20% SAT, 10% DSAT) plus unlabelled ones."""
    turns = []
    for c in range(40):
        for i, gold in enumerate(
            ["neutral", "SAT", "neutral", "DSAT" if c % 2 else "neutral", None]
        ):
            turns.append(
                {
                    "conversation_id": f"c{c:02d}",
                    "message_index": 2 * i + 3,
                    "gold": gold,
                    "also_sat": False,
                }
            )
    return turns


def test_slice_is_stratified_seeded_and_in_conversation_order():
    turns = _turns()
    part = dq.silver_slice(turns, 60, seed=0)
    assert Counter(r["gold"] for r in part) == {"SAT": 20, "DSAT": 20, "neutral": 20}
    assert part == dq.silver_slice(turns, 60, seed=0)
    assert part != dq.silver_slice(turns, 60, seed=1)
    keys = [(r["conversation_id"], r["message_index"]) for r in part]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(any(r is t for t in turns) for r in part)


def test_slice_remainder_goes_to_neutral_and_a_short_label_gives_what_it_has():
    turns = _turns()
    assert Counter(r["gold"] for r in dq.silver_slice(turns, 8)) == {
        "SAT": 2,
        "DSAT": 2,
        "neutral": 4,
    }
    big = dq.silver_slice(turns, 90)
    assert Counter(r["gold"] for r in big) == {
        "SAT": 30,
        "DSAT": 20,
        "neutral": 30,
    }  # only 20 DSAT exist


def test_an_error_row_scores_as_no_signal_and_a_valid_answer_as_given():
    base = {"sat_categories": [], "dsat_categories": [], "evidence": None}
    turns = [
        {
            "gold": "DSAT",
            "also_sat": False,
            "m": dq.ModelDetection(
                {**base, "sat": None, "dsat": None, "error": "invalid_output: x"}
            ),
        },
        {
            "gold": "DSAT",
            "also_sat": False,
            "m": dq.ModelDetection({**base, "sat": False, "dsat": True, "error": None}),
        },
        {
            "gold": "neutral",
            "also_sat": False,
            "m": dq.ModelDetection({**base, "sat": True, "dsat": False, "error": None}),
        },
    ]
    res = dq.evaluate_slice(turns, "m")
    assert (res["DSAT"]["gold_pos"], res["DSAT"]["pred_pos"], res["DSAT"]["recall"]) == (2, 1, 0.5)
    assert (res["SAT"]["gold_pos"], res["SAT"]["pred_pos"], res["SAT"]["precision"]) == (0, 1, 0.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--engine", "vllm"],
        ["--engine", "openai", "--model", "m"],
        ["--engine", "vllm", "--model", "m", "--sets", "uss"],
        ["--sets", "nope"],
    ],
)
def test_model_detector_arguments_are_checked_before_anything_runs(argv):
    with pytest.raises(SystemExit) as e:
        dq.main(argv)
    assert e.value.code == 2


def test_final_attempt_comes_from_the_lineage_seed_of_the_retries():
    import json

    from wfcore.config import SamplingConfig
    from wfcore.engine import sampling_dict

    s = SamplingConfig(seed=5)
    for attempt in range(3):
        row = {"sampling": json.dumps(sampling_dict(s, attempt))}
        assert dq.final_attempt(row, 5) == attempt


def test_limit_zero_takes_every_silver_turn_in_the_natural_mix():
    turns = _turns()
    part = dq.silver_slice(turns, 0)
    assert Counter(r["gold"] for r in part) == {"SAT": 40, "DSAT": 20, "neutral": 100}
