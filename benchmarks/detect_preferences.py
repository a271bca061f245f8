"""One call for detect and preferences (``detect.with_preferences``) against the two-call path.

    python benchmarks/detect_preferences.py --data ../shared/data [--model smollm2|random]
        [--limit 60] [--seed 0] [--json OUT]

1. Input: real user-LLM chats, the LLM-Rubric candidate turns with a silver label
   (``benchmarks/detector_quality.py``: ``load_llm_rubric``, and its seeded slice stratified by
   silver label, ``--limit`` turns; 0: all 572, the natural mix).
2. Two-call path (the baseline): the pipeline's ``detect`` stage (``with_preferences`` off), then
   its ``preferences`` stage with the same engine on every turn with a signal.
   One-call path: ``detect`` with ``with_preferences`` on (the answer carries the statements),
   then ``preferences``, which writes them without a model call (a turn whose statements fail the
   check falls back to a preferences call: counted). Both run through Ray Data + vLLM CPU the way
   the pipeline does (``tests/modelstage_fixtures.run_stage``: fingerprint, accounting), prefilter
   off, the stages' own retries and sampling (temperature 0), one Ray runtime for both paths.
3. Prints, per path and as one-call / two-call: prompt and output tokens (from every row's
   lineage, retries included), model requests, engine starts, stage wall times (each includes its
   own engine start) and the same per candidate turn; then whether the two paths' detect answers
   agree on the signals (share of turns with the same (SAT, DSAT) label) and how often each
   matches the silver label.

``--model smollm2`` (default; tests/realmodel.py) is a real 135M instruct model: its labels are
weak (near chance on this slice), so its agreement figure says the two prompts lead it to similar
answers, not that a capable model would agree as much. ``--model random`` uses the tests' tiny
random model: tokens and wall only (its labels are noise). Load averages are printed: the machine
is shared, so compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for p in (str(REPO), str(REPO / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)


def config(run_uri: str, model: str, one_call: bool, args: argparse.Namespace):
    from wfcore.config import Config

    return Config.model_validate(
        {
            "run": run_uri,
            "vllm": {
                "model": model,
                "max_model_len": args.max_model_len,
                "batch_size": 8,
                "device": "cpu",
                "tokenize_stages": False,
                "engine_kwargs": {"enforce_eager": True, "dtype": "float32"},
            },
            "ray": {"num_cpus": 4},
            "detect": {"engine": "vllm", "prefilter": "off", "with_preferences": one_call},
            "preferences": {"engine": "vllm"},
        }
    )


def run_path(work: str, name: str, rows: list[dict], model: str, one_call: bool, args) -> dict:
    from tests.modelstage_fixtures import make_run, run_stage
    from wfcore.schema import FEEDBACK, PREFERENCES

    run = make_run(Path(work) / name, rows)
    cfg = config(run.uri, model, one_call, args)
    out: dict = {"load_before": _load()}
    for stage in ("detect", "preferences"):
        t = time.perf_counter()
        rec = run_stage(stage, run, cfg)
        out[stage] = {
            "wall_s": time.perf_counter() - t,
            **{
                k: rec.get(k)
                for k in (
                    "tokens_in",
                    "tokens_out",
                    "model_requests",
                    "engine_requests",
                    "engine_plans",
                    "engine_first_result_s",
                    "error_rows",
                    "rows_in",
                    "rows_out",
                    "rejected_by_reason",
                    "inline_preferences",
                    "prompt_version",
                )
            },
        }
    out["feedback"] = {r["turn_id"]: r for r in run.table("feedback").read(FEEDBACK).to_pylist()}
    out["preferences_rows"] = {
        r["turn_id"]: r for r in run.table("preferences").read(PREFERENCES).to_pylist()
    }
    out["detect_max_tokens"] = cfg.detect.sampling.max_tokens
    out["load_after"] = _load()
    return out


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def label(row: dict) -> tuple[bool, bool] | None:
    return None if row["error"] else (bool(row["sat"]), bool(row["dsat"]))


def silver_label(lab: tuple[bool, bool] | None) -> str:
    """The label as the silver set names it (DSAT when both, as the preferences stage's signal)."""
    if lab is None or not any(lab):
        return "neutral"
    return "DSAT" if lab[1] else "SAT"


def agreement(two: dict, one: dict, gold: dict[str, str]) -> dict:
    both = [t for t in two if label(two[t]) is not None and label(one[t]) is not None]
    same = sum(label(two[t]) == label(one[t]) for t in both)
    same_signal = sum(silver_label(label(two[t])) == silver_label(label(one[t])) for t in both)
    return {
        "turns": len(two),
        "both_valid": len(both),
        "same_label": same,
        "same_label_share": same / len(both) if both else None,
        "same_signal": same_signal,
        "same_signal_share": same_signal / len(both) if both else None,
        "silver_match_two_call": sum(silver_label(label(r)) == gold[t] for t, r in two.items())
        / len(two),
        "silver_match_one_call": sum(silver_label(label(r)) == gold[t] for t, r in one.items())
        / len(one),
        "labels_two_call": _label_counts(two),
        "labels_one_call": _label_counts(one),
    }


def _label_counts(rows: dict) -> dict:
    out: dict[str, int] = {}
    for r in rows.values():
        lab = label(r)
        key = (
            "error"
            if lab is None
            else {(0, 0): "none", (1, 0): "SAT", (0, 1): "DSAT", (1, 1): "both"}[
                tuple(map(int, lab))
            ]
        )
        out[key] = out.get(key, 0) + 1
    return out


def figures(path: dict, turns: int) -> dict:
    d, p = path["detect"], path["preferences"]
    prompt = d["tokens_in"] + p["tokens_in"]
    output = d["tokens_out"] + p["tokens_out"]
    wall = d["wall_s"] + p["wall_s"]
    return {
        "detect prompt tokens": d["tokens_in"],
        "detect output tokens": d["tokens_out"],
        "preferences prompt tokens": p["tokens_in"],
        "preferences output tokens": p["tokens_out"],
        "prompt tokens / turn": prompt / turns,
        "output tokens / turn": output / turns,
        "prompt + output tokens / turn": (prompt + output) / turns,
        "model requests (detect + preferences)": d["model_requests"] + p["model_requests"],
        "engine starts (plans, retries incl.)": d["engine_plans"] + p["engine_plans"],
        "detect stage wall s": d["wall_s"],
        "preferences stage wall s": p["wall_s"],
        "wall s / turn": wall / turns,
        "turns with a signal (preferences rows)": p["rows_out"],
        "preferences error rows": p["error_rows"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument(
        "--model",
        default="smollm2",
        help="smollm2 (real 135M instruct model), random, or a model folder",
    )
    ap.add_argument(
        "--limit", type=int, default=60, help="silver turns, stratified by label (0: all 572)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()

    from detector_quality import llm_rubric_turn_rows, load_llm_rubric, silver_slice

    from tests.tinymodel import apply_engine_env

    apply_engine_env()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = tempfile.mkdtemp(prefix="wf-detect-prefs-")
    if args.model == "smollm2":
        from tests.realmodel import smollm2_dir

        model = smollm2_dir()
    elif args.model == "random":
        from tests.tinymodel import build_tiny_model

        model = build_tiny_model(os.path.join(work, "model"))
    else:
        model = args.model
    turns, _ = load_llm_rubric(args.data / "llm_rubric")
    picked = silver_slice(turns, args.limit, args.seed)
    rows = llm_rubric_turn_rows(picked)
    gold = {row["turn_id"]: t["gold"] for row, t in zip(rows, picked, strict=True)}
    print(
        f"model {model}; {len(rows)} LLM-Rubric turns (silver: "
        + ", ".join(f"{k} {sum(g == k for g in gold.values())}" for k in ("SAT", "DSAT", "neutral"))
        + f"); load avg {_load()}",
        flush=True,
    )

    import ray

    from jobs.rayrt import init_ray

    init_ray(config(os.path.join(work, "x"), model, False, args).ray)
    try:
        t0 = time.perf_counter()
        two = run_path(work, "two-call", rows, model, False, args)
        print(
            f"two-call path done in {time.perf_counter() - t0:.0f}s, load avg {_load()}", flush=True
        )
        t0 = time.perf_counter()
        one = run_path(work, "one-call", rows, model, True, args)
        print(
            f"one-call path done in {time.perf_counter() - t0:.0f}s, load avg {_load()}", flush=True
        )
    finally:
        ray.shutdown()

    n = len(rows)
    f_two, f_one = figures(two, n), figures(one, n)
    print()
    print(
        f"{'per path (' + str(n) + ' candidate turns)':<42}{'two-call (baseline)':>20}{'one-call':>12}{'one/two':>9}"
    )
    for key in f_two:
        a, b = f_two[key], f_one[key]
        ratio = f"{b / a:.2f}" if a else "-"
        fmt = (
            (lambda v: f"{v:,.1f}")
            if isinstance(a, float) or isinstance(b, float)
            else (lambda v: f"{v:,}")
        )
        print(f"{key:<42}{fmt(a):>20}{fmt(b):>12}{ratio:>9}")
    inline = one["preferences"]["inline_preferences"]
    print(
        f"one-call preferences: {inline['from_detect']} from the detect answer, {inline['fallback']} fell back "
        f"to a preferences call {inline['fallback_by_reason'] or ''}; detect max_tokens {two['detect_max_tokens']} "
        f"(two-call) vs {one['detect_max_tokens']} (one-call)"
    )
    agree = agreement(two["feedback"], one["feedback"], gold)
    print()
    print(
        f"signals: {agree['same_label']} of {agree['both_valid']} turns valid on both paths have the same (SAT, DSAT) "
        f"label ({agree['same_label_share']:.3f}); same signal as the preferences stage takes it (DSAT when both, "
        f"else SAT, else none): {agree['same_signal_share']:.3f}"
    )
    print(f"labels two-call {agree['labels_two_call']}; one-call {agree['labels_one_call']}")
    print(
        f"matches the silver label (SAT/DSAT/neutral; silver = an LLM annotator's): two-call "
        f"{agree['silver_match_two_call']:.3f}, one-call {agree['silver_match_one_call']:.3f}"
    )
    if args.model == "smollm2":
        print(
            "a 135M model's labels are near chance: agreement here says little about a capable model's"
        )
    print(f"load avg {two['load_before']} -> {one['load_after']}")
    if args.json_out:
        for path in (two, one):
            path.pop("feedback")
            path.pop("preferences_rows")
        with open(args.json_out, "w") as f:
            json.dump(
                {
                    "model": model,
                    "turns": n,
                    "two_call": two,
                    "one_call": one,
                    "figures_two_call": f_two,
                    "figures_one_call": f_one,
                    "agreement": agree,
                    "args": {k: str(v) for k, v in vars(args).items()},
                },
                f,
                indent=2,
                default=str,
            )


if __name__ == "__main__":
    main()
