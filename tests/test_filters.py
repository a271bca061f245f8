"""Conversation filters: each configurable reason, first failing filter wins."""

import pytest

from wfcore.config import PrepareConfig
from wfcore.filters import REASONS, filter_reason


def conv(users=("hello there", "thanks"), **extra):
    msgs = []
    for u in users:
        msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": "ok"}]
    return {"conversation_id": "c", "messages": msgs, "language": "English", **extra}


@pytest.mark.parametrize(
    "row,cfg_kwargs,reason",
    [
        (conv(language="French"), {"languages": ["English"]}, "language"),
        (conv(moderation_flagged=True), {}, "moderation_flagged"),
        (conv(toxic=True), {}, "toxic"),
        (conv(redacted=True), {"drop_redacted": True}, "redacted"),
        (conv(users=("my name is NAME_1", "ok")), {"drop_redacted": True}, "redacted"),
        (conv(users=("one",)), {}, "too_few_user_turns"),
        (conv(users=("a", "bb")), {"min_message_chars": 2}, "message_too_short"),
        (conv(users=("a", "x" * 50)), {"max_message_chars": 20}, "message_too_long"),
        (conv(users=("a" * 15, "b" * 15)), {"max_conversation_chars": 20}, "conversation_too_long"),
    ],
)
def test_each_filter_names_its_reason(row, cfg_kwargs, reason):
    got = filter_reason(row, PrepareConfig(**cfg_kwargs))
    assert got is not None and got[0] == reason and reason in REASONS


def test_filters_are_off_when_configured_off():
    cfg = PrepareConfig(drop_moderation_flagged=False, drop_toxic=False, languages=[])
    assert filter_reason(conv(moderation_flagged=True, toxic=True, language="French"), cfg) is None
    assert filter_reason(conv(redacted=True), PrepareConfig()) is None


def test_first_failing_filter_wins():
    assert filter_reason(conv(users=("x",), toxic=True), PrepareConfig())[0] == "toxic"


def test_empty_messages_never_drop_a_conversation():
    empty_reply = conv(users=("hello there", "are you there?"))
    empty_reply["messages"][1]["content"] = ""
    empty_reply["messages"][3]["content"] = " \n"
    assert filter_reason(empty_reply, PrepareConfig()) is None
    assert (
        filter_reason(empty_reply, PrepareConfig(min_message_chars=3)) is None
    )  # judges messages with content
    short = conv(users=("hello there", "ok"))
    assert filter_reason(short, PrepareConfig(min_message_chars=3))[0] == "message_too_short"


def test_empty_user_messages_do_not_count_as_user_turns():
    one_real = conv(users=("hello there", "   "))
    assert filter_reason(one_real, PrepareConfig())[0] == "too_few_user_turns"
    assert filter_reason(one_real, PrepareConfig(min_user_turns=1)) is None
