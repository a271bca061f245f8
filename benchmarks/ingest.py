"""Ingest throughput and peak memory on synthetic WildChat corpora of growing size.

    python benchmarks/ingest.py [--sizes 100000,1000000] [--cache DIR] [--json OUT]

Each corpus (WildChat Parquet layout, 50k-row shards, wfcore.synth) is generated once into the
cache folder and reused. Ingest runs in a fresh subprocess per size (``wildfeedback ingest``), so
its peak RSS (``RUSAGE_CHILDREN``) is the ingest's own. Memory is bounded when the peak RSS ratio
between the largest and the smallest corpus stays near 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SEED = 1
SHARD_ROWS = 50_000


def corpus(cache: str, n: int) -> tuple[str, float | None]:
    """The cached corpus folder for ``n`` conversations (generated if missing); seconds spent generating."""
    from wfcore import synth

    folder = os.path.join(cache, f"wildchat-{n}-seed{SEED}-shard{SHARD_ROWS}")
    if os.path.exists(os.path.join(folder, "_synth.json")):  # written last: the corpus is complete
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    synth.generate(n, SEED, folder, "wildchat", shard_rows=SHARD_ROWS)
    return folder, time.perf_counter() - t0


# Runs the ingest as its child and reports that child's rusage: a fresh process, so the peak RSS
# is the ingest's alone (the largest process of its tree: driver or a file worker).
_MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": u.ru_utime + u.ru_stime, "peak_rss_mb": u.ru_maxrss / 1024}))
"""


def run_ingest(folder: str, run_dir: str, workers: int) -> dict:
    """One ``wildfeedback ingest`` in a child process: wall time, CPU time, peak RSS, manifest counts."""
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "jobs.cli", "ingest", "--input", folder, "--run", run_dir]
    if workers:
        cmd += ["--set", f"ingest.workers={workers}"]
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    with open(os.path.join(run_dir, "manifest.json")) as f:
        stage = json.load(f)["stages"]["ingest"]
    return {**res, "rows_in": stage["rows_in"], "rows_out": stage["rows_out"],
            "rows_rejected": stage["rows_rejected"], "workers": stage.get("workers")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="Comma-separated corpus sizes (conversations).")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "wildfeedback-bench"),
                   help="Folder for the generated corpora (reused when present).")
    p.add_argument("--workers", type=int, default=0, help="ingest.workers (0: one per core).")
    p.add_argument("--json", default=None, metavar="OUT", help="Also write the results as JSON here.")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cores = os.cpu_count() or 1
    results = []
    for n in sizes:
        folder, gen_s = corpus(args.cache, n)
        res = run_ingest(folder, os.path.join(args.cache, f"run-{n}"), args.workers)
        workers = res["workers"] or 1
        res.update(conversations=n, generate_s=gen_s, conv_per_s=res["rows_in"] / res["wall_s"],
                   conv_per_s_per_core=res["rows_in"] / res["wall_s"] / min(workers, cores),
                   conv_per_cpu_s=res["rows_in"] / res["cpu_s"] if res["cpu_s"] else None,
                   load_avg=os.getloadavg())
        results.append(res)
        print(f"done {n}: {res['wall_s']:.1f} s", file=sys.stderr, flush=True)
    base = results[0]["peak_rss_mb"] if results else 0
    print(f"{'conversations':>13} {'wall s':>8} {'conv/s':>8} {'conv/s/core':>11} {'conv/cpu-s':>10} "
          f"{'peak RSS MB':>11} {'RSS ratio':>9} {'rejected':>8} {'workers':>7} {'load 1m':>7}")
    for r in results:
        r["rss_ratio"] = r["peak_rss_mb"] / base if base else None
        print(f"{r['conversations']:>13,} {r['wall_s']:>8.1f} {r['conv_per_s']:>8,.0f} {r['conv_per_s_per_core']:>11,.0f} "
              f"{r['conv_per_cpu_s'] or 0:>10,.0f} {r['peak_rss_mb']:>11.0f} {r['rss_ratio']:>9.2f} "
              f"{r['rows_rejected']:>8,} {r['workers']:>7} {r['load_avg'][0]:>7.1f}")
    print(f"cores: {cores}; load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": cores, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
