"""Pair rules on planted conversations: each pair type, each filter, splits and balancing."""

from __future__ import annotations

import pytest

from tests.pairs_cases import conv, msgs
from wfcore import ids
from wfcore import pairs as P

OPTS = P.PairOptions()

# request, original, DSAT feedback, revision, SAT reply
HARVESTABLE = msgs(
    "write a haiku about rain",
    "Rain is wet.",
    "no, that's not a haiku, try again",
    "Soft rain on the roof / ...",
    "thanks, perfect",
)


def only(pairs, pair_type):
    got = [p for p in pairs if p["pair_type"] == pair_type]
    assert len(got) == 1, [p["pair_type"] for p in pairs]
    return got[0]


def unflagged_unique(pairs):
    return {p["pair_id"]: p for p in pairs if p["reject_reason"] is None}


def test_harvested_pair_takes_the_accepted_revision_as_chosen_and_the_original_as_rejected():
    pairs, _, skipped = P.conversation_candidates(
        conv("c1", HARVESTABLE, {2: "DSAT", 4: "SAT"}), OPTS
    )
    p = only(pairs, P.HARVESTED)
    assert p["chosen"] == HARVESTABLE[3]["content"]
    assert p["rejected"] == HARVESTABLE[1]["content"]
    assert p["prompt"] == HARVESTABLE[:1] and p["prompt"][-1]["role"] == "user"
    assert p["message_index"] == 2 and p["signal"] == "DSAT" and p["categories"] == ["Revision"]
    assert p["pair_id"] == ids.pair_id("c1", 2, P.HARVESTED, p["chosen"], p["rejected"])
    assert p["reject_reason"] is None and skipped == {}


@pytest.mark.parametrize(
    "messages,labels,accept,harvested",
    [
        (HARVESTABLE, {2: "DSAT"}, "no_dsat", True),  # next user turn carries no signal
        (HARVESTABLE, {2: "DSAT"}, "sat", False),  # ... but sat mode needs an explicit SAT
        (HARVESTABLE, {2: "DSAT", 4: "SAT"}, "sat", True),
        (HARVESTABLE, {2: "DSAT", 4: "DSAT"}, "no_dsat", False),  # the revision drew DSAT too
        (HARVESTABLE[:4], {2: "DSAT"}, "no_dsat", True),  # conversation ends after the revision
        (HARVESTABLE[:4], {2: "DSAT"}, "sat", False),
    ],
)
def test_harvest_acceptance_follows_the_configured_mode(messages, labels, accept, harvested):
    opts = P.PairOptions(harvest_accept=accept)
    pairs, _, skipped = P.conversation_candidates(conv("c", messages, labels), opts)
    got = [p for p in pairs if p["pair_type"] == P.HARVESTED and p["message_index"] == 2]
    assert bool(got) is harvested
    if not harvested:
        assert skipped.get(P.H_NOT_ACCEPTED) == 1


def test_dsat_turn_without_a_revision_is_counted_not_harvested():
    messages = msgs("q", "a", "wrong")  # ends on the DSAT turn
    pairs, _, skipped = P.conversation_candidates(conv("c", messages, {2: "DSAT"}), OPTS)
    assert pairs == [] and skipped == {P.H_NO_REVISION: 1}


def test_chained_revisions_each_give_a_pair_with_the_feedback_in_the_later_prompt():
    messages = msgs("q", "a1", "no, shorter", "a2", "still too long", "a3", "great thanks")
    pairs, _, _ = P.conversation_candidates(
        conv("c", messages, {2: "DSAT", 4: "DSAT", 6: "SAT"}), OPTS
    )
    harvested = sorted(
        (p for p in pairs if p["pair_type"] == P.HARVESTED), key=lambda p: p["message_index"]
    )
    # turn 2's revision drew DSAT (not accepted); turn 4's revision was accepted
    assert [p["message_index"] for p in harvested] == [4]
    assert (
        harvested[0]["prompt"] == messages[:3]
        and harvested[0]["chosen"] == "a3"
        and harvested[0]["rejected"] == "a2"
    )


def test_generated_pair_rejects_the_response_the_user_reacted_to():
    c = conv(
        "c",
        HARVESTABLE,
        {2: "DSAT"},
        responses={2: {"preferred": "A real haiku."}},
        preferences={2: ["Write a haiku"]},
    )
    pairs, _, _ = P.conversation_candidates(c, P.PairOptions(harvest=False))
    p = only(pairs, P.GENERATED)
    assert p["chosen"] == "A real haiku." and p["rejected"] == HARVESTABLE[1]["content"]
    assert p["prompt"] == HARVESTABLE[:1]
    assert p["preferences"] == ["Write a haiku"] and p["chosen_model"] == "preferred"


def test_on_policy_pair_uses_the_unconditioned_response_as_rejected():
    c = conv(
        "c",
        HARVESTABLE,
        {2: "DSAT"},
        responses={2: {"preferred": "with prefs", "unconditioned": "without"}},
    )
    pairs, _, _ = P.conversation_candidates(c, P.PairOptions(harvest=False))
    p = only(pairs, P.ON_POLICY)
    assert (p["chosen"], p["rejected"]) == ("with prefs", "without")


def test_sat_turn_on_policy_keeps_the_satisfied_original_as_chosen_and_is_an_sft_example():
    messages = msgs("q", "great answer", "thanks!", "bye")
    c = conv("c", messages, {2: "SAT"}, responses={2: {"unconditioned": "policy answer"}})
    pairs, sft, _ = P.conversation_candidates(c, OPTS)
    p = only(pairs, P.SAT_ON_POLICY)
    assert (p["chosen"], p["rejected"], p["signal"]) == ("great answer", "policy answer", "SAT")
    assert [(s["response"], s["prompt"], s["reject_reason"]) for s in sft] == [
        ("great answer", messages[:1], None)
    ]
    assert P.conversation_candidates(c, P.PairOptions(sat_sft=False))[1] == []


def unsafe_marker(text: str) -> bool:
    return "UNSAFE" in text


@pytest.mark.parametrize(
    "responses,flagged,opts,reason",
    [
        ({"preferred": "  rain IS   wet. "}, False, OPTS, P.R_SAME),
        ({"preferred": "   "}, False, OPTS, P.R_EMPTY),
        ({"preferred": ("cut off", "length")}, False, OPTS, P.R_TRUNCATED),
        ({"preferred": ("cut off", "length")}, False, P.PairOptions(drop_truncated=False), None),
        ({"preferred": "fine"}, True, OPTS, P.R_SAFETY_FLAG),
        ({"preferred": "fine"}, True, P.PairOptions(safety_drop_flagged=False), None),
        ({"preferred": "fine"}, False, P.PairOptions(max_prompt_chars=5), P.R_PROMPT_LONG),
        (
            {"preferred": "UNSAFE text"},
            False,
            P.PairOptions(safety_classifier="tests.test_pairs:unsafe_marker"),
            P.R_SAFETY_CLASSIFIER,
        ),
        (
            {"preferred": "safe text"},
            False,
            P.PairOptions(safety_classifier="tests.test_pairs:unsafe_marker"),
            None,
        ),
    ],
)
def test_each_per_pair_filter_names_its_reason(responses, flagged, opts, reason):
    c = conv("c", HARVESTABLE[:3], {2: "DSAT"}, responses={2: responses}, flagged=flagged)
    pairs, _, _ = P.conversation_candidates(c, opts)
    assert only(pairs, P.GENERATED)["reject_reason"] == reason


def test_a_malformed_classifier_hook_fails_fast():
    with pytest.raises(ValueError, match="module:function"):
        P.load_hook("no_colon_here")


def test_split_is_a_function_of_the_cluster_and_seed_only():
    clusters = [f"k{i}" for i in range(20_000)]
    a = [P.split_of(c, 0, 0.05) for c in clusters]
    assert a == [P.split_of(c, 0, 0.05) for c in clusters]
    assert 0.04 < a.count("test") / len(a) < 0.06
    assert a != [P.split_of(c, 1, 0.05) for c in clusters]
    # pairs of the same cluster land in the same split whatever their conversation
    c1 = conv("c1", HARVESTABLE, {2: "DSAT"}, cluster_id="k7")
    c2 = conv("c2", HARVESTABLE, {2: "DSAT"}, cluster_id="k7")
    s = {
        p["split"]
        for c in (c1, c2)
        for p in P.conversation_candidates(c, P.PairOptions(test_fraction=0.5))[0]
    }
    assert s == {P.split_of("k7", 0, 0.5)}


def test_duplicates_keep_one_pair_by_type_rank_then_id():
    c1 = conv("c1", HARVESTABLE, {2: "DSAT"})
    c2 = conv("c2", HARVESTABLE, {2: "DSAT"})  # same text, another conversation: same dedup key
    cands = P.conversation_candidates(c1, OPTS)[0] + P.conversation_candidates(c2, OPTS)[0]
    cands.append(dict(cands[0]))  # the very same pair twice
    P.corpus_filters(cands)
    reasons = sorted(str(p["reject_reason"]) for p in cands)
    assert reasons == sorted(["None", P.R_DUP_ID, P.R_DUP_PAIR])


def test_balancing_caps_are_deterministic_and_seeded():
    def build(seed):
        cands = []
        for i in range(40):
            labels = {2: "DSAT"}
            c = conv(f"c{i}", msgs(f"q{i}", f"a{i}", "no", f"b{i}"), labels)
            cands += P.conversation_candidates(c, P.PairOptions(balance_seed=seed))[0]
        return cands

    kept = []
    for seed in (0, 0, 1):
        cands = P.corpus_filters(build(seed), max_per_signal={"DSAT": 10})
        kept.append(sorted(unflagged_unique(cands)))
        assert sum(p["reject_reason"] == P.R_CAP_SIGNAL for p in cands) == 30
    assert kept[0] == kept[1] and kept[0] != kept[2]
    cands = P.corpus_filters(build(0), max_per_category=3)
    assert len(unflagged_unique(cands)) == 3


def test_normalise_ignores_case_whitespace_and_unicode_width():
    assert P.normalise(" Ｈello\n  World ") == P.normalise("hello world")


# ---------------------------------------------------------------- empty messages never make a side


@pytest.mark.parametrize("empty", ["", "  \n"])
def test_a_harvested_pair_with_an_empty_original_or_revision_is_rejected_as_empty(empty):
    empty_original = msgs(
        "write a haiku about rain",
        empty,
        "hello? write a haiku about rain",
        "Soft rain falls.",
        "thanks",
    )
    pairs, _, _ = P.conversation_candidates(conv("c1", empty_original, {2: "DSAT", 4: "SAT"}), OPTS)
    assert only(pairs, P.HARVESTED)["reject_reason"] == P.R_EMPTY
    empty_revision = msgs(
        "write a haiku about rain", "Rain is wet.", "not a haiku, again", empty, "ok"
    )
    pairs, _, _ = P.conversation_candidates(conv("c2", empty_revision, {2: "DSAT"}), OPTS)
    assert only(pairs, P.HARVESTED)["reject_reason"] == P.R_EMPTY


def test_a_dsat_turn_after_an_empty_reply_is_a_turn_but_its_generated_pair_and_sft_row_are_not_kept():
    messages = msgs(
        "write a haiku about rain", "", "hello? a haiku please", "Soft rain falls.", "thanks!"
    )
    c = conv("c", messages, {2: "DSAT", 4: "SAT"}, responses={2: {"preferred": "A real haiku."}})
    assert [t["message_index"] for t in c["turns"]] == [2, 4]
    pairs, sft, _ = P.conversation_candidates(
        c, P.PairOptions(min_response_chars=0)
    )  # at least 1 char always
    assert (
        only(pairs, P.GENERATED)["reject_reason"] == P.R_EMPTY
    )  # the rejected side would be the empty reply
    assert [(s["message_index"], s["reject_reason"]) for s in sft] == [
        (4, None)
    ]  # the SAT turn's response has text
    c_sat = conv("c", messages, {2: "SAT"})
    assert [s["reject_reason"] for s in P.conversation_candidates(c_sat, OPTS)[1]] == [
        P.R_EMPTY
    ]  # no empty SFT row


# ---------------------------------------------------------------- harvested chosen that answers its own feedback


@pytest.mark.parametrize(
    "text,rest",
    [
        (
            "Apologies for the confusion. The tallest peak in Wales is Snowdon.",
            "The tallest peak in Wales is Snowdon.",
        ),
        ("You're right, the treaty was signed in 1648.", "The treaty was signed in 1648."),
        (
            "You are absolutely correct; the loop should start at zero.",
            "The loop should start at zero.",
        ),
        ("My mistake! Seven times eight is 56.", "Seven times eight is 56."),
        (
            "I apologize for the oversight, and thank you for pointing it out. Kettles boil at 100 C.",
            "Kettles boil at 100 C.",
        ),
        ("Sure, here's a shorter version:\n\nFrogs leap.", "Frogs leap."),
        ("Certainly! Here is the revised email:\n\nDear Ana,", "Dear Ana,"),
        ("Here's a more formal version of the note, keeping the dates:\nDear team", "Dear team"),
        ("Thanks for the correction. Here is the updated table:\n| a | b |", "| a | b |"),
        ("I'm sorry, but I can only list four moons.", "I can only list four moons."),
        (
            "Good catch - the function returns None when the list is empty.",
            "The function returns None when the list is empty.",
        ),
        ("Updated as requested:\n\n1. Buy milk", "1. Buy milk"),
        (
            "  Correction: the boiling point is lower at altitude.",
            "The boiling point is lower at altitude.",
        ),
        ("Apologies. Here it is again:\n\nFrogs leap.", "Frogs leap."),
    ],
)
def test_a_feedback_opener_is_removed_when_the_rest_stands_alone(text, rest):
    assert P.opens_with_feedback_reference(text)
    assert P.strip_feedback_opener(text) == (rest, P.OPENER_REMOVED)


@pytest.mark.parametrize(
    "text",
    [
        "You're right, my apologies.",  # nothing left
        "I apologize for the confusion. My previous answer mixed up the two dates; it is 1648.",
        "Sorry about that! As you said, the loop should start at zero.",
        "You're right. I have revised the summary to drop the second paragraph.",
        "You're right. The revised plan keeps Monday free.",
    ],
)
def test_a_feedback_opener_whose_rest_still_points_back_is_dropped_unchanged(text):
    assert P.strip_feedback_opener(text) == (text, P.OPENER_DROPPED)


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Here's a haiku about rain:\n\nSoft rain on tin roofs.",
        "Here is a short summary of the book.",
        "The capital of Australia is Canberra.",
        "Certainly. Python lists are mutable.",
        "Here are three ideas for a birthday party:",
        "Thankfully, the bridge reopened in 2019.",
        "Sorrel is a leafy herb.",
        "Désolé pour la confusion. Voici la version révisée.",  # other languages are out of scope
        "",
    ],
)
def test_a_response_without_a_feedback_opener_is_left_alone(text):
    assert not P.opens_with_feedback_reference(text)
    assert P.strip_feedback_opener(text) == (text, None)


def test_a_harvested_pair_loses_the_opener_of_its_chosen_and_it_is_counted():
    messages = msgs(
        "what year was the treaty signed?",
        "It was signed in 1658.",
        "no, that's wrong",
        "You're right, it was signed in 1648.",
        "thanks",
    )
    pairs, _, stats = P.conversation_candidates(conv("c", messages, {2: "DSAT"}), OPTS)
    p = only(pairs, P.HARVESTED)
    assert p["chosen"] == "It was signed in 1648." and p["reject_reason"] is None
    assert p["pair_id"] == ids.pair_id(
        "c", 2, P.HARVESTED, "It was signed in 1648.", messages[1]["content"]
    )
    assert stats == {P.H_OPENER_REMOVED: 1}
    kept, _, stats = P.conversation_candidates(
        conv("c", messages, {2: "DSAT"}), P.PairOptions(strip_feedback_openers=False)
    )
    assert only(kept, P.HARVESTED)["chosen"] == messages[3]["content"] and stats == {}


def test_a_harvested_pair_whose_chosen_cannot_stand_alone_is_dropped_with_its_reason():
    messages = msgs(
        "summarise the article",
        "A long summary.",
        "shorter please",
        "Sorry about that! As you said, it was too long. Short summary.",
        "ok",
    )
    pairs, _, stats = P.conversation_candidates(conv("c", messages, {2: "DSAT"}), OPTS)
    p = only(pairs, P.HARVESTED)
    assert (
        p["reject_reason"] == P.R_CHOSEN_REFERS_TO_FEEDBACK
        and p["chosen"] == messages[3]["content"]
    )
    assert stats == {}


def test_generated_chosen_is_not_touched_by_the_harvest_opener_rule():
    c = conv(
        "c",
        HARVESTABLE,
        {2: "DSAT"},
        responses={2: {"preferred": "You're right, here is a haiku."}},
    )
    pairs, _, _ = P.conversation_candidates(c, P.PairOptions(harvest=False))
    assert only(pairs, P.GENERATED)["chosen"] == "You're right, here is a haiku."


# ---------------------------------------------------------------- SFT rows pass the pairs' filter


@pytest.mark.parametrize(
    "response,flagged,opts,reason",
    [
        ("Paris is the capital.", False, OPTS, None),
        (
            "UNSAFE advice",
            False,
            P.PairOptions(safety_classifier="tests.test_pairs:unsafe_marker"),
            P.R_SAFETY_CLASSIFIER,
        ),
        (
            "Paris is the capital.",
            False,
            P.PairOptions(safety_classifier="tests.test_pairs:unsafe_marker"),
            None,
        ),
        ("Paris is the capital.", True, OPTS, P.R_SAFETY_FLAG),
        ("Paris is the capital.", False, P.PairOptions(max_prompt_chars=5), P.R_PROMPT_LONG),
        ("   ", False, OPTS, P.R_EMPTY),
    ],
)
def test_sft_rows_pass_the_same_filter_as_pairs_safety_classifier_included(
    response, flagged, opts, reason
):
    messages = msgs("capital of France?", response, "thanks, great!")
    pairs, sft, _ = P.conversation_candidates(
        conv("c", messages, {2: "SAT"}, flagged=flagged), opts
    )
    assert [s["reject_reason"] for s in sft] == [reason]
    example = {"prompt": messages[:1], "chosen": response, "rejected": None}
    assert (
        P.pair_filter(example, {"moderation_flagged": flagged}, [], opts) == reason
    )  # one filter, not a copy


def test_a_classifier_flagging_a_satisfied_response_drops_its_pair_and_its_sft_row():
    opts = P.PairOptions(safety_classifier="tests.test_pairs:unsafe_marker")
    messages = msgs("q", "UNSAFE answer", "thanks!")
    c = conv("c", messages, {2: "SAT"}, responses={2: {"unconditioned": "policy answer"}})
    pairs, sft, _ = P.conversation_candidates(c, opts)
    assert only(pairs, P.SAT_ON_POLICY)["reject_reason"] == P.R_SAFETY_CLASSIFIER
    assert [s["reject_reason"] for s in sft] == [P.R_SAFETY_CLASSIFIER]


def test_opener_rule_reads_curly_apostrophes_and_a_polite_lead_in():
    assert P.strip_feedback_opener("You\u2019re right, it is Canberra.") == (
        "It is Canberra.",
        P.OPENER_REMOVED,
    )
    assert P.strip_feedback_opener(
        "Of course! My apologies. Here are some more examples:\n- a"
    ) == ("- a", P.OPENER_REMOVED)
    assert P.strip_feedback_opener("Thanks to its hull, the ship floats.") == (
        "Thanks to its hull, the ship floats.",
        None,
    )


def test_replies_to_thanks_and_returns_to_an_earlier_answer_are_openers_too():
    assert P.strip_feedback_opener("You're welcome! Rome has seven hills.") == (
        "Rome has seven hills.",
        P.OPENER_REMOVED,
    )
    assert P.strip_feedback_opener("Great to hear. Here is more detail on step 2:\n- a") == (
        "- a",
        P.OPENER_REMOVED,
    )
    assert P.strip_feedback_opener("Going back to what worked:\n\nX y.") == (
        "X y.",
        P.OPENER_REMOVED,
    )
    assert P.strip_feedback_opener("Sure! It came back again the next spring.") == (
        "Sure! It came back again the next spring.",
        None,
    )


def test_a_reply_to_thanks_with_only_a_sign_off_left_is_dropped():
    text = "You're welcome! I'm glad I could help. Feel free to ask if you have more questions."
    assert P.strip_feedback_opener(text) == (text, P.OPENER_DROPPED)


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry to hear that your laptop is slow. Try closing background apps.",  # empathy with the prompt
        "I'm sorry, but I cannot write that story.",  # a refusal answers the request itself
        "Sorry, I can't help with that request.",
    ],
)
def test_sympathy_and_refusals_are_not_feedback_openers(text):
    assert P.strip_feedback_opener(text) == (text, None)
