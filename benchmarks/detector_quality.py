"""Quality of the lexical rubric detector (wfcore.lexical) on real, third-party labelled data.

    .venv/bin/python benchmarks/detector_quality.py [--data ../shared/data] [--json OUT]

Prints three tables:
1. USS (human satisfaction ratings): precision, recall, F1 and Cohen's kappa per signal
   (SAT, DSAT), per sub-corpus and overall.
2. WildChat follow-ups (WildFeedback release): how often the detector fires, overall and per
   the silver olmo_signal tier.
3. The prefilter role: recall of labelled SAT/DSAT turns against the share of turns passed on
   to the model (targets: recall >= 0.90 while passing <= 40%). The prefilter's weights
   (wfcore.lexical.PREFILTER_WEIGHTS) were fitted on all of USS, so besides those in-sample
   figures the table refits them (benchmarks/prefilter_fit.py) leave-one-source-out (train on
   three of SGD/MWOZ/ReDial/CCPE, score the fourth) and on dialogue halves (train on one half
   of the dialogues, score the other), and reports those held-out figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

from prefilter_fit import fit_logistic

from wfcore.lexical import PREFILTER_THRESHOLD, classify, prefilter_score

USS_CORPORA = ("SGD", "MWOZ", "ReDial", "CCPE")
# pooled rows of table 1: task booking vs movie chat
BOOKING = ("SGD", "MWOZ")
MOVIES = ("ReDial", "CCPE")
THRESHOLDS = (0.04, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5)
TARGET_RECALL, TARGET_PASSED = 0.90, 0.40
# the prefilter's cue families that are a feedback cue of their own (not a description of a
# plain request or of the response): a turn with none of them and no rubric cue, no repeat of
# the previous request and no apology/failure/clarification in the response has "no cue"
CUE_FAMILIES = (
    "u_affirm", "u_no", "u_reaction", "u_exclaim", "u_you_neg", "u_hint", "u_thanks",
    "u_closing", "u_alternative", "u_dislike", "u_hedge", "sat_strength", "dsat_strength",
    "r_apology", "r_failure", "r_clarify",
)  # fmt: skip
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
    for dialogue, session in enumerate(path.read_text(encoding="utf-8").split("\n\n")):
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
                        "dialogue": f"{path.stem}:{dialogue}",
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
    out: dict = {"signals": {}}
    everything: list[dict] = []
    groups = [*by_corpus.items()]
    groups.append(("+".join(BOOKING), [r for c in BOOKING for r in by_corpus.get(c, [])]))
    groups.append(("+".join(MOVIES), [r for c in MOVIES for r in by_corpus.get(c, [])]))
    for name, turns in [*groups, ("overall", None)]:
        rows = turns if turns is not None else everything
        if turns is not None and name in by_corpus:
            everything.extend(turns)
        for sig in ("SAT", "DSAT"):
            pred = [r["det"].sat if sig == "SAT" else r["det"].dsat for r in rows]
            gold = [r["gold"] == sig for r in rows]
            out["signals"].setdefault(name, {})[sig] = binary_scores(pred, gold)
    return out


def prefilter_figures(rows: list[dict], key: str, threshold: float = PREFILTER_THRESHOLD) -> dict:
    """Pass share and recall at ``threshold`` on ``r["scores"][key]``, and the ranking figures."""
    labelled = [r for r in rows if r["gold"] != "neutral"]
    scores = [r["scores"][key] for r in rows]
    gold = [r["gold"] != "neutral" for r in rows]

    def recall(rs: list[dict]) -> float:
        return sum(r["scores"][key] >= threshold for r in rs) / len(rs) if rs else 0.0

    return {
        "turns": len(rows),
        "passed_share": sum(s >= threshold for s in scores) / len(rows),
        "recall_feedback": recall(labelled),
        "recall_sat": recall([r for r in labelled if r["gold"] == "SAT"]),
        "recall_dsat": recall([r for r in labelled if r["gold"] == "DSAT"]),
        "recall_at_target_passed": recall_at_passed(scores, gold, TARGET_PASSED),
        "passed_at_target_recall": passed_at_recall(scores, gold, TARGET_RECALL),
    }


def _ranked_groups(scores: list[float], gold: list[bool]) -> list[tuple[int, int]]:
    """(turns, labelled turns) per distinct score, highest score first."""
    groups: dict[float, list[int]] = {}
    for s, g in zip(scores, gold, strict=True):
        groups.setdefault(s, [0, 0])
        groups[s][0] += 1
        groups[s][1] += g
    return [(n, k) for _, (n, k) in sorted(groups.items(), reverse=True)]


def recall_at_passed(scores: list[float], gold: list[bool], share: float) -> float:
    """Recall of the ``share`` highest-scored turns (ties at the cut taken pro rata)."""
    budget, found, total = share * len(scores), 0.0, sum(gold)
    for n, k in _ranked_groups(scores, gold):
        take = min(n, budget)
        found += k * take / n
        budget -= take
        if budget <= 0:
            break
    return found / total if total else 0.0


def passed_at_recall(scores: list[float], gold: list[bool], recall: float) -> float:
    """Smallest share of turns, highest-scored first, that holds ``recall`` of the labelled."""
    need, passed = recall * sum(gold), 0.0
    for n, k in _ranked_groups(scores, gold):
        if k >= need:
            return (passed + n * need / k) / len(scores) if k else passed / len(scores)
        need -= k
        passed += n
    return passed / len(scores)


def heldout_scores(rows: list[dict], key: str, fold_of) -> None:
    """Refit the prefilter weights without each fold and score that fold: ``r["scores"][key]``.

    Also stores the refit probability alone (no floor for turns with a rubric signal) under
    ``key + " (no floor)"``.
    """
    from wfcore.lexical import prefilter_probability

    folds = sorted({fold_of(r) for r in rows})
    for fold in folds:
        train = [r for r in rows if fold_of(r) != fold]
        weights = fit_logistic(
            [r["det"].features for r in train], [r["gold"] != "neutral" for r in train]
        )
        for r in rows:
            if fold_of(r) == fold:
                d = r["det"]
                r["scores"][key] = prefilter_score(
                    d.features, d.sat_strength, d.dsat_strength, weights=weights
                )
                r["scores"][key + " (no floor)"] = prefilter_probability(d.features, weights)


def half_of(r: dict) -> int:
    return zlib.crc32(r["dialogue"].encode()) % 2


def evaluate_prefilter(by_corpus: dict[str, list[dict]]) -> dict:
    """Section 3: in-sample and held-out (leave-one-source-out, dialogue halves) figures."""
    from wfcore.lexical import prefilter_probability

    # as prepare's candidate turns: only turns that follow a system response
    rows = [r for c in USS_CORPORA for r in by_corpus.get(c, []) if r["response"] is not None]
    for r in rows:
        r["scores"] = {
            "in-sample": r["det"].score,
            "in-sample (no floor)": prefilter_probability(r["det"].features),
        }
    heldout_scores(rows, "leave-one-source-out", lambda r: r["corpus"])
    heldout_scores(rows, "dialogue halves", half_of)
    out: dict = {"rows": {}, "curve": {}, "no_floor": {}}
    for key in ("in-sample", "leave-one-source-out", "dialogue halves"):
        for c in USS_CORPORA:
            part = [r for r in rows if r["corpus"] == c]
            if part and key != "dialogue halves":
                out["rows"][f"{key}|{c}"] = prefilter_figures(part, key)
        out["rows"][f"{key}|all"] = prefilter_figures(rows, key)
        labelled = [r["gold"] != "neutral" for r in rows]
        out["curve"][key] = [
            {
                "threshold": th,
                "passed_share": sum(r["scores"][key] >= th for r in rows) / len(rows),
                "recall_feedback": sum(
                    r["scores"][key] >= th for r, g in zip(rows, labelled, strict=True) if g
                )
                / sum(labelled),
            }
            for th in THRESHOLDS
        ]
        nf = [r["scores"][key + " (no floor)"] for r in rows]
        out["no_floor"][key] = {
            "recall_at_target_passed": recall_at_passed(nf, labelled, TARGET_PASSED),
            "passed_at_target_recall": passed_at_recall(nf, labelled, TARGET_RECALL),
        }
    out["cues"] = cue_figures(rows)
    return out


def cue_figures(rows: list[dict]) -> dict:
    """How many turns carry a lexical cue at all, and how often a cue's turn is labelled."""
    labelled = [r for r in rows if r["gold"] != "neutral"]
    base = len(labelled) / len(rows)

    def has_cue(r: dict) -> bool:
        f = r["det"].features
        return any(k in f for k in CUE_FAMILIES) or f.get("rep_jaccard", 0.0) >= 0.25

    cue = [r for r in rows if has_cue(r)]
    families = {}
    for fam in (*CUE_FAMILIES, "sat", "dsat"):
        hit = [r for r in rows if fam in r["det"].features]
        if hit:
            families[fam] = {
                "share": len(hit) / len(rows),
                "labelled_rate": sum(r["gold"] != "neutral" for r in hit) / len(hit),
            }
    return {
        "base_labelled_rate": base,
        # the labelled rate the passed turns need to reach the targets together
        "needed_labelled_rate": TARGET_RECALL * base / TARGET_PASSED,
        "cue_share_of_turns": len(cue) / len(rows),
        "cue_share_of_labelled": sum(r["gold"] != "neutral" for r in cue) / len(labelled),
        "labelled_rate_with_cue": sum(r["gold"] != "neutral" for r in cue) / len(cue),
        "labelled_rate_without_cue": sum(r["gold"] != "neutral" for r in rows if not has_cue(r))
        / max(1, len(rows) - len(cue)),
        "families": families,
    }


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


def target_met(pf: dict) -> bool:
    """Both targets at the default threshold, on held-out (leave-one-source-out) scores."""
    m = pf["rows"]["leave-one-source-out|all"]
    return m["recall_feedback"] >= TARGET_RECALL and m["passed_share"] <= TARGET_PASSED


def print_prefilter(pf: dict, res_wild: dict) -> None:
    print(
        "\n3. Prefilter role on USS: share of turns passed on vs recall of labelled feedback turns"
    )
    print(
        f"   (targets: recall >= {TARGET_RECALL:.2f} while passing <= {TARGET_PASSED:.0%}; only turns that"
        " follow a system response,"
    )
    print("   as prepare's candidate turns: the first user turn of a dialogue reacts to nothing)")
    print(
        "   weights fitted on all four sources (in-sample); held out: refit without the scored source"
    )
    print("   (leave-one-source-out) or without the scored half of the dialogues (dialogue halves)")
    print(
        f"   at the default threshold {PREFILTER_THRESHOLD}; last two columns: recall when passing"
        f" the best-scored {TARGET_PASSED:.0%}, share to pass for recall {TARGET_RECALL:.2f}"
    )
    print(
        f"{'scores':<21} {'corpus':<7} {'turns':>6} {'passed':>7} {'recall':>7} {'rec SAT':>8}"
        f" {'rec DSAT':>9} {'rec@40%':>8} {'pass@.90':>9}"
    )
    for name, m in pf["rows"].items():
        key, corpus = name.split("|")
        print(
            f"{key:<21} {corpus:<7} {m['turns']:>6} {m['passed_share']:>7.3f} {m['recall_feedback']:>7.3f}"
            f" {m['recall_sat']:>8.3f} {m['recall_dsat']:>9.3f} {m['recall_at_target_passed']:>8.3f}"
            f" {m['passed_at_target_recall']:>9.3f}"
        )
    print("   trade-off over the score threshold: passed / recall")
    curves = pf["curve"]
    print(f"     {'threshold':>9} " + " ".join(f"{k:>20}" for k in curves) + "  WildChat passed")
    wc = {p["threshold"]: p["passed_share"] for p in res_wild.get("_curve", [])}
    for i, th in enumerate(THRESHOLDS):
        cells = " ".join(
            f"{'':>6}{c[i]['passed_share']:>6.3f}/{c[i]['recall_feedback']:<7.3f}"
            for c in curves.values()
        )
        print(f"     {th:>9.2f} {cells}  {wc.get(th, 0.0):>7.3f}")
    nf = pf["no_floor"]
    print(
        "   without the floor that keeps every turn with a rubric SAT/DSAT signal (score = the logistic"
    )
    print(
        "   probability alone): rec@40% / pass@.90 "
        + ", ".join(
            f"{k} {v['recall_at_target_passed']:.3f} / {v['passed_at_target_recall']:.3f}"
            for k, v in nf.items()
        )
    )
    held = pf["rows"]["leave-one-source-out|all"]
    print(
        f"   target {'MET' if target_met(pf) else 'NOT MET'} (held out, leave-one-source-out):"
        f" recall {held['recall_feedback']:.3f}, passed {held['passed_share']:.3f}"
    )
    cues = pf["cues"]
    print(
        f"   why: {cues['base_labelled_rate']:.1%} of these turns are labelled, so recall"
        f" {TARGET_RECALL:.2f} within {TARGET_PASSED:.0%} of turns needs passed turns"
        f" {cues['needed_labelled_rate']:.1%} labelled."
    )
    print(
        f"   Turns with any lexical cue ({cues['cue_share_of_turns']:.1%} of turns) hold"
        f" {cues['cue_share_of_labelled']:.1%} of the labelled ones but are only"
        f" {cues['labelled_rate_with_cue']:.1%} labelled (without a cue: {cues['labelled_rate_without_cue']:.1%});"
    )
    print("   share of turns / labelled rate of each cue family:")
    fams = list(cues["families"].items())
    for i in range(0, len(fams), 4):
        print(
            "     "
            + "  ".join(
                f"{k:<14}{v['share']:.3f}/{v['labelled_rate']:.2f}" for k, v in fams[i : i + 4]
            )
        )
    if res_wild:
        print(
            f"   on the 500 WildChat follow-ups (all pre-selected as informative) it passes"
            f" {res_wild['tuples (500, with context)']['candidate_rate']:.3f}"
        )


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
    for c, rs in uss.items():
        for r in rs:
            r["corpus"] = c
    all_uss = [r for rs in uss.values() for r in rs]
    if not all_uss:
        print(f"no USS data under {args.data}", file=sys.stderr)
        return 2
    ref = reference_speed()
    speed = _detect(all_uss)
    wild_speed = _detect(wild) if wild else 0.0
    _detect(tiered)
    res_uss = evaluate_uss(uss)
    res_uss["prefilter"] = evaluate_prefilter(uss)
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
    print_prefilter(res_uss["prefilter"], res_wild)
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
            "prefilter_target_met": target_met(res_uss["prefilter"]),
        }
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
