"""Assemble throughput: pairs/s and scaling with the number of candidate turns.

Builds a synthetic run per size (prepared conversations, candidate turns, lexical-style feedback,
generated responses for a share of DSAT turns), runs the real Spark assemble stage on it and
prints a table. Not a test.

    .venv/bin/python benchmarks/assemble.py                      # 100k, 300k, 1M candidate turns
    .venv/bin/python benchmarks/assemble.py --sizes 20000,100000 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow as pa  # noqa: E402

from wfcore import ids, schema  # noqa: E402
from wfcore.run import RunDir  # noqa: E402

TURNS_PER_CONV = 2  # user turns at k = 2 and k = 4 of a 6-message conversation


def synth_run(root: str, n_turns: int, seed: int = 0, chunk: int = 50_000) -> RunDir:
    """A run with ``n_turns`` candidate turns: ~30% DSAT, ~20% SAT; responses for half the DSAT."""
    rng = random.Random(seed)
    run = RunDir(root)
    n_conv = n_turns // TURNS_PER_CONV
    tables: dict[str, list[pa.Table]] = {k: [] for k in ("prepared", "turns", "feedback", "responses")}
    for lo in range(0, n_conv, chunk):
        prepared, turns, feedback, responses = [], [], [], []
        for c in range(lo, min(lo + chunk, n_conv)):
            cid = f"c{c:08d}"
            cluster = f"k{c // 3:08d}"
            words = " ".join(rng.choice(("alpha", "beta", "gamma", "delta", "rain", "tide")) for _ in range(12))
            m = [
                {"role": "user", "content": f"request {c}: {words}"},
                {"role": "assistant", "content": f"first answer {c} {words}"},
                {"role": "user", "content": "no, that's wrong, try again"},
                {"role": "assistant", "content": f"revised answer {c} {words[::-1]}"},
                {"role": "user", "content": "thanks, that works"},
                {"role": "assistant", "content": f"you're welcome {c}"},
            ]
            prepared.append({"conversation_id": cid, "source": "bench", "messages": m, "model": "gpt-x",
                             "moderation_flagged": False, "cluster_id": cluster, "shard": 0})
            for k in (2, 4):
                tid = ids.turn_id(cid, k)
                turns.append({"turn_id": tid, "conversation_id": cid, "message_index": k, "history": m[: k - 1],
                              "response": m[k - 1]["content"], "user_message": m[k]["content"], "source": "bench",
                              "model": "gpt-x", "cluster_id": cluster, "moderation_flagged": False, "shard": 0})
                r = rng.random()
                sig = "DSAT" if r < 0.3 else "SAT" if r < 0.5 else None
                feedback.append({"turn_id": tid, "conversation_id": cid, "message_index": k, "sat": sig == "SAT",
                                 "dsat": sig == "DSAT", "sat_categories": ["Gratitude"] if sig == "SAT" else [],
                                 "dsat_categories": ["Revision"] if sig == "DSAT" else [], "detector": "lexical",
                                 "prompt_version": "lexical-1", "shard": 0})
                if sig == "DSAT" and rng.random() < 0.5:
                    responses.append({"turn_id": tid, "conversation_id": cid, "message_index": k, "variant": "preferred",
                                      "response": f"generated {c} {k} {words}", "finish_reason": "stop",
                                      "model": "writer", "prompt_version": "respond-1", "shard": 0})
        for name, rows in (("prepared", prepared), ("turns", turns), ("feedback", feedback), ("responses", responses)):
            tables[name].append(schema.to_table(rows, schema.TABLES[name]))
    for name, parts in tables.items():
        ds = run.table(name)
        attempt = ds.new_attempt()
        files = []
        for i, t in enumerate(parts):
            rel = f"{attempt}/part-{i:05d}.parquet"
            from wfcore.storage import join, write_parquet_atomic

            write_parquet_atomic(join(ds.uri, rel), t)
            files.append(rel)
        ds.commit(files, sum(t.num_rows for t in parts))
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,300000,1000000", help="candidate turns per run, comma-separated")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--workdir", default=None, help="where the synthetic runs go (default: a temp dir, removed)")
    args = ap.parse_args()

    from jobs import assemble
    from jobs.context import StageContext
    from jobs.pipeline import _check_accounting
    from jobs.spark import get_spark
    from wfcore.config import Config

    base = args.workdir or tempfile.mkdtemp(prefix="wf-bench-assemble-")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    spark_cfg = Config().prepare.spark.model_copy(update={"master": args.master, "shuffle_partitions": args.shuffle_partitions})
    t = time.time()
    get_spark(spark_cfg)
    print(f"spark session: {time.time() - t:.1f}s ({args.master}, {os.cpu_count()} cores)", file=sys.stderr)
    rows = []
    try:
        for n in [min(2_000, sizes[0])] + sizes:  # the first run warms up the JVM and Python workers
            root = os.path.join(base, f"run-{n}")
            run = synth_run(root, n)
            cfg = Config(run=root)
            cfg.prepare.spark = spark_cfg
            ctx = StageContext(name="assemble", run=run, cfg=cfg, fingerprint=f"bench-{n}")
            ctx.record = {"rows_in": 0, "rows_out": 0, "rows_rejected": 0, "rejected_by_reason": {}}
            t = time.time()
            assemble.run(ctx)
            wall = time.time() - t
            _check_accounting("assemble", ctx.record)
            rows.append((n, ctx.record["rows_in"], ctx.record["rows_out"], wall, ctx.record["export_seconds"]))
            shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)

    print(f"\nassemble ({args.master}, shuffle partitions {args.shuffle_partitions}, {os.cpu_count()} cores)")
    print(f"{'turns':>10} {'candidates':>11} {'pairs':>9} {'seconds':>9} {'turns/s':>9} {'pairs/s':>9} {'time x':>7} {'size x':>7} {'export s':>9}")
    rows = rows[1:]
    for n, cin, out, wall, exp_s in rows:
        print(f"{n:>10,} {cin:>11,} {out:>9,} {wall:>9.1f} {n / wall:>9,.0f} {out / wall:>9,.0f} "
              f"{wall / rows[0][3]:>7.2f} {n / rows[0][0]:>7.1f} {exp_s:>9.1f}")
    print("(seconds: the whole stage incl. exports (export s); synthetic input generation not included)")


if __name__ == "__main__":
    main()
