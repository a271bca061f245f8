"""Checklist-guided evaluation, the scoring half: verdicts in, win rate with its interval out.

No model here. A judge compares two candidates, A and B, on one held-out prompt in both orders
(A shown first, then B shown first). Its overall verdict is one of five levels, written from the
point of view of the response shown *first*: ``A>>B`` (first much better), ``A>B``, ``A=B``,
``B>A``, ``B>>A`` (second much better). :func:`candidate_level` turns it into the point of view
of candidate A (in the B-first order the labels are mirrored).

How the five levels map (documented in README, "Evaluating a model"):

- per order, a *reward* for candidate A: ``A>>B`` +1, ``A>B`` +0.5, ``A=B`` 0, ``B>A`` -0.5,
  ``B>>A`` -1 (WildBench's WB-Reward scale); its sign is the order's *outcome* (win/tie/loss);
- per prompt, the two orders combine into one outcome: a win when both orders say A is better
  (slightly or much), a loss when both say B is, and a tie otherwise, so inconsistent verdicts
  (including one order's tie against the other's preference) are ties. The strength of the
  levels does not change W/T/L; it is kept in ``mean_reward`` (mean over prompts of the two
  orders' mean reward) and in ``strong_wins`` / ``strong_losses`` (both orders at the ``>>``
  level).
- the two orders are *position-consistent* when their outcomes are equal.

Win rate = (W + 0.5 T) / N over prompts. Its 95% interval is a percentile bootstrap that
resamples prompts (each prompt's combined outcome), never single judgments: the two orders of a
prompt are not independent evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

LEVELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
REWARD = {"A>>B": 1.0, "A>B": 0.5, "A=B": 0.0, "B>A": -0.5, "B>>A": -1.0}
_MIRROR = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}

# A checklist item's verdict for one response; "unknown" (only the lexical judge writes it): the
# item is not rule-checkable and does not count towards satisfaction.
ITEM_VERDICTS = ("yes", "partly", "no", "unknown")
ITEM_SCORE = {"yes": 1.0, "partly": 0.5, "no": 0.0}

ORDERS = ("AB", "BA")  # which candidate is shown first
OUTCOME_VALUE = {"win": 1.0, "tie": 0.5, "loss": 0.0}

DEFAULT_RESAMPLES = 2_000
DEFAULT_LEVEL = 0.95


def candidate_level(position_level: str, order: str) -> str:
    """A judge's verdict (first shown vs second shown) as candidate A vs candidate B."""
    if position_level not in REWARD:
        raise ValueError(f"not a verdict level: {position_level!r} (expected one of {LEVELS})")
    if order == "AB":
        return position_level
    if order == "BA":
        return _MIRROR[position_level]
    raise ValueError(f"not an order: {order!r} (expected 'AB' or 'BA')")


def outcome_of(level: str) -> str:
    """Win / tie / loss of candidate A for one order's candidate-level verdict."""
    r = REWARD[level]
    return "win" if r > 0 else "loss" if r < 0 else "tie"


@dataclass(frozen=True)
class OrderVerdict:
    """One order's judgment, already in candidate terms: ``level`` is A vs B, ``items_a`` and
    ``items_b`` the checklist verdicts of candidate A's and B's response."""

    level: str
    items_a: tuple[str, ...] = ()
    items_b: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromptJudgment:
    """Both orders' judgments of one held-out prompt, with the two responses' lengths (chars)."""

    heldout_id: str
    ab: OrderVerdict
    ba: OrderVerdict
    category: str | None = None
    length_a: int = 0
    length_b: int = 0


@dataclass(frozen=True)
class Combined:
    outcome: str  # win / tie / loss of candidate A
    consistent: bool
    reward: float  # mean of the two orders' rewards, in [-1, 1]
    strong: bool  # both orders at the ">>" level for the winner


def combine(ab: OrderVerdict, ba: OrderVerdict) -> Combined:
    """One prompt's outcome from its two orders (inconsistent verdicts are ties)."""
    o1, o2 = outcome_of(ab.level), outcome_of(ba.level)
    consistent = o1 == o2
    outcome = o1 if consistent else "tie"
    strong = outcome != "tie" and abs(REWARD[ab.level]) == 1.0 and abs(REWARD[ba.level]) == 1.0
    return Combined(outcome, consistent, (REWARD[ab.level] + REWARD[ba.level]) / 2, strong)


def satisfaction(items: Sequence[str]) -> float | None:
    """Share of checklist items a response satisfies (partly = half); None if none was judged."""
    scores = [ITEM_SCORE[v] for v in items if v in ITEM_SCORE]
    return sum(scores) / len(scores) if scores else None


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (one value per prompt), seeded.

    Resamples ``len(values)`` prompts with replacement ``n_resamples`` times (vectorised) and
    returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled means.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("values must be one-dimensional (one value per prompt)")
    if x.size == 0:
        return float("nan"), float("nan")
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, 4_000_000 // x.size)  # bound memory: at most ~32 MB of indices at a time
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass
class _Tally:
    outcomes: list[float] = field(default_factory=list)
    wins: int = 0
    ties: int = 0
    losses: int = 0
    strong_wins: int = 0
    strong_losses: int = 0
    consistent: int = 0
    rewards: list[float] = field(default_factory=list)
    sat_a: list[float] = field(default_factory=list)
    sat_b: list[float] = field(default_factory=list)
    len_a: list[int] = field(default_factory=list)
    len_b: list[int] = field(default_factory=list)
    first_preferred: int = 0  # decisive order-level verdicts preferring the first-shown response
    decisive_orders: int = 0
    longer_won: int = 0  # decisive prompts won by the longer response (equal lengths not counted)
    decisive_unequal: int = 0
    items_total: int = 0
    items_judged: int = 0  # item verdicts other than "unknown"

    def add(self, j: PromptJudgment) -> None:
        c = combine(j.ab, j.ba)
        self.outcomes.append(OUTCOME_VALUE[c.outcome])
        if c.outcome == "win":
            self.wins += 1
            self.strong_wins += c.strong
        elif c.outcome == "loss":
            self.losses += 1
            self.strong_losses += c.strong
        else:
            self.ties += 1
        self.consistent += c.consistent
        self.rewards.append(c.reward)
        for v in (j.ab, j.ba):
            for side, items in (("a", v.items_a), ("b", v.items_b)):
                self.items_total += len(items)
                self.items_judged += sum(1 for x in items if x in ITEM_SCORE)
                s = satisfaction(items)
                if s is not None:
                    (self.sat_a if side == "a" else self.sat_b).append(s)
        for order, v in (("AB", j.ab), ("BA", j.ba)):
            o = outcome_of(v.level)
            if o != "tie":
                self.decisive_orders += 1
                first_is_a = order == "AB"
                self.first_preferred += (o == "win") == first_is_a
        self.len_a.append(int(j.length_a))
        self.len_b.append(int(j.length_b))
        if c.outcome != "tie" and j.length_a != j.length_b:
            self.decisive_unequal += 1
            self.longer_won += (c.outcome == "win") == (j.length_a > j.length_b)

    def summary(self, n_resamples: int, seed: int, level: float) -> dict:
        n = len(self.outcomes)
        lo, hi = bootstrap_interval(self.outcomes, n_resamples, seed, level) if n else (None, None)

        def mean(xs: list) -> float | None:
            return round(float(np.mean(xs)), 6) if xs else None

        def share(k: int, m: int) -> float | None:
            return round(k / m, 6) if m else None

        return {
            "n_prompts": n,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "win_rate": mean(self.outcomes),
            "ci_low": None if lo is None else round(lo, 6),
            "ci_high": None if hi is None else round(hi, 6),
            "mean_reward": mean(self.rewards),
            "strong_wins": self.strong_wins,
            "strong_losses": self.strong_losses,
            "position_consistency": share(self.consistent, n),
            "first_position_preferred": share(self.first_preferred, self.decisive_orders),
            "longer_response_won": share(self.longer_won, self.decisive_unequal),
            "satisfaction": {"A": mean(self.sat_a), "B": mean(self.sat_b)},
            "items_judged": share(self.items_judged, self.items_total),
            "mean_length": {"A": mean(self.len_a), "B": mean(self.len_b)},
        }


def score(
    judgments: Iterable[PromptJudgment],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict:
    """Overall and per-category scores of candidate A against B (see module docstring).

    Keys: ``n_prompts, wins, ties, losses, win_rate, ci_low, ci_high, mean_reward, strong_wins,
    strong_losses, position_consistency`` (share of prompts whose two orders agree),
    ``first_position_preferred`` (share of decisive single-order verdicts that prefer the response
    shown first: 0.5 is no position bias), ``longer_response_won`` (share of decisive prompts won
    by the longer response), ``satisfaction`` and ``mean_length`` per side, ``items_judged``
    (share of item verdicts that are not ``unknown``: the rule judge's coverage), ``per_category``
    (the same keys per rubric category) and ``bootstrap`` (resamples, seed, level).
    """
    if n_resamples < 1_000:
        raise ValueError("use at least 1,000 bootstrap resamples")
    total = _Tally()
    by_cat: dict[str, _Tally] = {}
    for j in judgments:
        total.add(j)
        by_cat.setdefault(j.category or "(none)", _Tally()).add(j)
    out = total.summary(n_resamples, seed, level)
    out["per_category"] = {
        cat: t.summary(n_resamples, seed, level) for cat, t in sorted(by_cat.items())
    }
    out["bootstrap"] = {"resamples": n_resamples, "seed": seed, "level": level, "unit": "prompt"}
    return out
