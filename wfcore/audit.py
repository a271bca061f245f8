"""Human audit of a run's detector: a stratified labelling sample, and scores for the whole run.

The method, in four steps:

1. **strata**: every candidate turn falls in one stratum by what the detector said: the signal
   and its first rubric category (``DSAT:Revision``, ``SAT:Gratitude``), ``SAT+DSAT`` for mixed
   turns, and ``none`` for undetected turns (``none:prefiltered`` when a model run's prefilter
   never sent the turn to the model). Error rows carry no prediction and are left out.
2. **allocate**: ``n`` labels over the strata, half spread equally (so rare categories are seen)
   and half in proportion to stratum size, capped at each stratum's size (:func:`allocate`).
3. **sample**: inside a stratum, the turns with the smallest seeded hash of their id: the same
   run and seed always give the same sheet.
4. **score**: a labelled turn of stratum ``h`` stands for ``N_h / m_h`` turns of the run (``N_h``
   turns in the stratum, ``m_h`` of them labelled), so weighted confusion counts estimate the
   run's (a stratified ratio estimator); 95% intervals come from a stratified bootstrap
   (resampling the labelled turns inside each stratum). The unweighted figures on the labelled
   turns are reported beside them, as the benchmark computes them.

Pure Python and numpy: no Ray, no Spark.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .rubric import ALL_CATEGORIES, DSAT_CATEGORIES, SAT_CATEGORIES

SIGNALS = ("SAT", "DSAT", "feedback")  # feedback: SAT or DSAT
NONE = "none"
PREFILTERED = "none:prefiltered"
MIXED = "SAT+DSAT"
TRUE_WORDS = frozenset({"1", "y", "yes", "true", "t", "x"})
FALSE_WORDS = frozenset({"0", "n", "no", "false", "f"})


class AuditError(ValueError):
    """A labels file or sample that cannot be scored; the message names the row and column."""


# ---------------------------------------------------------------- 1. strata


def stratum_of(
    sat: bool | None,
    dsat: bool | None,
    sat_categories: Sequence[str] | None = (),
    dsat_categories: Sequence[str] | None = (),
    prefiltered: bool = False,
) -> str:
    """The stratum of one detector answer (see the module docstring)."""
    if sat and dsat:
        return MIXED
    if dsat:
        return f"DSAT:{(list(dsat_categories or []) or ['-'])[0]}"
    if sat:
        return f"SAT:{(list(sat_categories or []) or ['-'])[0]}"
    return PREFILTERED if prefiltered else NONE


# ---------------------------------------------------------------- 2. allocate


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Labels per stratum: half equal, half proportional, capped at the stratum size; sums to
    ``min(n, total)``, and every non-empty stratum gets one when ``n`` allows."""
    sizes = {h: int(v) for h, v in sizes.items() if v > 0}
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    if n <= 0:
        return {h: 0 for h in sizes}
    k = len(sizes)
    target = {h: 0.5 * n / k + 0.5 * n * v / total for h, v in sizes.items()}
    share: dict[str, float] = {}
    free, budget = dict(target), float(n)
    while free:
        capped = [h for h in free if free[h] >= sizes[h]]
        if not capped:
            break
        for h in capped:
            share[h] = sizes[h]
            budget -= sizes[h]
            del free[h]
        weight = sum(target[h] for h in free)
        free = {h: budget * target[h] / weight for h in free} if weight else {}
    share.update(free)
    out = {h: min(sizes[h], math.floor(v)) for h, v in share.items()}
    if n >= k:
        for h in out:
            if out[h] == 0:
                out[h] = 1
    while sum(out.values()) > n:  # the minimum of one took from the largest
        big = max(out, key=lambda h: (out[h], h))
        out[big] -= 1
    order = sorted(share, key=lambda h: (-(share[h] - math.floor(share[h])), h))
    while sum(out.values()) < n:
        grew = False
        for h in order:
            if sum(out.values()) >= n:
                break
            if out[h] < sizes[h]:
                out[h] += 1
                grew = True
        if not grew:
            break
    return out


# ---------------------------------------------------------------- 3. sample


def seeded_key(seed: int, turn_id: str, purpose: str = "pick") -> str:
    return hashlib.blake2b(f"{purpose}\x1f{seed}\x1f{turn_id}".encode(), digest_size=8).hexdigest()


def stratified_sample(strata: dict[str, str], n: int, seed: int = 0) -> dict[str, str]:
    """``{turn_id: stratum}`` of the sampled turns, from ``{turn_id: stratum}`` of the run."""
    members: dict[str, list[str]] = {}
    for tid, h in strata.items():
        members.setdefault(h, []).append(tid)
    alloc = allocate({h: len(v) for h, v in members.items()}, n)
    picked: dict[str, str] = {}
    for h, tids in members.items():
        for tid in sorted(tids, key=lambda t: seeded_key(seed, t))[: alloc.get(h, 0)]:
            picked[tid] = h
    return picked


def sheet_order(turn_ids: Iterable[str], seed: int = 0) -> list[str]:
    """A seeded shuffle, so the sheet does not group turns by the detector's label."""
    return sorted(turn_ids, key=lambda t: seeded_key(seed, t, "order"))


# ---------------------------------------------------------------- labels


@dataclass(frozen=True)
class Label:
    sat: bool
    dsat: bool
    categories: frozenset[str] = field(default_factory=frozenset)


def _flag(value: object, where: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        if value in (0, 1):
            return bool(value)
        raise AuditError(f"{where}: {value!r} is not 1/0")
    text = str(value).strip().lower()
    if not text or text == "nan":
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise AuditError(f"{where}: {value!r} is not one of 1/0, yes/no, true/false, x")


_CANONICAL = {c.lower(): c for c in ALL_CATEGORIES}


def _categories(value: object, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value if isinstance(value, list | tuple) else str(value).replace(",", ";").split(";")
    out = set()
    for item in items:
        name = str(item).strip()
        if not name or name.lower() == "nan":
            continue
        if name.lower() not in _CANONICAL:
            raise AuditError(f"{where}: {name!r} is not a rubric category")
        out.add(_CANONICAL[name.lower()])
    return frozenset(out)


def parse_label(row: dict, where: str) -> Label | None:
    """One sheet row's labels, or None when the row was left unlabelled (sat, dsat and
    categories blank). A category implies its signal; a category whose signal is marked 0 is
    an error, as is a row with only one of sat/dsat filled and nothing implying the other."""
    sat = _flag(row.get("sat"), f"{where} column sat")
    dsat = _flag(row.get("dsat"), f"{where} column dsat")
    cats = _categories(row.get("categories"), f"{where} column categories")
    if sat is None and dsat is None and not cats:
        return None
    has_sat = any(c in SAT_CATEGORIES for c in cats)
    has_dsat = any(c in DSAT_CATEGORIES for c in cats)
    if sat is False and has_sat:
        raise AuditError(f"{where}: SAT categories given with sat=0")
    if dsat is False and has_dsat:
        raise AuditError(f"{where}: DSAT categories given with dsat=0")
    return Label(sat=bool(sat) or has_sat, dsat=bool(dsat) or has_dsat, categories=cats)


# ---------------------------------------------------------------- 4. score


def binary_metrics(tp: float, fp: float, fn: float, tn: float) -> dict[str, float | None]:
    """Precision, recall, F1 and Cohen's kappa from (possibly weighted) confusion counts;
    None where a figure is undefined (no predicted or no gold positives)."""
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else (0.0 if fp + fn else None)
    kappa = None
    if n:
        observed = (tp + tn) / n
        expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        kappa = (observed - expected) / (1 - expected) if expected < 1 else None
    return {"precision": precision, "recall": recall, "f1": f1, "kappa": kappa}


def _metrics_np(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        n = tp + fp + fn + tn
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        observed = (tp + tn) / n
        expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        kappa = np.where(expected < 1, (observed - expected) / (1 - expected), np.nan)
    return {"precision": precision, "recall": recall, "f1": f1, "kappa": kappa}


@dataclass
class AuditTurn:
    """One labelled turn: the detector's answer, the human's, and the prefilter's decision."""

    turn_id: str
    stratum: str
    pred_sat: bool
    pred_dsat: bool
    pred_categories: frozenset[str]
    label: Label
    passed: bool | None = None  # the prefilter passed it on (None: no prefilter figure)


class Design:
    """The labelled turns grouped by stratum, with their weights and bootstrap replicates."""

    def __init__(
        self, turns: list[AuditTurn], sizes: dict[str, int], n_boot: int = 1000, seed: int = 0
    ):
        self.turns = turns
        self.sizes = {h: int(v) for h, v in sizes.items()}
        labelled: dict[str, list[int]] = {}
        for i, t in enumerate(turns):
            if t.stratum not in self.sizes:
                raise AuditError(
                    f"turn {t.turn_id}: stratum {t.stratum!r} is not in the sample's design"
                )
            labelled.setdefault(t.stratum, []).append(i)
        self.labelled = labelled
        self.weight_of = {h: self.sizes[h] / len(ix) for h, ix in labelled.items()}
        self.weights = np.array([self.weight_of[t.stratum] for t in turns], dtype=float)
        rng = np.random.default_rng(seed)
        # one (n_boot, len(turns)) matrix of how often each labelled turn is drawn per replicate
        self.draws = np.zeros((n_boot, len(turns)), dtype=float)
        for h in sorted(labelled):
            ix = np.array(labelled[h])
            pick = rng.integers(0, len(ix), size=(n_boot, len(ix)))
            np.add.at(self.draws, (np.repeat(np.arange(n_boot), len(ix)), ix[pick].ravel()), 1.0)
        self.n_boot = n_boot

    def binary(self, pred: np.ndarray, gold: np.ndarray) -> dict:
        """Sample and weighted figures of one binary decision, with 95% bootstrap intervals."""
        pred, gold = pred.astype(bool), gold.astype(bool)
        cells = {"tp": pred & gold, "fp": pred & ~gold, "fn": ~pred & gold, "tn": ~pred & ~gold}
        sample = {k: int(v.sum()) for k, v in cells.items()}
        weighted = {k: float((v * self.weights).sum()) for k, v in cells.items()}
        out: dict = {
            "n": len(pred),
            "counts": sample,
            "sample": binary_metrics(**sample),
            "weighted_counts": {k: round(v, 3) for k, v in weighted.items()},
            "estimate": binary_metrics(**weighted),
        }
        if self.n_boot and len(pred):
            rep = _metrics_np(
                *(self.draws @ (cells[k] * self.weights) for k in ("tp", "fp", "fn", "tn"))
            )
            out["ci95"] = {m: _interval(v) for m, v in rep.items()}
        return out

    def recall(self, passed: np.ndarray, gold: np.ndarray) -> dict:
        """Share of gold positives passed on (the prefilter's recall), sample and weighted."""
        passed, gold = passed.astype(bool), gold.astype(bool)
        hit = passed & gold
        out: dict = {
            "gold_positive": int(gold.sum()),
            "passed": int(hit.sum()),
            "sample": float(hit.sum() / gold.sum()) if gold.sum() else None,
            "estimate": float((hit * self.weights).sum() / (gold * self.weights).sum())
            if gold.sum()
            else None,
        }
        if self.n_boot and gold.sum():
            with np.errstate(divide="ignore", invalid="ignore"):
                rep = (self.draws @ (hit * self.weights)) / (self.draws @ (gold * self.weights))
            out["ci95"] = _interval(rep)
        return out


def _interval(values: np.ndarray) -> list[float] | None:
    v = values[~np.isnan(values)]
    if not len(v):
        return None
    lo, hi = np.percentile(v, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def score(turns: list[AuditTurn], sizes: dict[str, int], n_boot: int = 1000, seed: int = 0) -> dict:
    """Every figure of the audit: per signal, per category, the prefilter, the strata."""
    if not turns:
        raise AuditError("no labelled turns to score")
    d = Design(turns, sizes, n_boot, seed)
    pred = {
        "SAT": np.array([t.pred_sat for t in turns]),
        "DSAT": np.array([t.pred_dsat for t in turns]),
    }
    gold = {
        "SAT": np.array([t.label.sat for t in turns]),
        "DSAT": np.array([t.label.dsat for t in turns]),
    }
    pred["feedback"] = pred["SAT"] | pred["DSAT"]
    gold["feedback"] = gold["SAT"] | gold["DSAT"]
    signals = {s: d.binary(pred[s], gold[s]) for s in SIGNALS}
    categories = {}
    for c in ALL_CATEGORIES:
        p = np.array([c in t.pred_categories for t in turns])
        g = np.array([c in t.label.categories for t in turns])
        if p.any() or g.any():
            categories[c] = d.binary(p, g)
    prefilter = None
    if all(t.passed is not None for t in turns):
        prefilter = d.recall(np.array([bool(t.passed) for t in turns]), gold["feedback"])
    covered = sum(d.sizes[h] for h in d.labelled)
    strata = {
        h: {
            "turns": d.sizes[h],
            "labelled": len(d.labelled.get(h, [])),
            "weight": round(d.weight_of[h], 4) if h in d.weight_of else None,
        }
        for h in sorted(d.sizes)
    }
    return {
        "labelled": len(turns),
        "bootstrap": {"replicates": n_boot, "seed": seed, "method": "stratified bootstrap, percentile interval"},
        "run_turns": sum(d.sizes.values()),
        "run_turns_covered": covered,
        "signals": signals,
        "categories": categories,
        "prefilter": prefilter,
        "strata": strata,
    }
