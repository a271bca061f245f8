"""Behaviour of the lexical rubric detector (wfcore.lexical); phrasings are our own."""

from __future__ import annotations

import pytest

from wfcore.lexical import Detection, classify, repeat_similarity
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES

SAT_EXAMPLES = {
    "Gratitude": [
        "Thanks a lot!",
        "thank you so much",
        "Much appreciated.",
        "merci beaucoup",
        "спасибо!",
    ],
    "Learning": ["Oh, I didn't know that.", "That explains it, now I understand.", "Good to know."],
    "Compliance": ["It works now.", "That did the trick.", "I'll try that tonight."],
    "Praise": ["This is excellent.", "Great answer.", "Wow, you're a genius."],
    "Personal Details": ["My daughter is in fourth grade and she struggles with fractions."],
    "Humor": ["lol", "haha that's hilarious", "😂"],
    "Acknowledgment": [
        "Exactly.",
        "Yes, that's right.",
        "Sounds good.",
        "That's what I was looking for.",
    ],
    "Positive Closure": ["That's all I needed.", "Bye!", "Have a great day."],
    "Getting There": ["That's much better.", "Almost there.", "Getting closer."],
}
DSAT_EXAMPLES = {
    "Negative Feedback": [
        "This is useless.",
        "No, that's wrong.",
        "The script doesn't work.",
        "That doesn't make sense.",
        "This is not helpful at all.",
    ],
    "Revision": [
        "Try again.",
        "Rewrite it from scratch.",
        "Give me another version.",
        "Can you change the ending?",
    ],
    "Factual Error": [
        "It's 1989, not 1991.",
        "That's not true.",
        "Are you sure? Paris is not in Belgium.",
        "Actually, the capital is Canberra.",
    ],
    "Unrealistic Expectation": [
        "I know you can browse the web, just do it.",
        "Why can't you open the link?",
    ],
    "No Engagement": [
        "You keep repeating the same answer.",
        "That's irrelevant to my question.",
        "You're not listening.",
    ],
    "Ignored": [
        "You forgot the second question.",
        "I asked for three options.",
        "What about the budget?",
    ],
    "Lower Quality": ["The previous version was better.", "This is worse than before."],
    "Insufficient Detail": [
        "Can you elaborate?",
        "I need more details on step two.",
        "What do you mean by that?",
    ],
    "Style": [
        "Too long.",
        "Make it more concise.",
        "Please use bullet points.",
        "Too formal for a birthday card.",
    ],
}


@pytest.mark.parametrize(
    ("category", "message"), [(c, m) for c, ms in SAT_EXAMPLES.items() for m in ms]
)
def test_each_sat_category_fires_on_its_phrasings(category: str, message: str) -> None:
    det = classify(message)
    assert det.sat and category in det.sat_categories and det.candidate
    assert set(det.sat_categories) <= set(SAT_CATEGORIES)


@pytest.mark.parametrize(
    ("category", "message"), [(c, m) for c, ms in DSAT_EXAMPLES.items() for m in ms]
)
def test_each_dsat_category_fires_on_its_phrasings(category: str, message: str) -> None:
    det = classify(message)
    assert det.dsat and category in det.dsat_categories and det.candidate
    assert set(det.dsat_categories) <= set(DSAT_CATEGORIES)


def test_every_rubric_category_has_examples() -> None:
    assert set(SAT_EXAMPLES) == set(SAT_CATEGORIES) and set(DSAT_EXAMPLES) == set(DSAT_CATEGORIES)


@pytest.mark.parametrize(
    "message",
    [
        "Not bad at all.",
        "No thanks, I'm all set.",
        "No problem, that's fine.",
        "There's nothing wrong with it.",
    ],
)
def test_negated_or_declining_phrases_are_not_dsat(message: str) -> None:
    assert not classify(message).dsat


@pytest.mark.parametrize(
    "message",
    ["This is not helpful.", "Not great.", "That isn't correct.", "It's not what I wanted."],
)
def test_negated_praise_is_dsat_not_sat(message: str) -> None:
    det = classify(message)
    assert det.dsat and not det.sat


def test_no_thanks_differs_from_no_thats_wrong() -> None:
    assert not classify("No thanks.").dsat
    assert classify("No, that's wrong.").dsat


@pytest.mark.parametrize(
    "message", ["Is it any good?", "Is there a better way?", "Would that be correct?"]
)
def test_positive_words_in_questions_are_not_sat(message: str) -> None:
    assert not classify(message).sat


def test_repeating_the_previous_request_is_revision() -> None:
    previous = "Write a python function that parses ISO dates into datetime objects"
    det = classify("write a python function that parses ISO dates to datetime objects", previous)
    assert det.dsat and "Revision" in det.dsat_categories
    assert not classify("Now translate the README into German", previous).dsat


def test_repeat_similarity_is_symmetric_and_bounded() -> None:
    a, b = "book a table for two in Rome", "please book a table for two people in Rome"
    jac, contain = repeat_similarity(a, b)
    assert (jac, contain) == repeat_similarity(b, a)
    assert 0 < jac <= contain <= 1
    assert repeat_similarity("", b) == (0.0, 0.0)


def test_thanks_followed_by_a_new_request_is_a_weaker_sat_than_plain_thanks() -> None:
    plain = classify("Thanks, that was exactly what I needed!")
    pivot = classify("Thanks. Now write a short poem about autumn leaves for my class.")
    assert "Gratitude" in pivot.sat_categories
    assert plain.sat_strength > pivot.sat_strength


def test_praise_followed_by_a_complaint_gives_way_to_the_complaint() -> None:
    det = classify("Thanks, but the second date is wrong.")
    assert det.dsat and not det.sat


def test_feedback_late_in_a_long_message_weighs_less_than_at_the_start() -> None:
    filler = "Here is the next part of my essay about the history of the railway in my town. " * 3
    assert (
        classify("That's useless. " + filler).dsat_strength
        > classify(filler + "That's useless.").dsat_strength
    )
    assert classify("Great!").sat_strength > classify(filler + "Great!").sat_strength


def test_an_error_pasted_after_code_is_negative_feedback() -> None:
    response = "Here you go:\n```python\nimport os\nprint(os.listdir())\n```"
    det = classify("PermissionError: [Errno 13] Permission denied: '/root'", None, response)
    assert det.dsat and "Negative Feedback" in det.dsat_categories


def test_plain_new_request_is_neither_sat_nor_dsat() -> None:
    det = classify("Write a haiku about the sea.", "Summarise this article about tides.")
    assert not det.sat and not det.dsat and not det.sat_categories and not det.dsat_categories


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "你好，请帮我写一封信",
        "¿Puedes ayudarme con esto?",
        "🙂🙂🙂",
        "x" * 50_000,
        "```\n}}}{{{\n```",
    ],
)
def test_odd_or_non_english_input_never_crashes(message: str) -> None:
    det = classify(message, message, message)
    assert isinstance(det, Detection)
    assert det.sat == bool(det.sat_categories) and det.dsat == bool(det.dsat_categories)


def test_signal_implies_candidate_and_evidence_quotes_the_message() -> None:
    for ms in (*SAT_EXAMPLES.values(), *DSAT_EXAMPLES.values()):
        for m in ms:
            det = classify(m)
            assert det.candidate
            assert det.evidence and det.evidence.lower() in m.lower()


def test_classification_is_deterministic() -> None:
    msg = "No, it's 1989, not 1991. Also too long."
    assert classify(msg, "when did the wall fall", "It fell in 1991.") == classify(
        msg, "when did the wall fall", "It fell in 1991."
    )


def test_reaction_opener_scores_above_a_plain_new_question() -> None:
    resp = "The museum opens at 9 am and entry is free."
    reaction = classify("Hmm, are you sure about the entry fee?", "when does it open", resp)
    plain = classify("What is the address of the museum?", "when does it open", resp)
    assert 0.0 <= plain.score < reaction.score <= 1.0
    assert reaction.candidate and not plain.candidate


def test_prefilter_threshold_is_monotone_and_bounded() -> None:
    msgs = ["Thanks!", "no", "ok", "What time is it in Oslo?", "Still wrong.", "I need a taxi."]
    passed = [
        sum(classify(m, threshold=th).candidate for m in msgs) for th in (0.0, 0.4, 0.8, 1.01)
    ]
    assert passed == sorted(passed, reverse=True)
    assert passed[0] == len(msgs) and passed[-1] == 0


# ---- issue 17: real LLM chats ----------------------------------------------------------------

PASSAGE_A = (
    "The harbour town woke slowly, fishing boats knocking against the pier while gulls argued "
    "over scraps and the baker opened his shutters to the smell of rain."
)
PASSAGE_B = (
    "Our quarterly survey found that most volunteers prefer weekend shifts, although students "
    "asked for evening slots closer to the exam period and better bus connections."
)


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        (
            "Write a limerick about a cat who loves jazz",
            "Write a limerick about a dog who loves opera",
        ),
        (
            f"Summarise this passage in one sentence:\n{PASSAGE_A}",
            f"Summarise this passage in one sentence:\n{PASSAGE_B}",
        ),
        (
            "Translate into Spanish: good morning, neighbour",
            "Translate into Spanish: see you at noon",
        ),
    ],
)
def test_templated_batch_prompt_with_a_new_item_is_not_revision(
    previous: str, message: str
) -> None:
    det = classify(message, previous, "Here you go: a result for the item you sent.")
    assert "Revision" not in det.dsat_categories and not det.dsat


def test_edit_instruction_that_brings_its_own_text_is_not_revision() -> None:
    response = "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen."
    own = classify(
        f"Rewrite this paragraph so it sounds friendlier and shorter: {PASSAGE_B}", None, response
    )
    assert not own.dsat
    quoted = classify(
        "Rewrite this part so it is shorter: photosynthesis turns light, water and carbon dioxide "
        "into sugar and oxygen for the plant",
        None,
        response,
    )
    assert quoted.dsat and {"Revision", "Style"} & set(quoted.dsat_categories)


def test_new_question_on_the_same_topic_is_not_a_repeat() -> None:
    previous = "What is a hash map?"
    det = classify(
        "What are the benefits of a hash map over a search tree?",
        previous,
        "A hash map stores keys.",
    )
    assert not det.dsat


def test_repeat_that_answers_the_assistants_question_is_not_revision() -> None:
    previous = "book a flight to Lisbon on Friday"
    det = classify(
        "book a flight to Lisbon on Friday", previous, "Sure. Which city are you flying from?"
    )
    assert "Revision" not in det.dsat_categories
    again = classify("book a flight to Lisbon on Friday", previous, "Lisbon has a lovely old town.")
    assert again.dsat and "Revision" in again.dsat_categories


@pytest.mark.parametrize(
    "message",
    [
        "Is that really right?",
        "I doubt that.",
        "Hmm, that doesn't sound right to me.",
        "Where did you get that from?",
        "I'm not convinced that is the case.",
        "How can that be true? The museum was closed all winter.",
    ],
)
def test_doubt_and_challenge_are_dsat(message: str) -> None:
    det = classify(message, "when did the museum reopen", "The museum reopened in March.")
    assert det.dsat and "Factual Error" in det.dsat_categories and det.candidate


@pytest.mark.parametrize(
    "message",
    [
        "The bridge opened in 1937, though.",
        "The river is about 2,300 km long though.",
        "But wait, I thought the treaty was signed in Vienna.",
    ],
)
def test_correction_without_a_negation_word_is_factual_error(message: str) -> None:
    det = classify(message, "tell me about it", "It was finished in 1951.")
    assert det.dsat and "Factual Error" in det.dsat_categories


def test_an_opinion_with_a_closing_though_is_not_a_correction() -> None:
    assert not classify("I liked the ending though.").dsat


@pytest.mark.parametrize(
    "message",
    [
        "Can you improve it?",
        "Explain that again in plain terms.",
        "Please give the above a better format.",
        "Could you say the same in simpler words for a beginner?",
        "Make it a bit better, it reads like a manual.",
        "Can you explain the same in non-technical terms?",
    ],
)
def test_requests_to_improve_the_last_answer_are_dsat(message: str) -> None:
    det = classify(message, "explain how vaccines work", "Vaccines train the immune system ...")
    assert det.dsat and {"Revision", "Style"} & set(det.dsat_categories) and det.candidate


@pytest.mark.parametrize(
    "message",
    ["Explain the third point.", "What do you mean by herd immunity?", "Can you explain step 2?"],
)
def test_clarification_questions_about_the_answer_are_dsat(message: str) -> None:
    det = classify(
        message, "explain how vaccines work", "1. Antigens. 2. Antibodies. 3. Memory cells."
    )
    assert det.dsat and "Insufficient Detail" in det.dsat_categories


def test_what_does_a_term_mean_is_a_clarification_only_when_the_answer_used_it() -> None:
    response = "Make the handler idempotent so a retried request does no harm."
    assert (
        "Insufficient Detail"
        in classify("What does idempotent mean?", None, response).dsat_categories
    )
    assert not classify("What does photosynthesis mean?", None, response).dsat


def test_turn_after_an_empty_response_is_dsat() -> None:
    previous = "What is the boiling point of water at sea level?"
    repeat = classify("what is the boiling point of water at sea level??", previous, "")
    assert repeat.dsat and repeat.dsat_categories[0] == "Revision" and repeat.candidate
    other = classify("Hello? Anyone there?", previous, "  \n ")
    assert other.dsat and other.dsat_categories[0] == "No Engagement"
    first = classify("Hello? Anyone there?", None, None)  # no response at all: nothing to react to
    assert not first.dsat


def test_a_pasted_error_or_a_dead_link_is_negative_feedback() -> None:
    for message in (
        "KeyError: 'price' on line 12",
        "The link is dead.",
        "Your code still doesn't compile.",
    ):
        det = classify(message, "write the parser", "Here is the parser and a link to the docs.")
        assert det.dsat and "Negative Feedback" in det.dsat_categories, message


def test_a_new_question_about_an_error_is_not_dsat() -> None:
    det = classify(
        "Can you explain what error code 0x80070005 means?", "hi", "Hello! How can I help?"
    )
    assert not det.dsat


@pytest.mark.parametrize(
    "message",
    [
        "How do I change the default region of my account?",
        "Is it possible?",
        "Which of the two libraries is more accurate for dates?",
        "I'm not sure whether to pick the blue or the green theme.",
        "I don't think that I need the premium plan.",
        "Now do the same for the second chapter.",
    ],
)
def test_new_requests_that_only_look_like_feedback_are_not_dsat(message: str) -> None:
    det = classify(
        message, "compare the two plans", "The basic plan costs less; premium adds backups."
    )
    assert not det.dsat, det.dsat_categories


def test_turn_after_an_empty_reply_read_by_ingest_is_dsat(tmp_path) -> None:
    """End to end without Spark: ingest keeps a null / blank reply, the turn after it is DSAT."""
    import json

    from jobs.detect import previous_user_message
    from wfcore.ingest import FileReader
    from wfcore.turns import explode

    ask = "Which river flows through the old town of Heidelberg?"
    record = {
        "conversation_id": "empty-reply",
        "model": "m",
        "language": "English",
        "conversation": [
            {"role": "user", "content": ask},
            {"role": "assistant", "content": None},
            {"role": "user", "content": ask + " Please answer."},
            {"role": "assistant", "content": " \n"},
            {"role": "user", "content": "Hello? Are you there at all?"},
            {"role": "assistant", "content": "The Neckar."},
        ],
    }
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    rows = [row for kind, row in FileReader(str(path)).rows() if kind == "conversation"]
    assert len(rows) == 1
    turns = explode(rows[0])
    dets = [
        classify(t["user_message"] or "", previous_user_message(t["history"]), t["response"])
        for t in turns
    ]
    assert [t["message_index"] for t in turns] == [2, 4]
    assert [d.dsat_categories[:1] for d in dets] == [["Revision"], ["No Engagement"]]
    assert all(d.candidate for d in dets)


def test_negative_words_in_a_request_for_new_content_describe_the_content() -> None:
    response = "Here is your poem about the autumn fair."
    assert not classify("Write a short story about a terrible storm at sea.", None, response).dsat
    assert not classify("Now generate five awful puns about cheese", None, response).dsat
    assert classify("Write it again, it's wrong.", None, response).dsat
