"""Throughput of the Spark prepare stage: conversations per second per core, and its growth.

Generates synthetic conversations (the dedup-quality generator: Zipf-like words, planted
near-duplicate families), commits them as a run's ``conversations`` table, runs the whole
prepare stage (filters, exact + near dedup, PII scrub, turns, sharded writes) on ``local[*]``
and reports wall time per size and the time growth between the smallest and largest size
(target: no worse than linear x 1.2).

    python benchmarks/prepare.py [--sizes 100000,1000000] [--cores N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def commit_corpus(run_dir: str, n: int, part_rows: int = 50_000) -> None:
    from dedup_quality import make_corpus

    from wfcore import schema as S
    from wfcore.run import RunDir
    from wfcore.storage import write_parquet_atomic

    ds = RunDir(run_dir).table("conversations")
    attempt = ds.new_attempt()
    files = []
    for k, start in enumerate(range(0, n, part_rows)):
        m = min(part_rows, n - start)
        convs = make_corpus(m, seed=k)
        for c in convs:
            c["conversation_id"] = f"p{k:04d}-{c['conversation_id']}"
        rel = f"{attempt}/part-{k:05d}.parquet"
        write_parquet_atomic(os.path.join(ds.uri, rel), S.to_table(convs, S.CONVERSATIONS))
        files.append(rel)
    ds.commit(files, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated corpus sizes")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="local[N] cores")
    ap.add_argument("--shuffle-partitions", type=int, default=None)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from jobs import prepare
    from jobs.spark import get_spark
    from wfcore.config import PrepareConfig, SparkConfig
    from wfcore.run import RunDir

    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("WF_BENCH_TMP")) as tmp:
            t0 = time.time()
            commit_corpus(tmp, n)
            t_gen = time.time() - t0
            parts = args.shuffle_partitions or max(4, min(400, n // 25_000))
            cfg = PrepareConfig(
                spark=SparkConfig(
                    master=f"local[{args.cores}]",
                    shuffle_partitions=parts,
                    conf={"spark.ui.showConsoleProgress": "false"},
                )
            )
            spark = get_spark(cfg.spark, "prepare-bench")
            rd = RunDir(tmp)
            out = {t: rd.table(t) for t in ("prepared", "dropped", "turns")}
            load0 = os.getloadavg()[0]
            t0 = time.time()
            res = prepare.prepare(spark, rd.table("conversations").files(), cfg, out, "bench")
            wall = time.time() - t0
            spark.stop()
            results.append((n, wall, res, t_gen))
            load = f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f} (shared machine)"
            print(f"n={n:,}: {wall:.1f}s (generated in {t_gen:.1f}s), {load}, phases {res['phase_seconds']}", flush=True)

    print()
    print(f"local[{args.cores}] on {os.cpu_count()} cores")
    print("| conversations | wall s | conv/s | conv/s/core | kept | turns | shards | near-dup dropped |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, wall, res, _ in results:
        rate = n / wall
        print(
            f"| {n:,} | {wall:.1f} | {rate:,.0f} | {rate / args.cores:,.0f} | {res['rows_out']:,} | "
            f"{res['turns']:,} | {res['shards']} | {res['dropped_by_reason'].get('near_duplicate', 0):,} |"
        )
    if len(results) >= 2:
        (n0, w0, *_), (n1, w1, *_) = results[0], results[-1]
        ratio = (w1 / w0) / (n1 / n0)
        print(f"\ntime grew {w1 / w0:.2f}x for {n1 / n0:.0f}x the data: {ratio:.2f}x linear (target <= 1.2)")


if __name__ == "__main__":
    main()
