"""Running on a cluster, as a user does: `ray job submit` to a real Ray head (Jobs CLI), on local
disk and on object storage (moto on 127.0.0.1, credentials only in the environment), stopped and
resubmitted; and both Spark stages on a real Spark Connect server. Every run is compared with a
local `wildfeedback run` of the same synthetic input (``local_run``).

One Ray head for the module, with ports, temp dir and auth token of its own (tests/rayhead.py);
it is stopped by its own pids, never with a machine-wide `ray stop`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import boto3
import pytest

from wfcore.run import STAGES, RunDir

from .rayhead import RayHead, ray_cli
from .wf import TEST_ENV, pair_rows, wf

pytestmark = [pytest.mark.ray, pytest.mark.spark]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = ("--conversations", "80", "--seed", "7")
RUN_ARGS = ("--set", "prepare.shard_turns=40")  # several shards per model stage
CANARY = "wf-canary-secret-2f9c41"  # the submitting environment's secret key: must leak nowhere


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "wildchat"
    wf("synth", *CORPUS, "--output", out)
    return str(out)


@pytest.fixture(scope="module")
def local_run(corpus, tmp_path_factory):
    """The reference: `wildfeedback run` in this process's environment, local[*] Spark."""
    run = tmp_path_factory.mktemp("runs") / "local"
    wf("run", "--input", corpus, "--run", run, *RUN_ARGS)
    return str(run)


@pytest.fixture(scope="module")
def head(s3_server):
    """A Ray head started from this environment (the venv's `ray`), so its jobs run the venv's
    Python; its environment holds the object-storage endpoint and credentials (a cluster's
    nodes get them from their role or env), the secret key being the canary."""
    env = {**os.environ, **TEST_ENV, "AWS_SECRET_ACCESS_KEY": CANARY}
    h = RayHead(env)
    try:
        yield h
    finally:
        h.stop()
        assert not h.pids(), "processes of the test's Ray head survived its stop"


def submit(head: RayHead, *args: str, wait: bool = True) -> str:
    """`ray job submit` of `wildfeedback ...` from the repository root; returns the job id."""
    res = ray_cli(
        "job", "submit", "--address", head.address, "--working-dir", ".",
        "--runtime-env", "cluster/runtime_env.yaml", *([] if wait else ["--no-wait"]),
        "--", *args, env=head.env, cwd=ROOT, timeout=600,
    )
    out = res.stdout + res.stderr
    job_id = re.search(r"Job '(raysubmit_\w+)' submitted successfully", out).group(1)
    if wait:
        assert f"Job '{job_id}' succeeded" in out, out[-4000:]
    return job_id


def job_status(head: RayHead, job_id: str) -> str:
    res = ray_cli("job", "status", "--address", head.address, job_id, env=head.env)
    out = res.stdout + res.stderr
    # `ray job status` words the final states (succeeded / was stopped / failed) and prints
    # "Status for job 'ID': STATE" only for the others
    final = {"succeeded": "SUCCEEDED", "was stopped": "STOPPED", "failed": "FAILED"}
    for words, state in final.items():
        if re.search(rf"Job '{job_id}' {words}", out):
            return state
    found = re.search(r"Status for job '\w+': (\w+)", out)
    assert found, out
    return found.group(1)


def job_logs(head: RayHead, job_id: str) -> str:
    return ray_cli("job", "logs", "--address", head.address, job_id, env=head.env).stdout


def assert_same_run(run: str, ref: str) -> None:
    """Same stages, fingerprints, counts and pairs as the reference run."""
    got, want = RunDir(run).manifest()["stages"], RunDir(ref).manifest()["stages"]
    assert set(got) == set(want) == set(STAGES)
    for s in STAGES:
        assert got[s]["status"] == "done", s
        for k in ("fingerprint", "rows_in", "rows_out", "rows_rejected", "rejected_by_reason"):
            assert got[s][k] == want[s][k], (s, k)
    for t in ("conversations", "prepared", "dropped", "turns", "feedback", "preferences", "pairs", "sft"):
        assert RunDir(run).table(t).num_rows() == RunDir(ref).table(t).num_rows(), t
    assert pair_rows(run) == pair_rows(ref)
    assert pair_rows(ref), "the reference run has pairs"


# ---------------------------------------------------------------- ray job submit


def test_a_job_runs_the_venv_python_on_the_uploaded_code_without_the_excluded_folders(head):
    probe = "import jobs, os, sys; print('PROBE', sys.executable, jobs.__file__, sorted(os.listdir('.')))"
    job_id = submit(head, "python", "-c", probe)  # the Jobs CLI shell-quotes each argument
    line = next(ln for ln in job_logs(head, job_id).splitlines() if ln.startswith("PROBE"))
    _, exe, jobs_file, listing = line.split(" ", 3)
    assert os.path.realpath(exe) == os.path.realpath(sys.executable)
    assert jobs_file.startswith(head.temp_dir), "the job imports the uploaded working dir, not an install"
    top = set(eval(listing))  # noqa: S307 - a list literal printed by the probe
    assert {"jobs", "wfcore", "pyproject.toml"} <= top
    assert not top & {".venv", ".git", "runs", "tests", "benchmarks", "notebooks", "__pycache__"}


def test_submitted_run_matches_a_local_run_and_its_logs_show_every_stage(head, corpus, local_run, tmp_path):
    run = str(tmp_path / "job")
    job_id = submit(head, "wildfeedback", "run", "--input", corpus, "--run", run, *RUN_ARGS)
    assert job_status(head, job_id) == "SUCCEEDED"
    assert_same_run(run, local_run)
    logs = job_logs(head, job_id)
    for s in STAGES:
        assert f"[{s}] done:" in logs, s
    assert re.search(r"\[detect\]\s+shards 4/4", logs), "per-shard progress reaches the job log"
    assert f"run {run}:" in logs and "pairs" in logs


def test_a_stopped_job_resubmitted_skips_committed_stages_and_ends_with_the_same_pairs(head, corpus, local_run, tmp_path):
    run = str(tmp_path / "stopped")
    rd = RunDir(run)
    job_id = submit(head, "wildfeedback", "run", "--input", corpus, "--run", run, *RUN_ARGS, wait=False)
    deadline = time.time() + 300
    while rd.stage("prepare").get("status") != "running":
        assert time.time() < deadline, f"prepare never started: {job_logs(head, job_id)[-3000:]}"
        assert job_status(head, job_id) in ("PENDING", "RUNNING"), job_logs(head, job_id)[-3000:]
        time.sleep(0.3)
    time.sleep(2)  # inside the Spark job
    ray_cli("job", "stop", "--address", head.address, job_id, env=head.env, timeout=120)
    assert job_status(head, job_id) == "STOPPED"
    assert rd.stage("ingest")["status"] == "done"
    assert rd.stage("prepare")["status"] == "running", "the stop must land inside prepare"
    assert not rd.table("turns").is_committed(), "a stopped Spark stage leaves nothing that looks whole"
    ingest = rd.stage("ingest")

    rerun = submit(head, "wildfeedback", "run", "--input", corpus, "--run", run, *RUN_ARGS)
    logs = job_logs(head, rerun)
    assert "[ingest] committed with the same inputs and config: skipped" in logs
    assert rd.stage("ingest")["started_at"] == ingest["started_at"], "committed ingest is not recomputed"
    assert_same_run(run, local_run)

    again = job_logs(head, submit(head, "wildfeedback", "run", "--input", corpus, "--run", run, *RUN_ARGS))
    assert again.count("committed with the same inputs and config: skipped") == len(STAGES)
    assert_same_run(run, local_run)


def test_submitted_run_on_object_storage_gets_credentials_only_from_the_environment(head, local_run, s3_server):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="wf-cluster")
    wf("synth", *CORPUS, "--output", "s3://wf-cluster/corpus", env={"AWS_SECRET_ACCESS_KEY": CANARY})
    run = "s3://wf-cluster/runs/r1"
    job_id = submit(head, "wildfeedback", "run", "--config", "object-storage", "--input", "s3://wf-cluster/corpus",
                    "--run", run, *RUN_ARGS)
    assert job_status(head, job_id) == "SUCCEEDED"
    stages = RunDir(run).manifest()["stages"]
    ref = RunDir(local_run).manifest()["stages"]
    for s in STAGES:
        assert stages[s]["status"] == "done", s
        assert (stages[s]["rows_in"], stages[s]["rows_out"]) == (ref[s]["rows_in"], ref[s]["rows_out"]), s
    assert pair_rows(run) == pair_rows(local_run), "object storage under a job changes nothing in the output"

    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="wf-cluster", Prefix="runs/r1/")
            for o in page.get("Contents", [])]
    assert any(k.startswith("runs/r1/export/trl/") for k in keys) and "runs/r1/manifest.json" in keys
    for k in keys:
        body = s3.get_object(Bucket="wf-cluster", Key=k)["Body"].read()
        assert CANARY.encode() not in body, f"credential leaked into {k}"
    assert CANARY not in job_logs(head, job_id)
    for root, _, names in os.walk(head.temp_dir):  # the head's own logs, job driver logs included
        for n in names:
            path = os.path.join(root, n)
            if os.path.isfile(path) and not os.path.islink(path) and n != "auth_token":
                with open(path, "rb") as fh:
                    assert CANARY.encode() not in fh.read(), f"credential leaked into {path}"


# ---------------------------------------------------------------- Spark Connect


def _table(run: str, name: str, key: str) -> list[dict]:
    rows = RunDir(run).table(name).read().to_pylist()
    return sorted(rows, key=lambda r: (str(r[key]), json.dumps(r, sort_keys=True, default=str)))


def test_both_spark_stages_on_spark_connect_give_the_tables_of_local_spark(connect_server, corpus, local_run, tmp_path):
    run = str(tmp_path / "connect")
    wf("run", "--input", corpus, "--run", run, *RUN_ARGS,
       "--set", f"prepare.spark.master={connect_server}", "--set", f"assemble.spark.master={connect_server}")
    got, want = RunDir(run).manifest()["stages"], RunDir(local_run).manifest()["stages"]
    for s in ("prepare", "assemble"):
        assert got[s]["status"] == "done", s
        for k in ("rows_in", "rows_out", "rejected_by_reason"):
            assert got[s][k] == want[s][k], (s, k)
    for name, key in (("prepared", "conversation_id"), ("dropped", "conversation_id"), ("turns", "turn_id"),
                      ("pairs", "pair_id"), ("sft", "sft_id")):
        assert _table(run, name, key) == _table(local_run, name, key), name
    assert RunDir(run).table("turns").commit_info()["shards"].keys() == RunDir(local_run).table("turns").commit_info()["shards"].keys()


def test_an_error_without_a_message_prints_its_type_and_where_it_was_raised(tmp_path):
    """The Connect failure used to print `error: AssertionError: ` and nothing else."""
    from jobs.cli import error_line

    def fails_silently():
        raise AssertionError()

    try:
        fails_silently()
    except AssertionError as e:
        line = error_line(e)
    assert line.startswith("AssertionError (no message) raised at tests/test_cluster.py:")
    assert line.split(" in ", 1)[1].startswith("fails_silently") and "--verbose" in line
    assert error_line(ValueError("bad value\nmore")) == "ValueError: bad value"
    res = wf("run", "--input", str(tmp_path / "missing"), "--run", str(tmp_path / "r"), check=False)
    assert res.returncode == 2 and res.stderr.strip().startswith("error: ")
