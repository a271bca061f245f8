"""Preference statements taken from the feedback turn's own words (no model).

Used by the offline default for harvested pairs and as the evaluation checklist: each
statement is short and checkable against a response ("Use the correct year: 1989", "Be
shorter", "Include the references"). Deterministic; never empty for a DSAT turn (it falls
back to a statement derived from the rubric category).
"""

from __future__ import annotations

import re

from wfcore.rubric import DSAT, DSAT_CATEGORIES, SAT_CATEGORIES

MAX_PREFERENCES = 5
MAX_WORDS = 14

_NORMALISE = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})
_SENTENCE = re.compile(r"[^.!?\n;]+")
_PHRASE_END = r"(?=[,.;!?\n]|\s+(?:and|but|please|because|so)\b|$)"

_CORRECTION = re.compile(
    r"(?:\b(?:it's|its|that's|he's|she's|they're|is|are|was|were|should be|must be))\s+(?!not\b)([^,.;!?\n]{1,40}?),?\s+not\s+([^,.;!?\n]{1,40})",
    re.I,
)
_CORRECTION_REV = re.compile(
    r"\bnot\s+([^,.;!?\n]{1,30}),\s*(?:but|it's|it is)\s+([^,.;!?\n]{1,40})", re.I
)
_STYLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.I), s)
    for p, s in (
        (
            r"\btoo long\b|\bshorter\b|\bshorten\b|\bmore concise\b|\bconcise\b|\btoo wordy\b|\btoo verbose\b|\bbriefer\b",
            "Be shorter",
        ),
        (r"\btoo short\b|\blonger\b|\btoo brief\b", "Be longer"),
        (
            r"\bmore detail|\bin detail\b|\belaborate\b|\bexpand\b|\bmore depth\b|\bmore specific\b|\btell me more\b",
            "Give more detail",
        ),
        (r"\bexamples?\b", "Include examples"),
        (
            r"\btoo formal\b|\bless formal\b|\bmore casual\b|\bmore conversational\b",
            "Be less formal",
        ),
        (r"\btoo (?:casual|informal)\b|\bmore (?:formal|professional)\b", "Be more formal"),
        (
            r"\bsimpler\b|\bsimplify\b|\btoo (?:complicated|complex|technical)\b|\bplain(?:er)? (?:english|language|words)\b",
            "Use simpler language",
        ),
        (r"\bbullet points?\b|\bin a list\b", "Use bullet points"),
        (r"\bin a table\b|\btable form\b", "Use a table"),
        (r"\bstep[- ]by[- ]step\b", "Explain step by step"),
        (
            r"\b(?:it|this|that|the code|your code) (?:still )?(?:doesn'?t|does not|didn'?t|did not|won'?t|isn'?t) (?:work|run|compile)|\berror\b|\bnot working\b",
            "Make sure it works without errors",
        ),
        (
            r"\bmore (?:natural|human)\b|\blike a human\b|\bsounds? (?:robotic|like (?:an )?ai)\b|\btoo robotic\b",
            "Sound natural, not robotic",
        ),
    )
)
_DIRECTIVES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p + _PHRASE_END, re.I), s)
    for p, s in (
        (
            r"\b(?:don't|do not|stop|never|without)\s+(?:use|using|mention|mentioning|include|including|add|adding)\s+(.{2,60}?)",
            "Do not use {}",
        ),
        (
            r"\byou (?:forgot|missed|left out|omitted|didn't include|did not include)\s+(?:to\s+)?(.{2,60}?)",
            "Include {}",
        ),
        (r"\byou (?:didn't|did not) (?:mention|add|use)\s+(.{2,60}?)", "Include {}"),
        (r"\bwhat about\s+(.{2,60}?)", "Address {}"),
        (r"\bi (?:asked for|wanted|need|want)\s+(.{2,60}?)", "Provide {}"),
        (r"\b(?:please |can you |could you )?(?:add|include)\s+(.{2,60}?)", "Include {}"),
        (r"\b(?:please |can you |could you )?(?:remove|delete|drop)\s+(.{2,60}?)", "Remove {}"),
        (
            r"(?<!n't )(?<!not )(?<!never )(?<!stop )(?<!don't )\b(?:please |can you |could you )?(?:use|write it in|answer in|write in)\s+(.{2,60}?)",
            "Use {}",
        ),
        (r"\b(?:it|this|that) should (?:be|have)\s+(.{2,60}?)", "It should be {}"),
    )
)
_IMPERATIVE = re.compile(
    r"^\s*(?:please\s+|now\s+|can you\s+|could you\s+|would you\s+)?"
    r"(make|write|rewrite|give|use|add|include|remove|change|keep|explain|show|list|fix|correct|avoid|focus|mention|translate|format|shorten|expand|answer)\b(.*)$",
    re.I,
)
_FALLBACK: dict[str, str] = {
    "Negative Feedback": "Give a correct, working answer to the request",
    "Revision": "Do what the latest request asks, as restated by the user",
    "Factual Error": "Get the facts right",
    "Unrealistic Expectation": "Do what is possible and say plainly what is not",
    "No Engagement": "Engage with the user's actual question and situation",
    "Ignored": "Address every part of the request",
    "Lower Quality": "Keep the quality of the earlier answers",
    "Insufficient Detail": "Give more detail",
    "Style": "Match the tone, length and format the user asks for",
    "Gratitude": "Keep answering in the same helpful way",
    "Learning": "Explain clearly so the user learns something",
    "Compliance": "Give advice the user can apply directly",
    "Praise": "Keep the same quality and approach",
    "Personal Details": "Engage with the user's own situation",
    "Humor": "Keep the light, humorous tone",
    "Acknowledgment": "Give exactly what was asked for",
    "Positive Closure": "Answer the request completely",
    "Getting There": "Keep the improvements and finish the requested change",
}
_GENERIC = {
    DSAT: "Answer the request correctly and completely",
    "SAT": "Keep the same helpful approach",
}


def _clean(phrase: str) -> str:
    words = phrase.strip(" \t\"'`,:;-").split()
    return " ".join(words[:MAX_WORDS])


def _correction_statement(right: str, wrong: str) -> str:
    right, wrong = _clean(right), _clean(wrong)
    if re.fullmatch(r"(?:1[0-9]|20)\d\d", right):
        return f"Use the correct year: {right}"
    if re.fullmatch(r"[-+]?\d[\d,.]*%?", right):
        return f"Use the correct number: {right}"
    return f"Use {right}, not {wrong}"


def extract_preferences(user_message: str, categories: list[str], signal: str) -> list[str]:
    """1-5 short, checkable preference statements from one feedback turn's own words."""
    text = (user_message or "").translate(_NORMALISE)[:2000]
    found: list[str] = []

    def add(statement: str) -> None:
        statement = statement.strip().rstrip(".")
        if (
            statement
            and len(statement.split()) <= MAX_WORDS + 4
            and statement.lower() not in {f.lower() for f in found}
        ):
            found.append(statement[0].upper() + statement[1:])

    for m in _CORRECTION.finditer(text):
        add(_correction_statement(m.group(1), m.group(2)))
    for m in _CORRECTION_REV.finditer(text):
        add(_correction_statement(m.group(2), m.group(1)))
    for pattern, statement in _STYLE:
        if pattern.search(text):
            add(statement)
    for pattern, template in _DIRECTIVES:
        for m in pattern.finditer(text):
            phrase = _clean(m.group(1))
            if phrase:
                add(template.format(phrase))
    if len(found) < MAX_PREFERENCES:
        for sentence in _SENTENCE.findall(text):
            m = _IMPERATIVE.match(sentence)
            if m and len(sentence.split()) >= 2:
                add(_clean(m.group(1) + m.group(2)))
    if not found:
        for category in categories:
            if category in _FALLBACK:
                add(_FALLBACK[category])
    if not found and (signal == DSAT or categories):
        add(
            _GENERIC[DSAT]
            if signal == DSAT or any(c in DSAT_CATEGORIES for c in categories)
            else _GENERIC["SAT"]
        )
    return found[:MAX_PREFERENCES]


__all__ = ["extract_preferences", "MAX_PREFERENCES", "SAT_CATEGORIES", "DSAT_CATEGORIES"]
