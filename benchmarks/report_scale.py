"""How long the run report takes as a run grows (it is rebuilt at the end of every run).

    .venv/bin/python benchmarks/report_scale.py [--pairs 10000,100000,400000]

Builds a synthetic run directory per size with pyarrow alone (no Spark, no Ray): conversations
and prepared (2 conversations per pair, 6 messages each), 2 candidate turns per conversation
with feedback labels, the pairs, 5% of conversations dropped as near duplicates; then times
``build_report`` and the HTML rendering and prints a table (seconds, peak RSS, page size).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.report import build_report, render_html  # noqa: E402
from wfcore.config import load_config  # noqa: E402
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES  # noqa: E402
from wfcore.run import RunDir  # noqa: E402
from wfcore.schema import (  # noqa: E402
    CONVERSATIONS,
    DROPPED,
    FEEDBACK,
    PAIRS,
    PREPARED,
    TURNS,
    to_table,
)

WORDS = "the a report pair user model answer shorter again wrong thanks please code explain more".split()
LANGS = ["English"] * 8 + ["Spanish", "Chinese"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def build_run(root: str, n_pairs: int, seed: int = 0, part_rows: int = 50_000) -> RunDir:
    rng = random.Random(seed)
    rd = RunDir(root)
    n_conv = 2 * n_pairs
    dsat = list(DSAT_CATEGORIES)
    sat = list(SAT_CATEGORIES)

    def write(name: str, schema, make, n: int) -> None:
        ds = rd.table(name)
        attempt = ds.new_attempt()
        files = []
        for start in range(0, n, part_rows):
            rows = [make(i) for i in range(start, min(n, start + part_rows))]
            rel = f"{attempt}/part-{start // part_rows:05d}.parquet"
            from wfcore.storage import join, write_parquet_atomic

            write_parquet_atomic(join(ds.uri, rel), to_table(rows, schema))
            files.append(rel)
        ds.commit(files, n)

    def messages(i: int) -> list[dict]:
        return [
            {"role": "user" if k % 2 == 0 else "assistant", "content": _text(rng, 30)}
            for k in range(6)
        ]

    def conv(i: int) -> dict:
        return {
            "conversation_id": f"c{i:08d}",
            "source": "openai",
            "messages": messages(i),
            "language": rng.choice(LANGS),
            "locator": f"in.jsonl:{i + 1}",
        }

    write("conversations", CONVERSATIONS, conv, n_conv)
    write(
        "prepared", PREPARED, lambda i: {**conv(i), "cluster_id": f"c{i:08d}", "shard": 0}, n_conv
    )
    write(
        "dropped",
        DROPPED,
        lambda i: {
            "conversation_id": f"d{i:08d}",
            "reason": "near_duplicate",
            "kept_as": f"c{rng.randrange(n_conv):08d}",
        },
        n_conv // 20,
    )

    def turn(i: int) -> dict:
        c = i // 2
        return {
            "turn_id": f"t{i:09d}",
            "conversation_id": f"c{c:08d}",
            "message_index": 2 + 2 * (i % 2),
            "history": [{"role": "user", "content": _text(rng, 20)}],
            "response": _text(rng, 40),
            "user_message": "no that is wrong, " + _text(rng, 8),
            "shard": 0,
        }

    write("turns", TURNS, turn, 2 * n_conv)

    def feedback(i: int) -> dict:
        c = i // 2
        d = rng.random() < 0.4
        s = not d and rng.random() < 0.2
        return {
            "turn_id": f"t{i:09d}",
            "conversation_id": f"c{c:08d}",
            "message_index": 2 + 2 * (i % 2),
            "sat": s,
            "dsat": d,
            "sat_categories": [rng.choice(sat)] if s else [],
            "dsat_categories": [rng.choice(dsat)] if d else [],
            "evidence": "that is wrong" if d else "",
            "detector": "lexical",
            "shard": 0,
        }

    write("feedback", FEEDBACK, feedback, 2 * n_conv)

    def pair(i: int) -> dict:
        c = 2 * i
        return {
            "pair_id": f"p{i:09d}",
            "conversation_id": f"c{c:08d}",
            "message_index": 2,
            "prompt": messages(c)[:3],
            "chosen": _text(rng, rng.randint(20, 80)),
            "rejected": _text(rng, rng.randint(20, 80)),
            "pair_type": "harvested",
            "signal": "DSAT",
            "categories": [rng.choice(dsat)],
            "preferences": ["Be correct"],
            "split": "train",
            "tokens": "{}",
        }

    write("pairs", PAIRS, pair, n_pairs)
    rd.write_manifest({"stages": {}, "config": {}})
    return rd


def measure(run: str) -> dict:
    """build_report + render_html on ``run`` (in a fresh process: its peak RSS is the report's)."""
    cfg = load_config("default", [])
    rd = RunDir(run)
    t0 = time.perf_counter()
    rep = build_report(rd, cfg)
    t1 = time.perf_counter()
    page = render_html(rep)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"build_s": t1 - t0, "render_s": t2 - t1, "rss_mb": rss, "html_kb": len(page) / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", default="10000,100000,400000")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    print(
        f"{'pairs':>9} {'turns':>10} {'build s':>8} {'render s':>9} {'peak RSS MB':>12} {'html KB':>8}"
    )
    for n in (int(x) for x in args.pairs.split(",")):
        with tempfile.TemporaryDirectory(prefix="wf-report-bench-") as tmp:
            build_run(tmp, n)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", tmp],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            m = json.loads(out.strip().splitlines()[-1])
            print(
                f"{n:>9,} {4 * n:>10,} {m['build_s']:>8.1f} {m['render_s']:>9.2f} {m['rss_mb']:>12.0f} "
                f"{m['html_kb']:>8.0f}"
            )
    print(
        "(synthetic run: 2 conversations of 6 messages per pair, 2 candidate turns per conversation; "
        "peak RSS of the process that builds and renders the report)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
