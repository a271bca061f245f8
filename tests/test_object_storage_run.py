"""The embedded default over object storage: input and run directory on a real S3-compatible
server (moto, 127.0.0.1), credentials only in the environment, and the same pairs as a local run."""

from __future__ import annotations

import boto3

from wfcore.run import STAGES, RunDir

from .wf import DEFAULT_CORPUS, pair_rows, wf

SECRET = "wf-dummy-secret-must-not-leak"



def test_default_pipeline_runs_with_input_and_run_dir_on_s3(s3_server, default_run):
    env = {"AWS_SECRET_ACCESS_KEY": SECRET}
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="wf-e2e")
    # the same synth arguments as the local reference run: the same corpus, byte for byte
    wf("synth", *DEFAULT_CORPUS, "--output", "s3://wf-e2e/corpus", env=env)
    run = "s3://wf-e2e/runs/r1"
    wf("run", "--config", "object-storage", "--input", "s3://wf-e2e/corpus", "--run", run, env=env)

    rd = RunDir(run)
    stages = rd.manifest()["stages"]
    for s in STAGES:
        assert stages[s]["status"] == "done", s
        assert stages[s]["rows_in"] == stages[s]["rows_out"] + stages[s]["rows_rejected"], s
    assert rd.table("pairs").num_rows() > 0

    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="wf-e2e", Prefix="runs/r1/")
            for o in page.get("Contents", [])]
    assert any(k.startswith("runs/r1/export/trl/") for k in keys)
    assert "runs/r1/report.html" in keys
    for k in keys:
        if k.endswith((".json", ".jsonl", ".html", ".md")):
            body = s3.get_object(Bucket="wf-e2e", Key=k)["Body"].read().decode("utf-8", "replace")
            assert SECRET not in body, f"credential leaked into {k}"

    assert pair_rows(run) == pair_rows(default_run), "object storage changes nothing in the output"
