"""Run the real `wildfeedback` CLI in a subprocess (what users run)."""

from __future__ import annotations

import os
import subprocess
import sys

TEST_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RAY_DEDUP_LOGS": "0",
    "PYSPARK_PYTHON": sys.executable,
}

def wf(*args: str, timeout: float = 900, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **TEST_ENV, **(env or {})},
    )
    if check and res.returncode != 0:
        raise AssertionError(f"wildfeedback {' '.join(map(str, args))} exited {res.returncode}\n{res.stderr[-4000:]}")
    return res


def popen(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **TEST_ENV, **(env or {})},
        start_new_session=True,
    )


def pair_rows(run) -> list[tuple]:
    """A run's pairs as sorted (pair_id, chosen, rejected, split, pair_type) tuples, for comparing runs."""
    from wfcore.run import RunDir
    from wfcore.schema import PAIRS

    t = RunDir(str(run)).table("pairs").read(PAIRS)
    cols = ("pair_id", "chosen", "rejected", "split", "pair_type")
    return sorted(zip(*(t.column(c).to_pylist() for c in cols), strict=True))
