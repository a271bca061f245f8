"""Lexical rubric detector: fast per-category rules, no model.

Two roles: the offline default detector, and a prefilter that sends to a model only the turns
that may carry a signal (``Detection.candidate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Detection:
    sat: bool = False
    dsat: bool = False
    sat_categories: list[str] = field(default_factory=list)
    dsat_categories: list[str] = field(default_factory=list)
    evidence: str = ""
    candidate: bool = False  # may carry a signal (prefilter: send to the model)


def classify(user_message: str, previous_user_message: str | None = None, response: str | None = None) -> Detection:
    """Label one user turn's reaction to the previous assistant ``response``."""
    raise NotImplementedError
