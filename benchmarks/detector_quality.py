"""Quality of the lexical rubric detector (wfcore.lexical) on real, third-party labelled data.

    .venv/bin/python benchmarks/detector_quality.py [--data ../shared/data] [--json OUT]
        [--sets uss,wildchat,llm_rubric]
        [--engine vllm --model PATH|smollm2 [--device cpu|gpu|auto] | --engine openai
         --base-url URL --model NAME] [--limit 60] [--seed 0]

Prints:
1. USS (human satisfaction ratings): precision, recall, F1 and Cohen's kappa per signal
   (SAT, DSAT), per sub-corpus and overall.
2. WildChat follow-ups (WildFeedback release): how often the detector fires, overall and per
   the silver olmo_signal tier.
3. The prefilter role on USS: recall of labelled SAT/DSAT turns against the share of turns
   passed on to the model.
4. LLM-Rubric real user-LLM chats, turn level against the SILVER labels of silver_turns.tsv
   (an LLM annotator's, not human): P/R/F1/kappa per signal on the dev split (conversations at
   an even index of real_data.json), the check split (odd index) and all; per category; DSAT
   recall per Don-Yehiya reaction type.
5. The prefilter curve on the silver turns (target: recall >= 0.90 of labelled SAT/DSAT turns
   while passing <= 60% of turns on real LLM chats).
6. LLM-Rubric conversation level against the users' own overall rating Q0 (1-4): DSAT rate of
   conversations rated 1-2 vs rated 4, and Spearman of predicted satisfaction with Q0.
7. With ``--engine``: the model detector, i.e. the pipeline's own detect stage (``jobs.detect``:
   the detect prompt, its JSON schema, parsing, retries and the evidence-quote check) through the
   pipeline's engine path (``wfcore.engine``: Ray Data + vLLM, or the OpenAI-compatible HTTP
   engine), on a seeded slice of the silver turns stratified by label (``--limit``, default 60:
   20 SAT / 20 DSAT / 20 neutral; 0: all of them), beside the lexical detector on the same slice:
   P/R/F1/kappa, invalid answers and error rows, evidence that is not a quote, wall time and
   tokens. ``--model smollm2`` is the offline SmolLM2-135M-Instruct (tests/realmodel.py); on
   ``--device cpu`` (the default) the engine runs eager in fp32 with a 1 GiB KV cache.

The detector under test is pluggable (``DETECTORS``: a function turn -> object with ``sat``,
``dsat``, ``sat_categories``, ``dsat_categories``); the prefilter figures always come from the
lexical detector's ``score``. Rules were developed on the dev split only (plus USS tune);
the check split, USS held-out and WildChat are the regression checks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wfcore.lexical import PREFILTER_THRESHOLD, classify

USS_CORPORA = ("SGD", "MWOZ", "ReDial", "CCPE")
# the prefilter's score levels were chosen on TUNE only (HELD_OUT was not used); its default
# threshold and the issue-17 rules on the LLM-Rubric dev split (see load_llm_rubric)
TUNE = ("SGD", "MWOZ")
HELD_OUT = ("ReDial", "CCPE")
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
SETS = ("uss", "wildchat", "llm_rubric")
PREFILTER_TARGET = (0.90, 0.60)  # recall of labelled feedback turns, share of turns passed
SILVER_CATEGORY_MIN = 10  # per-category rows only for categories with this many silver turns
ATTRIBUTION = """\
Data (third-party, not part of this project; figures only, no text reproduced):
- USS: Sun et al., "Simulating User Satisfaction for the Evaluation of Task-oriented Dialogue
  Systems", SIGIR 2021 (arXiv 2105.03748). Dialogues from SGD (CC BY-SA 4.0), MultiWOZ 2.1
  (MIT), ReDial (CC BY 4.0) and CCPE (CC BY-SA 4.0), user turns rated 1-5 by 3-7 crowd raters.
- WildChat tuples: github.com/sid-in-the-loop/user_interactions (Apache-2.0), cut from
  microsoft/WildFeedback (ODC-By), built from WildChat (ODC-By). olmo_signal tiers are an
  LLM's (gpt-4o-mini) silver labels, not human.
- LLM-Rubric: github.com/microsoft/LLM-Rubric (MIT), Hashemi et al., "LLM-Rubric: A
  Multidimensional, Calibrated Approach to Automated Evaluation of Natural Language Texts",
  ACL 2024 (arXiv 2501.00274): 223 real user chats with gpt-35-turbo systems and the users'
  own satisfaction ratings. Its turn labels (silver_turns.tsv) are an LLM annotator's SILVER
  labels, made for this project, not human gold."""
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
  DSAT firing rate is expected there; there is no human gold, only the silver tier.
- LLM-Rubric silver turns: 572 turns (113 SAT, 60 DSAT: 40 in dev, 20 in check), so one turn
  moves DSAT recall by 0.025 (dev) or 0.05 (check): read dev vs check differences with that in
  mind. SAT gold = label SAT or a DSAT turn that also thanks (column `also`).
- Conversation level: Q0 is the user's own overall rating; only 10 conversations are rated 1,
  and satisfaction shows in few turns, so expect a weak rank correlation even from a good
  detector (the silver labels themselves are printed as the reference)."""


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
            "passed_share": sum(r["lex"].candidate for r in rows) / len(rows),
            "recall_feedback": sum(r["lex"].candidate for r in labelled) / len(labelled),
            "recall_sat": _recall([r for r in labelled if r["gold"] == "SAT"]),
            "recall_dsat": _recall([r for r in labelled if r["gold"] == "DSAT"]),
        }
    return out


def _recall(rows: list[dict]) -> float:
    return sum(r["lex"].candidate for r in rows) / len(rows) if rows else 0.0


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
            "candidate_rate": sum(r["lex"].candidate for r in rs) / n,
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
        point = {
            "threshold": th,
            "passed_share": sum(r["lex"].score >= th for r in rows) / len(rows),
            "recall_feedback": sum(r["lex"].score >= th for r in labelled) / len(labelled),
        }
        for sig in ("SAT", "DSAT"):
            gold = [r for r in labelled if r["gold"] == sig]
            point[f"recall_{sig.lower()}"] = (
                sum(r["lex"].score >= th for r in gold) / len(gold) if gold else 0.0
            )
        curve.append(point)
    return curve


def wildchat_curve(rows: list[dict]) -> list[dict]:
    return [
        {"threshold": th, "passed_share": sum(r["lex"].score >= th for r in rows) / len(rows)}
        for th in THRESHOLDS
    ]


def load_llm_rubric(directory: Path) -> tuple[list[dict], dict[str, int]]:
    """Candidate turns of the 223 LLM-Rubric chats (user turns after the first one) and Q0.

    ``messages[0]`` is the assistant's greeting, so the first user turn (index 1) reacts to
    nothing and is not a candidate, as in prepare; ``message_index`` is the 0-based index into
    ``messages`` (as in silver_turns.tsv). Each turn carries its silver label where one exists
    (``gold``: SAT / DSAT / neutral; SAT also when a DSAT turn also thanks is kept as
    ``also_sat``), the conversation's position (``split``: dev = even, check = odd) and id.
    """
    convs = json.loads((directory / "real_data.json").read_text(encoding="utf-8"))
    silver: dict[tuple[str, int], dict] = {}
    path = directory / "silver_turns.tsv"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        head = lines[0].split("\t")
        for line in lines[1:]:
            if line.strip():
                rec = dict(zip(head, line.split("\t"), strict=False))
                silver[(rec["conversation_id"], int(rec["message_index"]))] = rec
    turns: list[dict] = []
    for pos, conv in enumerate(convs):
        msgs = conv["messages"]
        previous: str | None = None
        seen_user = False
        for i, m in enumerate(msgs):
            if m["role"] != "user":
                continue
            if seen_user and i > 0 and msgs[i - 1]["role"] == "assistant":
                rec = silver.get((conv["_id"], i))
                cats = [c for c in (rec or {}).get("categories", "").split(",") if c]
                turns.append(
                    {
                        "conversation_id": conv["_id"],
                        "message_index": i,
                        "split": "dev" if pos % 2 == 0 else "check",
                        "message": m["content"],
                        "previous": previous,
                        "response": msgs[i - 1]["content"],
                        "history": msgs[: i - 1],
                        "gold": rec["label"] if rec else None,
                        "also_sat": bool(rec) and rec.get("also", "") == "SAT",
                        "gold_categories": cats,
                        "ur": (rec or {}).get("ur", "-") or "-",
                    }
                )
            previous, seen_user = m["content"], True
    q0: dict[str, int] = {}
    judges = directory / "human_judges_real_convs_FIXED_ANON.tsv"
    if judges.exists():
        lines = judges.read_text(encoding="utf-8").splitlines()
        head = lines[0].split("\t")
        for line in lines[1:]:
            rec = dict(zip(head, line.split("\t"), strict=False))
            if rec.get("Q0", "").strip().isdigit():
                q0[rec["text_id"]] = int(rec["Q0"])
    return turns, q0


def _silver_gold(r: dict, sig: str) -> bool:
    return r["gold"] == "DSAT" if sig == "DSAT" else (r["gold"] == "SAT" or r["also_sat"])


def evaluate_silver(turns: list[dict]) -> dict:
    """Turn-level figures against the silver labels, per split, per category, per UR type."""
    labelled = [r for r in turns if r["gold"] is not None]
    out: dict = {"signals": {}, "categories": {}, "dsat_recall_by_ur": {}}
    for split in ("dev", "check", "all"):
        rows = [r for r in labelled if split == "all" or r["split"] == split]
        for sig in ("SAT", "DSAT"):
            pred = [r["det"].sat if sig == "SAT" else r["det"].dsat for r in rows]
            gold = [_silver_gold(r, sig) for r in rows]
            out["signals"].setdefault(split, {})[sig] = binary_scores(pred, gold)
    counts = Counter(c for r in labelled for c in r["gold_categories"])
    for cat, n in counts.most_common():
        if n < SILVER_CATEGORY_MIN:
            continue
        pred = [cat in r["det"].sat_categories + r["det"].dsat_categories for r in labelled]
        gold = [cat in r["gold_categories"] for r in labelled]
        out["categories"][cat] = binary_scores(pred, gold)
    dsat = [r for r in labelled if r["gold"] == "DSAT"]
    for ur in sorted({r["ur"] for r in dsat}):
        rows = [r for r in dsat if r["ur"] == ur]
        out["dsat_recall_by_ur"][ur] = {
            "n": len(rows),
            "recall": sum(r["det"].dsat for r in rows) / len(rows),
        }
    out["curve"] = {
        split: prefilter_curve(
            [
                {**r, "gold": "SAT" if r["also_sat"] else r["gold"]}
                for r in labelled
                if split == "all" or r["split"] == split
            ]
        )
        for split in ("dev", "check", "all")
    }
    return out


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); 0.0 when either side is constant."""
    rx, ry = _ranks(x), _ranks(y)
    n = len(x)
    if n < 2:
        return 0.0
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx and vy else 0.0


def evaluate_conversations(turns: list[dict], q0: dict[str, int]) -> dict:
    """Per conversation: DSAT rate and predicted satisfaction ((SAT - DSAT) / turns) vs Q0.

    Computed for the detector and, as a reference, for the silver labels. Conversations with no
    candidate turn (one user message) are left out.
    """
    by_conv: dict[str, list[dict]] = defaultdict(list)
    for r in turns:
        by_conv[r["conversation_id"]].append(r)
    out: dict = {"conversations": 0}
    sources: dict[str, Callable[[dict, str], bool]] = {
        "detector": lambda r, sig: r["det"].sat if sig == "SAT" else r["det"].dsat,
        "silver": _silver_gold,
    }
    for name, is_sig in sources.items():
        rates, sats, ratings = [], [], []
        for cid, rows in by_conv.items():
            if cid not in q0:
                continue
            n = len(rows)
            d = sum(is_sig(r, "DSAT") for r in rows) / n
            s = sum(is_sig(r, "SAT") for r in rows) / n
            rates.append((q0[cid], d))
            sats.append(s - d)
            ratings.append(q0[cid])
        low = [d for q, d in rates if q <= 2]
        high = [d for q, d in rates if q == 4]
        out["conversations"] = len(ratings)
        out[name] = {
            "dsat_rate_q12": sum(low) / len(low) if low else 0.0,
            "dsat_rate_q4": sum(high) / len(high) if high else 0.0,
            "any_dsat_q12": sum(d > 0 for d in low) / len(low) if low else 0.0,
            "any_dsat_q4": sum(d > 0 for d in high) / len(high) if high else 0.0,
            "n_q12": len(low),
            "n_q4": len(high),
            "spearman_q0": spearman(sats, [float(q) for q in ratings]),
        }
    return out


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


def lexical_detector(turn: dict) -> Any:
    """The offline detector: ``wfcore.lexical.classify`` on the turn, its previous request and
    the response it reacts to."""
    return classify(turn["message"], turn["previous"], turn["response"])


# turn -> object with sat, dsat, sat_categories, dsat_categories (a model detector plugs in
# here; its turns also carry ``history``, the messages before the response, where known)
DETECTORS: dict[str, Callable[[dict], Any]] = {"lexical": lexical_detector}

MODEL_SLICE_DEFAULT = 60
MODEL_SLICE_SEED = 0
SILVER_LABELS = ("SAT", "DSAT", "neutral")


def silver_slice(turns: list[dict], limit: int, seed: int = MODEL_SLICE_SEED) -> list[dict]:
    """Every silver-labelled turn when ``limit`` is 0 (the natural mix). Otherwise a fixed, seeded slice of the silver-labelled turns, stratified by silver label: ``limit``
    split as evenly as possible over SAT / DSAT / neutral (the remainder to neutral), each label's
    turns drawn with ``random.Random(seed)`` from the turns in file order. Balanced, not the
    natural mix (about 20% SAT, 10% DSAT), so every signal has enough positives to score; returned
    in conversation order (turns of one conversation share a prompt prefix)."""
    import random

    if limit == 0:
        picked = [r for r in turns if r["gold"] in SILVER_LABELS]
        return sorted(picked, key=lambda r: (r["conversation_id"], r["message_index"]))
    rnd = random.Random(seed)
    per, extra = divmod(max(limit, 0), len(SILVER_LABELS))
    picked: list[dict] = []
    for label in SILVER_LABELS:
        pool = [r for r in turns if r["gold"] == label]
        k = min(len(pool), per + (extra if label == "neutral" else 0))
        picked.extend(rnd.sample(pool, k))
    return sorted(picked, key=lambda r: (r["conversation_id"], r["message_index"]))


class ModelDetection:
    """A model's answer for one turn as the benchmark scores it: an error row (invalid answer
    after the retries, or an engine error) predicts no signal and keeps its ``error``."""

    def __init__(self, row: dict):
        self.sat = bool(row["sat"])
        self.dsat = bool(row["dsat"])
        self.sat_categories = list(row["sat_categories"] or [])
        self.dsat_categories = list(row["dsat_categories"] or [])
        self.evidence = row["evidence"] or ""
        self.error = row["error"]


def model_config(args: argparse.Namespace, run_uri: str) -> Any:
    """The pipeline's config for a detect run on ``args.engine`` (prefilter off, as the shipped
    model profiles: every turn reaches the model; the stage's own retries and sampling)."""
    from wfcore.config import Config

    cfg: dict = {
        "run": run_uri,
        "detect": {"engine": args.engine, "prefilter": "off"},
        "ray": {"num_cpus": args.ray_cpus},
    }
    if args.engine == "vllm":
        vllm: dict = {
            "model": args.model,
            "max_model_len": args.max_model_len,
            "device": args.device,
        }
        if args.device == "cpu":
            # the tests' CPU engine (tests/test_real_model.py): eager, fp32, the engine tokenizes
            vllm.update(
                batch_size=8,
                tokenize_stages=False,
                engine_kwargs={"enforce_eager": True, "dtype": "float32"},
            )
        cfg["vllm"] = vllm
    else:
        cfg["openai"] = {"base_url": args.base_url, "model": args.model}
    return Config.model_validate(cfg)


def llm_rubric_turn_rows(turns: list[dict]) -> list[dict]:
    """TURNS rows (one shard, in the given order) of LLM-Rubric turns from ``load_llm_rubric``."""
    from wfcore.ids import turn_id

    return [
        {
            "turn_id": turn_id(r["conversation_id"], r["message_index"]),
            "conversation_id": r["conversation_id"],
            "message_index": r["message_index"],
            "history": [{"role": m["role"], "content": m["content"]} for m in r["history"]],
            "response": r["response"],
            "user_message": r["message"],
            "source": "llm_rubric",
            "language": "English",
            "model": "gpt-35-turbo",
            "cluster_id": r["conversation_id"],
            "moderation_flagged": False,
            "shard": 0,
        }
        for r in turns
    ]


def run_model_detector(turns: list[dict], args: argparse.Namespace) -> dict:
    """Label ``turns`` with the pipeline's own detect stage (``jobs.detect``: the detect prompt,
    the JSON schema, parsing, retries, the evidence-quote check) on ``args.engine``, through the
    engine path the pipeline uses (``wfcore.engine``: Ray Data + vLLM, or the HTTP engine).

    Sets ``r["model"]`` on every turn; returns the stage record's figures and wall times.
    """
    import os
    import tempfile

    repo = Path(__file__).resolve().parents[1]
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    if args.engine == "vllm" and args.device == "cpu":
        # a small CPU engine: in-process engine core, a 1 GiB KV cache (tests/tinymodel.py)
        for k, v in {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
            os.environ.setdefault(k, v)
    if args.engine == "vllm" and args.model == "smollm2":
        from tests.realmodel import smollm2_dir

        args.model = smollm2_dir()
    if args.engine == "vllm" and os.path.isdir(args.model):
        # a local folder needs no hub (a hub id such as meta-llama/... on a GPU machine does)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import ray

    from jobs.rayrt import init_ray
    from tests.modelstage_fixtures import commit_sharded, run_stage
    from wfcore.run import RunDir
    from wfcore.schema import FEEDBACK, TURNS

    rows = llm_rubric_turn_rows(turns)
    by_id = {row["turn_id"]: r for row, r in zip(rows, turns, strict=True)}
    work = tempfile.mkdtemp(prefix="wf-detector-quality-")
    run = RunDir(os.path.join(work, "run"))
    commit_sharded(run, "turns", rows, TURNS)
    cfg = model_config(args, run.uri)
    t0 = time.perf_counter()
    init_ray(cfg.ray)
    ray_init = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        rec = run_stage("detect", run, cfg)
    finally:
        stage_s = time.perf_counter() - t1
        ray.shutdown()
    feedback = run.table("feedback").read(FEEDBACK).to_pylist()
    errors: Counter[str] = Counter()
    attempts: Counter[int] = Counter()
    base_seed = cfg.detect.sampling.seed
    for row in feedback:
        by_id[row["turn_id"]]["model"] = ModelDetection(row)
        if row["error"]:
            errors[row["error"].split(":", 1)[0]] += 1
        attempts[final_attempt(row, base_seed)] += 1
    missing = [tid for tid, r in by_id.items() if "model" not in r]
    if missing:
        raise RuntimeError(f"detect returned no row for {len(missing)} of {len(by_id)} turns")
    valid = [r for r in feedback if not r["error"]]
    not_quoted = int(rec.get("notes", {}).get("evidence_not_quoted", 0))
    with_evidence = sum(bool(r["evidence"]) for r in valid) + not_quoted
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {
        "engine": args.engine,
        "model": cfg.vllm.model if args.engine == "vllm" else cfg.openai.model,
        "turns": len(feedback),
        "valid": len(valid),
        "error_rows": dict(errors),
        "invalid_share": errors.get("invalid_output", 0) / len(feedback),
        "error_share": (len(feedback) - len(valid)) / len(feedback),
        "evidence_given": with_evidence,
        "evidence_not_quoted": not_quoted,
        "evidence_not_quoted_share": not_quoted / with_evidence if with_evidence else 0.0,
        "model_requests": int(rec.get("model_requests", 0)),
        "rows_by_final_attempt": {str(k + 1): attempts[k] for k in sorted(attempts)},
        "first_answer_invalid": sum(n for k, n in attempts.items() if k > 0),
        "answers": sum((k + 1) * n for k, n in attempts.items()),
        "answers_invalid": sum(k * n for k, n in attempts.items())
        + errors.get("invalid_output", 0),
        "tokens_in": int(rec.get("tokens_in", 0)),
        "tokens_out": int(rec.get("tokens_out", 0)),
        "ray_init_s": ray_init,
        "stage_s": stage_s,
        "first_result_s": rec.get("engine_first_result_s"),
        "plans": rec.get("engine_plans"),
    }


def final_attempt(row: dict, base_seed: int) -> int:
    """0-based attempt of a detect row's final answer, from its lineage: attempt k is sampled with
    seed ``base_seed + k`` (``wfcore.engine.sampling_dict``), so seed - base is the number of
    earlier answers that were invalid (retried)."""
    seed = json.loads(row["sampling"] or "{}").get("seed", base_seed)
    return max(int(seed) - int(base_seed), 0)


def evaluate_slice(turns: list[dict], key: str) -> dict[str, dict]:
    """Turn-level P/R/F1/kappa of the detection under ``r[key]`` against the silver labels."""
    out = {}
    for sig in ("SAT", "DSAT"):
        pred = [r[key].sat if sig == "SAT" else r[key].dsat for r in turns]
        gold = [_silver_gold(r, sig) for r in turns]
        out[sig] = binary_scores(pred, gold)
    return out


def _print_model(res: dict) -> None:
    m = res["run"]
    composition = ", ".join(f"{k} {v}" for k, v in res["composition"].items())
    how = (
        f"seed {res['seed']}, stratified: {composition}; balanced, not the natural mix, so"
        " precision here is higher than on all turns"
        if res.get("stratified", True)
        else f"every silver turn, the natural mix: {composition}"
    )
    print(
        f"\n7. Model detector ({m['engine']}: {m['model']}) vs lexical on the SAME"
        f" LLM-Rubric SILVER turns ({m['turns']} turns, {how})"
    )
    print(
        "   the pipeline's detect stage: detect prompt, JSON schema, parsing, retries, evidence check"
    )
    print(
        f"{'detector':<9} {'signal':<5} {'n':>6} {'gold+':>6} {'pred+':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'kappa':>6}"
    )
    for name in ("model", "lexical"):
        for sig, s in res[name].items():
            print(
                f"{name:<9} {sig:<5} {s['n']:>6} {s['gold_pos']:>6} {s['pred_pos']:>6} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} {s['kappa']:>6.3f}"
            )
    errs = ", ".join(f"{k} {v}" for k, v in sorted(m["error_rows"].items())) or "none"
    first_bad = m["first_answer_invalid"] / m["turns"]
    print(
        f"   answers: first answer invalid (schema/consistency check) on {m['first_answer_invalid']} of"
        f" {m['turns']} turns ({first_bad:.3f}), retried with a fresh seed; {m['answers_invalid']} of"
        f" {m['answers']} answers invalid over all attempts; turns by attempt of the final answer:"
        f" {', '.join(f'{k}: {n}' for k, n in m['rows_by_final_attempt'].items())}"
    )
    print(
        f"   error rows after retries: {m['turns'] - m['valid']} of {m['turns']} ({m['error_share']:.3f};"
        f" invalid {m['invalid_share']:.3f}; by kind: {errs}); an error row counts as no signal"
    )
    print(
        f"   evidence not a quote of the user turn (cleared): {m['evidence_not_quoted']} of the"
        f" {m['evidence_given']} valid answers that gave evidence ({m['evidence_not_quoted_share']:.3f})"
    )
    first = m["first_result_s"]
    print(
        f"   wall: {m['stage_s']:.1f} s detect stage ({m['plans']} plans, one engine start each: the"
        f" first answer and each retry round; time to each plan's first result, summed:"
        f" {first if first is None else round(first, 1)} s) + {m['ray_init_s']:.1f} s ray.init;"
        f" {m['model_requests']} turns, {m['tokens_in']:,} prompt + {m['tokens_out']:,} output tokens"
        f" (all attempts), {(m['tokens_in'] + m['tokens_out']) / m['stage_s']:,.0f} tokens/s over the stage"
    )


def _detect(rows: list[dict], detector: Callable[[dict], Any] = lexical_detector) -> float:
    """Label every row: ``det`` from the detector under test, ``lex`` (prefilter) from lexical."""
    start = time.perf_counter()
    for r in rows:
        r["lex"] = lexical_detector(r)
    elapsed = time.perf_counter() - start
    for r in rows:
        r["det"] = r["lex"] if detector is lexical_detector else detector(r)
    return len(rows) / elapsed if elapsed else 0.0


def _print_uss(res_uss: dict, speed: float, wild_speed: float, ref: float) -> None:
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


def _print_wildchat(res_wild: dict) -> None:
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


def _print_uss_prefilter(res_uss: dict, res_wild: dict) -> bool:
    print(
        "\n3. Prefilter role on USS: share of turns passed on vs recall of labelled feedback turns"
    )
    print(
        "   (target recall >= 0.90 while passing <= 60%, an earlier USS target was 40%; only turns that follow a system response,"
    )
    print("   as prepare's candidate turns: the first user turn of a dialogue reacts to nothing)")
    print(f"{'corpus':<8} {'turns':>6} {'passed':>7} {'recall':>7} {'rec SAT':>8} {'rec DSAT':>9}")
    for name, m in res_uss["prefilter"].items():
        print(
            f"{name:<8} {m['turns']:>6} {m['passed_share']:>7.3f} {m['recall_feedback']:>7.3f} {m['recall_sat']:>8.3f} {m['recall_dsat']:>9.3f}"
        )
    print(
        f"   trade-off over the score threshold (default {PREFILTER_THRESHOLD}, chosen on the"
        f" LLM-Rubric dev split; score levels from tune = {'+'.join(TUNE)}, held out ="
        f" {'+'.join(HELD_OUT)}): passed / recall"
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
    met = (
        overall["recall_feedback"] >= PREFILTER_TARGET[0]
        and overall["passed_share"] <= PREFILTER_TARGET[1]
    )
    print(
        f"   overall target (<= {PREFILTER_TARGET[1]:.0%} passed) {'MET' if met else 'NOT MET'}: recall {overall['recall_feedback']:.3f}, passed {overall['passed_share']:.3f}"
    )
    if res_wild:
        print(
            f"   on the 500 WildChat follow-ups (all pre-selected as informative) it passes {res_wild['tuples (500, with context)']['candidate_rate']:.3f}"
        )
    return met


def _print_silver(res: dict, n_labelled: int) -> None:
    print(
        f"\n4. LLM-Rubric real user-LLM chats, turn level vs SILVER labels ({n_labelled} turns;"
        " an LLM annotator's labels, not human)"
    )
    print("   dev = conversations at an even index of real_data.json (rules developed here),")
    print("   check = odd index (not looked at while developing)")
    print(
        f"{'split':<8} {'signal':<5} {'n':>6} {'gold+':>6} {'pred+':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'kappa':>6}"
    )
    for split, sigs in res["signals"].items():
        for sig, m in sigs.items():
            print(
                f"{split:<8} {sig:<5} {m['n']:>6} {m['gold_pos']:>6} {m['pred_pos']:>6} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {m['kappa']:>6.3f}"
            )
    print(f"   per category (all splits; categories with >= {SILVER_CATEGORY_MIN} silver turns)")
    print(f"{'category':<20} {'gold+':>6} {'pred+':>6} {'prec':>6} {'recall':>6} {'F1':>6}")
    for cat, m in res["categories"].items():
        print(
            f"{cat:<20} {m['gold_pos']:>6} {m['pred_pos']:>6} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f}"
        )
    print(
        "   silver DSAT recall per reaction type (UR1 repeat/rephrase, UR2 aware + correction,"
        " UR3 aware, UR4 clarification, - none): "
        + ", ".join(
            f"{ur} {m['recall']:.2f} (n={m['n']})" for ur, m in res["dsat_recall_by_ur"].items()
        )
    )
    print(
        "\n5. Prefilter curve on the silver turns: share of turns passed / recall of labelled SAT+DSAT"
        f" turns (target recall >= {PREFILTER_TARGET[0]:.2f} at passed <= {PREFILTER_TARGET[1]:.0%};"
        f" default threshold {PREFILTER_THRESHOLD})"
    )
    curves = res["curve"]
    print(
        f"     {'threshold':>9} "
        + " ".join(f"{k:>15}" for k in curves)
        + f" {'rec SAT (all)':>14} {'rec DSAT (all)':>15}"
    )
    for i, th in enumerate(THRESHOLDS):
        cells = " ".join(
            f"{c[i]['passed_share']:>7.3f}/{c[i]['recall_feedback']:<7.3f}" for c in curves.values()
        )
        a = curves["all"][i]
        met = (
            a["recall_feedback"] >= PREFILTER_TARGET[0] and a["passed_share"] <= PREFILTER_TARGET[1]
        )
        print(
            f"     {th:>9.2f} {cells} {a['recall_sat']:>14.3f} {a['recall_dsat']:>15.3f}"
            + ("  <- target met" if met else "")
        )


def _print_conversations(res: dict) -> None:
    print(
        f"\n6. LLM-Rubric conversation level vs the users' own rating Q0 (1-4; {res['conversations']}"
        " conversations with at least one candidate turn)"
    )
    print(
        "   DSAT rate = DSAT turns / candidate turns; predicted satisfaction = (SAT - DSAT) / candidate turns"
    )
    print(
        f"{'labels':<10} {'DSAT rate Q0<=2':>16} {'DSAT rate Q0=4':>15} {'any DSAT Q0<=2':>15} {'any DSAT Q0=4':>14} {'Spearman':>9}"
    )
    for name in ("detector", "silver"):
        m = res[name]
        print(
            f"{name:<10} {m['dsat_rate_q12']:>16.3f} {m['dsat_rate_q4']:>15.3f} {m['any_dsat_q12']:>15.3f} {m['any_dsat_q4']:>14.3f} {m['spearman_q0']:>9.3f}"
        )
    m = res["detector"]
    print(f"   (n: {m['n_q12']} conversations rated 1-2, {m['n_q4']} rated 4)")


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
    ap.add_argument(
        "--detector",
        choices=sorted(DETECTORS),
        default="lexical",
        help="Detector under test (the prefilter figures always come from the lexical score).",
    )
    ap.add_argument(
        "--sets",
        default=",".join(SETS),
        help=f"Comma-separated data sets to report, of {', '.join(SETS)} (default: all).",
    )
    model = ap.add_argument_group(
        "model detector",
        "With --engine: also run the pipeline's detect stage with a model on a seeded, stratified"
        " slice of the LLM-Rubric silver turns and print it beside the lexical detector on the"
        " same slice (section 7).",
    )
    model.add_argument("--engine", choices=("vllm", "openai"), default=None)
    model.add_argument(
        "--model",
        default=None,
        help="vllm: a model folder or hub id ('smollm2': tests/realmodel.smollm2_dir(), the"
        " offline SmolLM2-135M-Instruct); openai: the model name sent.",
    )
    model.add_argument(
        "--base-url", default=None, help="openai: the endpoint, e.g. http://host:8000/v1"
    )
    model.add_argument(
        "--limit",
        type=int,
        default=MODEL_SLICE_DEFAULT,
        help=f"Silver turns in the slice (default {MODEL_SLICE_DEFAULT}; 0: all 572, the natural mix).",
    )
    model.add_argument("--seed", type=int, default=MODEL_SLICE_SEED, help="Seed of the slice.")
    model.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="cpu",
        help="vllm.device (cpu: eager fp32 engine, 1 GiB KV cache, in-process engine core).",
    )
    model.add_argument(
        "--max-model-len",
        type=int,
        default=4096,
        help="vllm.max_model_len (default 4096, the pipeline's: the longest silver prompt is"
        " about 2,750 SmolLM2 tokens).",
    )
    model.add_argument("--ray-cpus", type=int, default=4, help="ray.num_cpus of the local Ray.")
    args = ap.parse_args(argv)
    detector = DETECTORS[args.detector]
    sets = {s.strip() for s in args.sets.split(",") if s.strip()}
    if not sets or sets - set(SETS):
        ap.error(f"--sets: choose from {', '.join(SETS)}")
    if args.engine and not args.model:
        ap.error("--engine needs --model")
    if args.engine == "openai" and not args.base_url:
        ap.error("--engine openai needs --base-url")
    if args.engine and "llm_rubric" not in sets:
        ap.error("the model detector runs on the llm_rubric set: add it to --sets")

    uss = {
        c: load_uss(args.data / "uss" / f"{c}.txt")
        for c in USS_CORPORA
        if "uss" in sets and (args.data / "uss" / f"{c}.txt").exists()
    }
    wild, tiered = (
        load_wildchat(args.data / "wildchat_tuples")
        if "wildchat" in sets and (args.data / "wildchat_tuples").exists()
        else ([], [])
    )
    all_uss = [r for rs in uss.values() for r in rs]
    if "uss" in sets and not all_uss:
        print(f"no USS data under {args.data}", file=sys.stderr)
        return 2
    rubric_dir = args.data / "llm_rubric"
    rubric, q0 = (
        load_llm_rubric(rubric_dir)
        if "llm_rubric" in sets and (rubric_dir / "real_data.json").exists()
        else ([], {})
    )
    if args.engine and not rubric:
        print(f"no LLM-Rubric data under {rubric_dir}", file=sys.stderr)
        return 2
    ref = reference_speed()
    speed = _detect(all_uss, detector)
    wild_speed = _detect(wild, detector) if wild else 0.0
    _detect(tiered, detector)
    _detect(rubric, detector)
    res_silver = evaluate_silver(rubric) if rubric else {}
    res_conv = evaluate_conversations(rubric, q0) if rubric and q0 else {}
    res_uss = evaluate_uss(uss) if all_uss else {}
    if all_uss:
        res_uss["prefilter_curve"] = {
            "tune": prefilter_curve([r for c in TUNE for r in uss.get(c, [])]),
            "held-out": prefilter_curve([r for c in HELD_OUT for r in uss.get(c, [])]),
            "overall": prefilter_curve(all_uss),
        }
    res_wild = evaluate_wildchat(wild, tiered) if wild else {}
    if wild:
        res_wild["_curve"] = wildchat_curve(wild)
    res_model: dict = {}
    if args.engine:
        part = silver_slice(rubric, args.limit, args.seed)
        res_model["seed"] = args.seed
        res_model["stratified"] = args.limit != 0
        res_model["composition"] = {
            label: sum(r["gold"] == label for r in part) for label in SILVER_LABELS
        }
        res_model["run"] = run_model_detector(part, args)
        res_model["model"] = evaluate_slice(part, "model")
        res_model["lexical"] = evaluate_slice(part, "lex")

    print(f"Detector quality: {args.detector} (prefilter: wfcore.lexical score)\n")
    print(ATTRIBUTION + "\n")
    if res_uss:
        _print_uss(res_uss, speed, wild_speed, ref)
    if res_wild:
        _print_wildchat(res_wild)
    met = None
    if res_uss:
        met = _print_uss_prefilter(res_uss, res_wild)
    if res_silver:
        _print_silver(res_silver, sum(r["gold"] is not None for r in rubric))
    if res_conv:
        _print_conversations(res_conv)
    if res_model:
        _print_model(res_model)
    targets_in = {"USS overall": res_uss["prefilter"]["overall"]} if res_uss else {}
    if res_silver:
        at_default = next(
            p for p in res_silver["curve"]["all"] if p["threshold"] == PREFILTER_THRESHOLD
        )
        targets_in["llm_rubric silver (all)"] = at_default
    print(
        f"\nPrefilter target (recall >= {PREFILTER_TARGET[0]:.2f} of labelled SAT/DSAT turns while passing"
        f" <= {PREFILTER_TARGET[1]:.0%}) at the default threshold {PREFILTER_THRESHOLD}:"
    )
    targets = {}
    for name, m in targets_in.items():
        ok = (
            m["recall_feedback"] >= PREFILTER_TARGET[0] and m["passed_share"] <= PREFILTER_TARGET[1]
        )
        targets[name] = ok
        print(
            f"   {name:<26} passed {m['passed_share']:.3f}, recall {m['recall_feedback']:.3f}: {'MET' if ok else 'NOT MET'}"
        )
    if wild:
        print(
            f"   {'WildChat 500 follow-ups':<26} passed {res_wild['tuples (500, with context)']['candidate_rate']:.3f} (no labels; all pre-selected as informative)"
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
            "llm_rubric_silver": res_silver,
            "llm_rubric_conversations": res_conv,
            "prefilter_target_60": targets,
            "model_detector_slice": res_model,
        }
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
