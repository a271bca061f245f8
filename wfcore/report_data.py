"""Pure pieces of the run report: length statistics, histograms, seeded example picks, evidence
highlighting. No I/O: ``jobs/report.py`` reads the run's tables and renders the HTML."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from . import pii

T = TypeVar("T")


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values (numpy's default method)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def summary(values: Iterable[float]) -> dict[str, Any]:
    """n, mean and the 10/50/90th percentiles and max of ``values`` (None figures when empty)."""
    v = sorted(values)
    if not v:
        return {"n": 0, "mean": None, "p10": None, "median": None, "p90": None, "max": None}
    return {
        "n": len(v),
        "mean": round(sum(v) / len(v), 1),
        "p10": round(quantile(v, 0.1), 1),
        "median": round(quantile(v, 0.5), 1),
        "p90": round(quantile(v, 0.9), 1),
        "max": v[-1],
    }


def paired(chosen: Sequence[float], rejected: Sequence[float]) -> dict[str, Any]:
    """Chosen vs rejected lengths of the same pairs: shares longer / equal / shorter, and the
    median of chosen minus rejected (DPO data whose chosen is usually longer teaches length)."""
    if len(chosen) != len(rejected):
        raise ValueError("chosen and rejected must be paired")
    n = len(chosen)
    if not n:
        return {
            "pairs": 0,
            "chosen_longer": None,
            "equal": None,
            "rejected_longer": None,
            "median_difference": None,
        }
    longer = sum(c > r for c, r in zip(chosen, rejected, strict=True))
    equal = sum(c == r for c, r in zip(chosen, rejected, strict=True))
    return {
        "pairs": n,
        "chosen_longer": round(longer / n, 4),
        "equal": round(equal / n, 4),
        "rejected_longer": round((n - longer - equal) / n, 4),
        "median_difference": round(
            quantile(sorted(c - r for c, r in zip(chosen, rejected, strict=True)), 0.5), 1
        ),
    }


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[tuple[str, int]]:
    """Counts in bins ``[e_i, e_i+1)``, the last bin open (``>= e_last``); labels like ``100-199``."""
    counts = [0] * len(edges)
    for x in values:
        i = len(edges) - 1
        while i > 0 and x < edges[i]:
            i -= 1
        counts[i] += 1
    labels = []
    for i, e in enumerate(edges):
        if i == len(edges) - 1:
            labels.append(f">= {e:,.0f}")
        elif edges[i + 1] - e == 1:
            labels.append(f"{e:,.0f}")
        else:
            labels.append(f"{e:,.0f}-{edges[i + 1] - 1:,.0f}")
    return list(zip(labels, counts, strict=True))


def nice_edges(values: Sequence[float], bins: int = 8) -> list[float]:
    """Equal-width bin edges 0, w, 2w, ... with a round width ``w`` covering the values up to
    their 95th percentile (the last bin, open, takes the tail)."""
    v = sorted(values)
    if not v:
        return [0]
    top = max(quantile(v, 0.95), 1)
    width = 1.0
    for mag in (10**k for k in range(0, 12)):
        for m in (1, 2, 2.5, 5):
            width = m * mag
            if top / width <= bins:
                break
        else:
            continue
        break
    width = max(int(width), 1)
    edges = [i * width for i in range(int(top // width) + 1)]
    return edges if len(edges) > 1 or v[-1] < width else [0, width]


def seeded_key(seed: int, key: str) -> str:
    """The order of seeded picks: a hash of the seed and an item's key."""
    return hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).hexdigest()


def seeded_pick(items: Iterable[T], key: Callable[[T], str], k: int, seed: int = 0) -> list[T]:
    """``k`` items chosen by the smallest seeded hash of their key: deterministic, and stable
    when other items come and go."""
    return sorted(items, key=lambda item: seeded_key(seed, key(item)))[:k]


def clip(text: str | None, limit: int = 1200) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    text = text or ""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit:,} more characters]"


def scrubbed(text: str | None) -> str:
    """Text as the report may show it: PII replaced (again: prepare scrubs it already, unless
    the run turned that off)."""
    out, _ = pii.scrub(text or "")
    return out or ""


def highlight(text: str, evidence: str | None) -> tuple[str, bool]:
    """HTML of ``text`` with the first case-insensitive occurrence of ``evidence`` in <mark>;
    and whether it was found (a model's evidence may paraphrase)."""
    ev = (evidence or "").strip()
    if ev:
        m = re.search(re.escape(ev), text, flags=re.IGNORECASE)
        if m:
            return (
                html.escape(text[: m.start()])
                + "<mark>"
                + html.escape(m.group())
                + "</mark>"
                + html.escape(text[m.end() :]),
                True,
            )
    return html.escape(text), False


def error_kind(error: str) -> str:
    """The kind of a model error row: the error text up to its first colon (``invalid_json``)."""
    return error.split(":", 1)[0].strip() or "error"
