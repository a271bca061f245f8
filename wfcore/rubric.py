"""The SAT/DSAT rubric (derived from SPUR, as used by WildFeedback), in our own words.

One place for the category names and definitions: prompts, JSON schemas, the lexical rules,
the synthetic generator and reports all read them from here.
"""

from __future__ import annotations

SAT = "SAT"
DSAT = "DSAT"

SAT_CATEGORIES: dict[str, str] = {
    "Gratitude": "The user thanks the assistant for the response.",
    "Learning": "The user says the response taught them something or made something clear.",
    "Compliance": "The user follows or applies the response and reports that it worked.",
    "Praise": "The user compliments the response or the assistant's skill.",
    "Personal Details": "The user shares more about themselves because the response engaged them.",
    "Humor": "The user laughs at or enjoys the response's humour.",
    "Acknowledgment": "The user confirms the response is right or is what they wanted.",
    "Positive Closure": "The user ends the exchange on a satisfied note.",
    "Getting There": "The user says the response is close or improving, while asking for a small change.",
}

DSAT_CATEGORIES: dict[str, str] = {
    "Negative Feedback": "The user says plainly that the response is bad, wrong or unhelpful.",
    "Revision": "The user asks for the response to be redone or changed, or repeats the same request.",
    "Factual Error": "The user points out or corrects a factual mistake in the response.",
    "Unrealistic Expectation": "The user wants something the assistant cannot do, and is unhappy it did not.",
    "No Engagement": "The user says the response failed to engage with them or their situation.",
    "Ignored": "The user says the response skipped or ignored part of the request.",
    "Lower Quality": "The user says the response is worse than an earlier one or than expected.",
    "Insufficient Detail": "The user wants more depth, detail, examples or length.",
    "Style": "The user objects to the tone, format, length or style of the response.",
}

ALL_CATEGORIES: dict[str, str] = {**SAT_CATEGORIES, **DSAT_CATEGORIES}


def signal_of(category: str) -> str:
    if category in SAT_CATEGORIES:
        return SAT
    if category in DSAT_CATEGORIES:
        return DSAT
    raise KeyError(f"not a rubric category: {category!r}")


def rubric_text() -> str:
    """The rubric as prompt text (a stable, shared prefix of every detection prompt)."""
    lines = ["SAT categories (the user is satisfied with the previous response):"]
    lines += [f"- {k}: {v}" for k, v in SAT_CATEGORIES.items()]
    lines.append("DSAT categories (the user is dissatisfied with the previous response):")
    lines += [f"- {k}: {v}" for k, v in DSAT_CATEGORIES.items()]
    return "\n".join(lines)
