"""Candidate feedback turns: user message i >= 2 right after an assistant message."""

from wfcore.ids import turn_id
from wfcore.turns import candidate_indices, explode


def m(role, content=""):
    return {"role": role, "content": content or role}


def test_only_user_messages_after_an_assistant_from_index_two():
    assert candidate_indices([m("user"), m("assistant"), m("user"), m("assistant"), m("user")]) == [
        2,
        4,
    ]
    assert candidate_indices([m("system"), m("user"), m("assistant"), m("user")]) == [3]
    assert candidate_indices([m("user"), m("user"), m("assistant"), m("user"), m("user")]) == [3]
    assert candidate_indices([m("user"), m("assistant")]) == []


def test_explode_gives_history_response_and_stable_ids():
    msgs = [
        m("system", "s"),
        m("user", "q1"),
        m("assistant", "a1"),
        m("user", "q2"),
        m("assistant", "a2"),
        m("user", "thanks"),
    ]
    rows = explode({"conversation_id": "c1", "messages": msgs, "source": "x", "cluster_id": "c1"})
    assert [r["message_index"] for r in rows] == [3, 5]
    last = rows[-1]
    assert (
        last["history"] == msgs[:4]
        and last["response"] == "a2"
        and last["user_message"] == "thanks"
    )
    assert (
        last["turn_id"] == turn_id("c1", 5) and last["source"] == "x" and last["cluster_id"] == "c1"
    )
    again = explode({"conversation_id": "c1", "messages": msgs})
    assert [r["turn_id"] for r in again] == [r["turn_id"] for r in rows]


def test_the_turn_after_an_empty_reply_is_a_candidate_and_an_empty_user_message_is_not():
    msgs = [
        m("user", "q1"),
        m("assistant", "a1"),
        m("user", "wrong"),
        {"role": "assistant", "content": ""},
        m("user", "hello? q1 again"),
        m("assistant", "a2"),
        {"role": "user", "content": "  "},
        {"role": "assistant", "content": None},
        m("user", "ok"),
    ]
    assert candidate_indices(msgs) == [2, 4, 8]
    rows = {r["message_index"]: r for r in explode({"conversation_id": "c", "messages": msgs})}
    assert (
        rows[2]["response"] == "a1"
        and rows[4]["response"] == ""
        and rows[4]["user_message"] == "hello? q1 again"
    )
    assert rows[8]["response"] is None and rows[8]["history"][-1]["content"] == "  "
