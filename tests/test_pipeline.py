"""End to end: `wildfeedback run` with the embedded default on a synthetic corpus, on local disk and
on object storage (a real S3-compatible server, moto on 127.0.0.1, credentials only in the
environment), killed and resumed. One file, so its shared run (``default_run``) is built once
per test worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import boto3
import pytest

from wfcore.run import STAGES, RunDir
from wfcore.schema import PAIRS

from .wf import pair_rows, popen, wf

# `wildfeedback synth` arguments of the end-to-end corpus, local and on S3
DEFAULT_CORPUS = ("--conversations", "400", "--seed", "7")


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory):
    """A synthetic WildChat-style corpus (with malformed records), written by `wildfeedback synth`."""
    out = tmp_path_factory.mktemp("corpus") / "wildchat"
    wf("synth", *DEFAULT_CORPUS, "--output", out)
    return out


@pytest.fixture(scope="module")
def default_run(default_corpus, tmp_path_factory):
    """`wildfeedback run` with the embedded default over ``default_corpus`` (local run directory);
    the reference that resumed and object-storage runs are compared with."""
    run = tmp_path_factory.mktemp("runs") / "default"
    res = wf("run", "--input", default_corpus, "--run", run)
    assert "pairs" in res.stdout
    return run


def test_every_stage_accounts_for_every_row(default_run):
    stages = RunDir(default_run).manifest()["stages"]
    assert set(stages) == set(STAGES)
    for name, rec in stages.items():
        assert rec["status"] == "done", name
        assert rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"], name
        assert sum(rec["rejected_by_reason"].values()) == rec["rows_rejected"], name
    assert stages["ingest"]["rows_out"] == stages["prepare"]["rows_in"]
    assert stages["ingest"]["rows_rejected"] > 0, "the synthetic corpus plants malformed records"


def test_funnel_adds_up_and_harvested_pairs_exist(default_run):
    rd = RunDir(default_run)
    rep = json.loads(open(rd.path("report.json")).read())
    f = rep["funnel"]
    assert f["conversations_read"] == f["conversations_accepted"] + f["conversations_rejected"]
    assert f["conversations_kept"] <= f["conversations_accepted"]
    assert f["candidate_turns"] == rd.table("feedback").num_rows()
    assert 0 < f["feedback_turns"] <= f["candidate_turns"]
    assert f["pairs_by_type"].get("harvested", 0) > 0
    assert f["train"] + f["test"] == f["pairs"] > 0
    assert f["candidate_pairs"] == f["pairs"] + sum(f["pairs_dropped_by_filter"].values())
    html = open(rd.path("report.html"), encoding="utf-8").read()
    assert "<svg" in html and "Funnel" in html


def test_pairs_hold_the_output_contract(default_run):
    rd = RunDir(default_run)
    t = rd.table("pairs").read(PAIRS)
    ids = t.column("pair_id").to_pylist()
    assert len(ids) == len(set(ids))
    for row in t.to_pylist():
        assert row["prompt"] and row["prompt"][-1]["role"] == "user"
        assert row["chosen"].strip() and row["rejected"].strip() and row["chosen"] != row["rejected"]
        assert row["split"] in ("train", "test") and row["signal"] in ("SAT", "DSAT")
        assert row["preferences"], "harvested pairs carry preferences from the feedback turn"
    kept = set(rd.table("prepared").read(columns=["conversation_id"]).column(0).to_pylist())
    assert set(t.column("conversation_id").to_pylist()) <= kept
    turns = rd.table("turns").read(columns=["conversation_id", "message_index"])
    turn_keys = set(zip(turns.column(0).to_pylist(), turns.column(1).to_pylist(), strict=True))
    pair_keys = set(zip(t.column("conversation_id").to_pylist(), t.column("message_index").to_pylist(), strict=True))
    assert pair_keys <= turn_keys, "every pair points at its feedback turn"


def test_trl_export_loads_with_datasets(default_run):
    import datasets

    files = sorted(str(p) for p in (default_run / "export" / "trl").glob("*.jsonl"))
    assert files
    ds = datasets.load_dataset("json", data_files=files, split="train")
    assert len(ds) == RunDir(default_run).table("pairs").num_rows()
    for row in ds:
        assert row["prompt"][-1]["role"] == "user"
        assert row["chosen"][0]["content"] and row["rejected"][0]["content"]


def test_rerun_skips_every_committed_stage_and_changes_nothing(default_run):
    before = pair_rows(default_run)
    started = {s: r["started_at"] for s, r in RunDir(default_run).manifest()["stages"].items()}
    res = wf("run", "--run", default_run, "--input", RunDir(default_run).manifest()["input"]["uri"])
    assert res.stderr.count("skipped") == len(STAGES)
    assert {s: r["started_at"] for s, r in RunDir(default_run).manifest()["stages"].items()} == started
    assert pair_rows(default_run) == before


def test_changing_a_stage_config_recomputes_that_stage_and_later_only(default_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(default_run, run)
    before = RunDir(run).manifest()["stages"]
    wf("run", "--run", run, "--input", RunDir(run).manifest()["input"]["uri"], "--set", "assemble.split.seed=11")
    after = RunDir(run).manifest()["stages"]
    for s in ("ingest", "prepare", "detect", "preferences", "respond"):
        assert after[s]["started_at"] == before[s]["started_at"], s
    assert after["assemble"]["fingerprint"] != before["assemble"]["fingerprint"]
    assert after["assemble"]["status"] == "done"


def test_evaluate_runs_on_the_embedded_default_run_with_the_rule_judge(default_run, tmp_path):
    run = tmp_path / "eval"
    shutil.copytree(default_run, run)
    rd = RunDir(run)
    assert rd.table("heldout").num_rows() > 0, "assemble wrote the held-out set evaluate reads"
    res = wf("evaluate", "--run", run)
    assert "| **all** |" in res.stdout
    summary = json.loads(open(rd.path("eval", "summary.json")).read())
    rec = rd.manifest()["stages"]["evaluate"]
    assert rec["status"] == "done" and rec["rows_in"] == rd.table("heldout").num_rows()
    assert rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"] == summary["n_heldout"]
    assert summary["judge"]["kind"] == "lexical" and summary["n_prompts"] == rec["rows_out"] > 0
    assert summary["wins"] + summary["ties"] + summary["losses"] == summary["n_prompts"]
    assert rd.table("eval/verdicts").num_rows() == 2 * summary["n_prompts"]


def test_status_prints_every_stage(default_run):
    out = wf("status", default_run).stdout
    for s in STAGES:
        assert s in out and "done" in out


def test_notebook_runs_against_a_run(default_run, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    path = os.path.join(os.path.dirname(__file__), "..", "notebooks", "explore_run.ipynb")
    nb = nbformat.read(path, as_version=4)
    os.environ["WF_RUN"] = str(default_run)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    finally:
        os.environ.pop("WF_RUN", None)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # the notebook's rich outputs (pandas tables) open in a real browser
    from .browser import render

    outputs = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "text/html" in o.get("data", {})]
    assert outputs, "the notebook renders HTML tables"
    page = tmp_path / "notebook_outputs.html"
    page.write_text("<!doctype html><meta charset=utf-8><body>" + "".join(f"<div class=out>{h}</div>" for h in outputs),
                    encoding="utf-8")
    r = render(str(page))
    assert r.errors == [] and r.remote_requests() == []
    assert r.dom.count('<div class="out">') == len(outputs)
    assert r.dom.count("<table") >= len(outputs)


def test_report_renders_in_chromium_with_every_section(default_run):
    from jobs.report_html import SECTIONS

    from .browser import render

    r = render(RunDir(default_run).path("report.html"))
    assert r.errors == [], "no console errors"
    assert r.remote_requests() == [], "the report is self-contained"
    for sid, title in SECTIONS:
        assert f'<section id="{sid}">' in r.dom
        assert f'<a href="#{sid}">{title}</a>' in r.dom, "the table of contents is built by the page's script"
    assert r.dom.count('<div class="ex"') >= 2, "pair examples"
    assert "<mark>" in r.dom, "the feedback turn's evidence is highlighted"
    assert 'id="chosen-longer"' in r.dom
    cost = r.dom.split('id="cost-line">')[1].split("</p>")[0]
    assert "No model was used" in cost and "per 1,000 pairs" not in cost


def test_audit_sample_then_score_gives_the_benchmark_figures(default_run, default_corpus, tmp_path):
    """Labels from the synthetic corpus's ground truth: the audit's unweighted figures on the
    labelled turns are those benchmarks/detector_quality.py computes for the same turns."""
    import csv
    import importlib.util

    import pyarrow.parquet as pq

    from wfcore.lexical import classify

    spec = importlib.util.spec_from_file_location(
        "detector_quality", os.path.join(os.path.dirname(__file__), "..", "benchmarks", "detector_quality.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    run = tmp_path / "audited"
    shutil.copytree(default_run, run)
    wf("audit", "sample", "--run", run, "--n", "120", "--seed", "4")
    rows = list(csv.DictReader(open(run / "audit" / "sheet.csv", encoding="utf-8")))
    assert len(rows) == 120
    truth = {(t["conversation_id"], t["message_index"]): t for t in pq.read_table(default_corpus / "_truth.parquet").to_pylist()}
    for r in rows:
        t = truth[(r["conversation_id"], int(r["message_index"]))]
        r.update(sat=int(t["sat"]), dsat=int(t["dsat"]), categories=";".join(t["categories"] or []))
    with open(tmp_path / "labels.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    wf("audit", "score", "--run", run, "--labels", tmp_path / "labels.csv")
    res = json.loads((run / "audit" / "scores.json").read_text())
    assert res["labelled"] == 120 and res["rows"]["scored"] == 120

    # the benchmark's way: classify each turn's text again, score against the same truth
    jsonl = [json.loads(x) for x in open(run / "audit" / "sheet.jsonl", encoding="utf-8")]
    dets = [classify(x["user_message"], x["previous_user_message"], x["previous_response"]) for x in jsonl]
    gold = [truth[(x["conversation_id"], x["message_index"])] for x in jsonl]
    for sig in ("SAT", "DSAT"):
        pred = [d.sat if sig == "SAT" else d.dsat for d in dets]
        ref = bench.binary_scores(pred, [bool(g["sat"] if sig == "SAT" else g["dsat"]) for g in gold])
        got = res["signals"][sig]
        assert got["counts"]["tp"] + got["counts"]["fn"] == ref["gold_pos"] > 0
        assert got["counts"]["tp"] + got["counts"]["fp"] == ref["pred_pos"] > 0
        for m in ("precision", "recall", "f1", "kappa"):
            assert got["sample"][m] == pytest.approx(ref[m]), (sig, m)
            lo, hi = got["ci95"][m]
            assert lo <= got["estimate"][m] <= hi
    pf = res["prefilter"]
    passed = [classify(x["user_message"], x["previous_user_message"], x["previous_response"]).candidate for x in jsonl]
    pos = [bool(g["sat"] or g["dsat"]) for g in gold]
    assert pf["sample"] == pytest.approx(sum(p and g for p, g in zip(passed, pos, strict=True)) / sum(pos))
    # the weights are the run's: strata sizes add up to every scored candidate turn
    assert sum(v["turns"] for v in res["strata"].values()) == RunDir(run).table("feedback").num_rows()
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "prefilter recall" in html and "Cohen&#x27;s kappa" in html


def test_default_run_holds_out_an_evaluation_set_that_no_export_contains(default_run):
    """The embedded default builds RUN/heldout/ (what `wildfeedback evaluate` reads); none of its
    conversations or near-dup clusters is in a pair, an SFT row or an export with ids."""
    import pyarrow.parquet as pq

    from wfcore.schema import HELDOUT, SFT

    rd = RunDir(default_run)
    rec = rd.stage("assemble")
    held = rd.table("heldout").read(HELDOUT).to_pylist()
    assert held and len(held) == rec["heldout"]["items"] <= rec["heldout"]["budget"]
    assert rec["rejected_by_reason"].get("heldout", 0) > 0
    convs = {r["conversation_id"] for r in held}
    clusters = {r["cluster_id"] for r in held}
    rows = rd.table("pairs").read(PAIRS).to_pylist() + rd.table("sft").read(SFT).to_pylist()
    for d, _, files in os.walk(rd.path("export")):
        rows += [r for f in files if f.endswith(".parquet") for r in pq.read_table(os.path.join(d, f)).to_pylist()]
    assert rows and not [r for r in rows if r["conversation_id"] in convs or r.get("cluster_id") in clusters]
    n_trl = sum(1 for s in ("train", "test") for _ in open(rd.path("export", "trl", f"{s}.jsonl"), encoding="utf-8"))
    assert n_trl == rd.table("pairs").num_rows()


def _wait_for(pred, timeout: float, proc) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before the kill point (rc={proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    raise AssertionError("kill point never reached")


def test_run_killed_in_a_spark_stage_resumes_to_the_same_pairs(default_corpus, default_run, tmp_path):
    run = tmp_path / "killed"
    proc = popen("run", "--input", default_corpus, "--run", run)
    rd = RunDir(run)
    _wait_for(lambda: rd.stage("prepare").get("status") == "running", 600, proc)
    time.sleep(3)  # inside the Spark job
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert rd.stage("ingest")["status"] == "done"
    assert rd.stage("prepare")["status"] == "running", "the kill must land inside prepare"
    assert not rd.table("turns").is_committed(), "a killed Spark stage leaves nothing that looks whole"
    ingest_started = rd.stage("ingest")["started_at"]

    wf("run", "--input", default_corpus, "--run", run)
    assert rd.stage("ingest")["started_at"] == ingest_started, "committed ingest is not recomputed"
    assert pair_rows(run) == pair_rows(default_run)


# ---------------------------------------------------------------- object storage

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
