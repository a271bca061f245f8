"""Quality of the lexical rubric detector (wfcore.lexical) on real, third-party labelled data.

    .venv/bin/python benchmarks/detector_quality.py [--data ../shared/data] [--json OUT]

Prints three tables:
1. USS (human satisfaction ratings): precision, recall, F1 and Cohen's kappa per signal
   (SAT, DSAT), per sub-corpus and overall.
2. WildChat follow-ups (WildFeedback release): how often the detector fires, overall and per
   the silver olmo_signal tier.
3. The prefilter role: recall of labelled SAT/DSAT turns against the share of turns passed on
   to the model (targets: recall >= 0.90 while passing <= 40%).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from wfcore.lexical import PREFILTER_THRESHOLD, classify

USS_CORPORA = ("SGD", "MWOZ", "ReDial", "CCPE")
# the prefilter's levels and default threshold were chosen on TUNE only; HELD_OUT was not used
TUNE = ("SGD", "MWOZ")
HELD_OUT = ("ReDial", "CCPE")
THRESHOLDS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
ATTRIBUTION = """\
Data (third-party, not part of this project; figures only, no text reproduced):
- USS: Sun et al., "Simulating User Satisfaction for the Evaluation of Task-oriented Dialogue
  Systems", SIGIR 2021 (arXiv 2105.03748). Dialogues from SGD (CC BY-SA 4.0), MultiWOZ 2.1
  (MIT), ReDial (CC BY 4.0) and CCPE (CC BY-SA 4.0), user turns rated 1-5 by 3-7 crowd raters.
- WildChat tuples: github.com/sid-in-the-loop/user_interactions (Apache-2.0), cut from
  microsoft/WildFeedback (ODC-By), built from WildChat (ODC-By). olmo_signal tiers are an
  LLM's (gpt-4o-mini) silver labels, not human."""
READING_GUIDE = """\
How to read these figures:
- USS is task-oriented, pre-LLM dialogue (booking, movie chat), not chats with an LLM. Gold:
  median rating <= 2 is DSAT, 3 neutral, >= 4 SAT. Raters agree exactly on only 35-45% of
  turns, and much of the gold is implicit: a turn is rated SAT because the system did well and
  the user simply carries on ("Yes, play it on the kitchen device"), or DSAT because the system
  failed and the user restates the request, with no feedback words at all. A lexical detector
  only sees explicit feedback, so its recall here is bounded well below 1; precision and kappa
  are the figures that say whether what it flags is real.
- In ReDial/CCPE users talk about movies, so "I didn't like it" (about a film) is sentiment,
  not feedback on the system: expect lower precision there.
- WildChat follow-ups were pre-selected as informative (corrections and refinements), so a high
  DSAT firing rate is expected there; there is no human gold, only the silver tier."""


def _median_gold(ratings: str) -> str | None:
    values = [int(r) for r in ratings.split(",") if r.strip().isdigit()]
    if not values:
        return None
    m = statistics.median(values)
    return "DSAT" if m <= 2 else "SAT" if m >= 4 else "neutral"


def load_uss(path: Path) -> list[dict]:
    """User turns of one USS file with the previous user request and the judged system turn."""
    turns: list[dict] = []
    for session in path.read_text(encoding="utf-8").split("\n\n"):
        previous_user: str | None = None
        system_block: list[str] = []
        last_response = ""
        for line in session.splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            role, text = parts[0], parts[1]
            if role == "SYSTEM":
                system_block.append(text)
                continue
            if role != "USER" or text == "OVERALL":
                continue
            if system_block:
                last_response, system_block = " ".join(system_block), []
            gold = _median_gold(parts[3]) if len(parts) > 3 else None
            if gold is not None:
                turns.append(
                    {
                        "message": text,
                        "previous": previous_user,
                        "response": last_response or None,
                        "gold": gold,
                    }
                )
            previous_user = text
    return turns


def load_wildchat(directory: Path) -> tuple[list[dict], list[dict]]:
    """The 500 follow-ups with context, and the olmo_signal follow-ups with their silver tier.

    olmo_signal rows carry their own follow-up text (``o_text``); only a few share a
    (conversation_id, turn_index) with the 500 tuples, so they are classified from their own
    text, with the tuple's context where one matches.
    """
    records = json.loads(
        (directory / "wildfeedback_held_outputs_step10.json").read_text(encoding="utf-8")
    )
    rows, by_key = [], {}
    for r in records:
        users = [m["content"] for m in r["x"] if m.get("role") == "user"]
        row = {
            "message": r["o_oracle"],
            "previous": users[-1] if users else None,
            "response": r["y_gpt4"],
        }
        rows.append(row)
        by_key[(r["conversation_id"], r["turn_index"])] = row
    tiered = []
    signal = directory / "olmo_signal.jsonl"
    if signal.exists():
        for line in signal.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                ctx = by_key.get((r["conversation_id"], r["turn_index"]), {})
                tiered.append(
                    {
                        "message": r["o_text"],
                        "previous": ctx.get("previous"),
                        "response": ctx.get("response"),
                        "tier": r["tier"],
                        "with_context": bool(ctx),
                    }
                )
    return rows, tiered


def binary_scores(pred: list[bool], gold: list[bool]) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    n = len(gold)
    tn = n - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    observed = (tp + tn) / n if n else 0.0
    expected = (((tp + fp) * (tp + fn)) + ((fn + tn) * (fp + tn))) / (n * n) if n else 0.0
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 0.0
    return {
        "n": n,
        "gold_pos": tp + fn,
        "pred_pos": tp + fp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "kappa": kappa,
    }


def evaluate_uss(by_corpus: dict[str, list[dict]]) -> dict:
    out: dict = {"signals": {}, "prefilter": {}}
    everything: list[dict] = []
    groups = [*by_corpus.items()]
    groups.append(("tune", [r for c in TUNE for r in by_corpus.get(c, [])]))
    groups.append(("held-out", [r for c in HELD_OUT for r in by_corpus.get(c, [])]))
    for name, turns in [*groups, ("overall", None)]:
        rows = turns if turns is not None else everything
        if turns is not None and name in by_corpus:
            everything.extend(turns)
        for sig in ("SAT", "DSAT"):
            pred = [r["det"].sat if sig == "SAT" else r["det"].dsat for r in rows]
            gold = [r["gold"] == sig for r in rows]
            out["signals"].setdefault(name, {})[sig] = binary_scores(pred, gold)
        rows = [r for r in rows if r["response"] is not None]  # as prepare's candidate turns
        labelled = [r for r in rows if r["gold"] != "neutral"]
        out["prefilter"][name] = {
            "turns": len(rows),
            "passed_share": sum(r["det"].candidate for r in rows) / len(rows),
            "recall_feedback": sum(r["det"].candidate for r in labelled) / len(labelled),
            "recall_sat": _recall([r for r in labelled if r["gold"] == "SAT"]),
            "recall_dsat": _recall([r for r in labelled if r["gold"] == "DSAT"]),
        }
    return out


def _recall(rows: list[dict]) -> float:
    return sum(r["det"].candidate for r in rows) / len(rows) if rows else 0.0


def evaluate_wildchat(rows: list[dict], tiered: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    groups["tuples (500, with context)"] = rows
    for r in tiered:
        groups["olmo: all"].append(r)
        groups[f"olmo: {r['tier']}"].append(r)
    out = {}
    for name, rs in groups.items():
        n = len(rs)
        out[name] = {
            "n": n,
            "dsat_rate": sum(r["det"].dsat for r in rs) / n,
            "sat_rate": sum(r["det"].sat for r in rs) / n,
            "any_rate": sum(r["det"].sat or r["det"].dsat for r in rs) / n,
            "candidate_rate": sum(r["det"].candidate for r in rs) / n,
        }
    cats: Counter[str] = Counter(
        c for r in rows for c in r["det"].dsat_categories + r["det"].sat_categories
    )
    out["_categories"] = dict(cats.most_common())
    out["_olmo_rows_with_tuple_context"] = sum(r["with_context"] for r in tiered)
    return out


def prefilter_curve(rows: list[dict]) -> list[dict]:
    """Pass share vs recall of labelled turns for each threshold on ``Detection.score``."""
    rows = [r for r in rows if r["response"] is not None]
    labelled = [r for r in rows if r["gold"] != "neutral"]
    curve = []
    for th in THRESHOLDS:
        curve.append(
            {
                "threshold": th,
                "passed_share": sum(r["det"].score >= th for r in rows) / len(rows),
                "recall_feedback": sum(r["det"].score >= th for r in labelled) / len(labelled),
            }
        )
    return curve


def wildchat_curve(rows: list[dict]) -> list[dict]:
    return [
        {"threshold": th, "passed_share": sum(r["det"].score >= th for r in rows) / len(rows)}
        for th in THRESHOLDS
    ]


def reference_speed() -> float:
    """Searches per second of one trivial regex on a short string: how fast this machine is."""
    import re

    rx, text = (
        re.compile(r"\bfoo\b"),
        "No, I want to depart on the 13th and a cheap restaurant please.",
    )
    start = time.perf_counter()
    for _ in range(20_000):
        rx.search(text)
    return 20_000 / (time.perf_counter() - start)


def _detect(rows: list[dict]) -> float:
    start = time.perf_counter()
    for r in rows:
        r["det"] = classify(r["message"], r["previous"], r["response"])
    return len(rows) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument(
        "--json", type=Path, default=None, help="Also write the figures to this JSON file."
    )
    args = ap.parse_args(argv)

    uss = {
        c: load_uss(args.data / "uss" / f"{c}.txt")
        for c in USS_CORPORA
        if (args.data / "uss" / f"{c}.txt").exists()
    }
    wild, tiered = (
        load_wildchat(args.data / "wildchat_tuples")
        if (args.data / "wildchat_tuples").exists()
        else ([], [])
    )
    all_uss = [r for rs in uss.values() for r in rs]
    if not all_uss:
        print(f"no USS data under {args.data}", file=sys.stderr)
        return 2
    ref = reference_speed()
    speed = _detect(all_uss)
    wild_speed = _detect(wild) if wild else 0.0
    _detect(tiered)
    res_uss = evaluate_uss(uss)
    res_uss["prefilter_curve"] = {
        "tune": prefilter_curve([r for c in TUNE for r in uss.get(c, [])]),
        "held-out": prefilter_curve([r for c in HELD_OUT for r in uss.get(c, [])]),
        "overall": prefilter_curve(all_uss),
    }
    res_wild = evaluate_wildchat(wild, tiered) if wild else {}
    if wild:
        res_wild["_curve"] = wildchat_curve(wild)

    print("Lexical rubric detector (wfcore.lexical) quality\n")
    print(ATTRIBUTION + "\n")
    print(
        f"Throughput: {speed:,.0f} turns/s on USS turns, {wild_speed:,.0f} turns/s on WildChat follow-ups (one process, with context)"
    )
    print(
        f"  (machine speed for comparison: {ref:,.0f} searches/s of one trivial regex on a short string;"
    )
    print(
        "   the detector's rate scales with it, so compare runs on different machines through this figure)\n"
    )
    print("1. USS, per signal (gold from the median crowd rating)")
    print(
        f"{'corpus':<8} {'signal':<5} {'n':>6} {'gold+':>6} {'pred+':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'kappa':>6}"
    )
    for name, sigs in res_uss["signals"].items():
        for sig, m in sigs.items():
            print(
                f"{name:<8} {sig:<5} {m['n']:>6} {m['gold_pos']:>6} {m['pred_pos']:>6} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {m['kappa']:>6.3f}"
            )
    if res_wild:
        print(
            "\n2. WildChat follow-ups: firing rate (tuples: o_oracle with the previous request from x and"
        )
        print("   y_gpt4 as response; olmo: each tier's own follow-up text, silver LLM tier)")
        print(f"{'group':<28} {'n':>5} {'DSAT':>6} {'SAT':>6} {'any':>6} {'cand.':>6}")
        for tier, m in res_wild.items():
            if not tier.startswith("_"):
                print(
                    f"{tier:<28} {m['n']:>5} {m['dsat_rate']:>6.3f} {m['sat_rate']:>6.3f} {m['any_rate']:>6.3f} {m['candidate_rate']:>6.3f}"
                )
        print(
            "categories fired on the 500 tuples: "
            + ", ".join(f"{c} {n}" for c, n in res_wild["_categories"].items())
        )
        print(
            f"(olmo rows sharing a key with the tuples, classified with context: {res_wild['_olmo_rows_with_tuple_context']})"
        )
    print(
        "\n3. Prefilter role on USS: share of turns passed on vs recall of labelled feedback turns"
    )
    print(
        "   (targets: recall >= 0.90 while passing <= 40%; only turns that follow a system response,"
    )
    print("   as prepare's candidate turns: the first user turn of a dialogue reacts to nothing)")
    print(f"{'corpus':<8} {'turns':>6} {'passed':>7} {'recall':>7} {'rec SAT':>8} {'rec DSAT':>9}")
    for name, m in res_uss["prefilter"].items():
        print(
            f"{name:<8} {m['turns']:>6} {m['passed_share']:>7.3f} {m['recall_feedback']:>7.3f} {m['recall_sat']:>8.3f} {m['recall_dsat']:>9.3f}"
        )
    print(
        f"   trade-off over the score threshold (default {PREFILTER_THRESHOLD}; chosen on tune = "
        f"{'+'.join(TUNE)}, held out = {'+'.join(HELD_OUT)}): passed / recall"
    )
    curves = res_uss["prefilter_curve"]
    print(f"     {'threshold':>9} " + " ".join(f"{k:>15}" for k in curves) + "  WildChat passed")
    wc = {p["threshold"]: p["passed_share"] for p in res_wild.get("_curve", [])}
    for i, th in enumerate(THRESHOLDS):
        cells = " ".join(
            f"{c[i]['passed_share']:>7.3f}/{c[i]['recall_feedback']:<7.3f}" for c in curves.values()
        )
        print(f"     {th:>9.2f} {cells}  {wc.get(th, 0.0):>7.3f}")
    overall = res_uss["prefilter"]["overall"]
    met = overall["recall_feedback"] >= 0.90 and overall["passed_share"] <= 0.40
    print(
        f"   overall target {'MET' if met else 'NOT MET'}: recall {overall['recall_feedback']:.3f}, passed {overall['passed_share']:.3f}"
    )
    if wild:
        print(
            f"   on the 500 WildChat follow-ups (all pre-selected as informative) it passes {res_wild['tuples (500, with context)']['candidate_rate']:.3f}"
        )
    print("\n" + READING_GUIDE)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {
            "attribution": ATTRIBUTION,
            "throughput_turns_per_s": speed,
            "throughput_wildchat_turns_per_s": wild_speed,
            "reference_regex_searches_per_s": ref,
            "uss": res_uss,
            "wildchat": res_wild,
            "prefilter_target_met": met,
        }
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
