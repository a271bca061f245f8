"""detect through HttpRequestProcessorConfig against vLLM's OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.modelstage_fixtures import make_run, model_config, run_stage, turn_rows
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES
from wfcore.schema import FEEDBACK


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def openai_server(tiny_model, tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("server") / "server.log", "wb")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", tiny_model,
         "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
         "--dtype", "float32", "--max-model-len", "2048",
         "--structured-outputs-config", json.dumps({"backend": "xgrammar", "disable_any_whitespace": True})],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError(f"vLLM server not healthy after 300 s; see {log.name}")
            time.sleep(1)
        yield base + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.vllm
def test_detect_through_openai_endpoint_gives_one_schema_valid_row_per_turn(tmp_path, openai_server, ray_runtime, monkeypatch):
    monkeypatch.setenv("WF_TEST_API_KEY", "not-a-real-key")
    rows = turn_rows(n_conversations=3, oversized=False)
    run = make_run(tmp_path, rows)
    cfg = model_config(
        run, "unused",
        detect={"engine": "openai", "prefilter": "off", "max_retries": 1, "sampling": {"max_tokens": 256}},
        openai={"base_url": openai_server, "model": "tiny", "api_key_env": "WF_TEST_API_KEY", "concurrency": 1, "batch_size": 4},
    )
    rec = run_stage("detect", run, cfg)
    fb = run.table("feedback").read(FEEDBACK)
    assert fb.schema == FEEDBACK
    assert sorted(fb["turn_id"].to_pylist()) == sorted(r["turn_id"] for r in rows)
    assert set(fb["detector"].to_pylist()) == {"tiny"}
    for r in fb.to_pylist():
        if r["error"]:
            continue
        assert set(r["sat_categories"]) <= set(SAT_CATEGORIES) and set(r["dsat_categories"]) <= set(DSAT_CATEGORIES)
        assert r["tokens_in"] > 0 and r["tokens_out"] > 0  # usage reported by the endpoint
    assert rec["error_rows"] == sum(1 for r in fb.to_pylist() if r["error"])
    assert rec["engine"] == "openai" and rec["rows_out"] == len(rows)
    assert "not-a-real-key" not in json.dumps(rec)


@pytest.mark.vllm
def test_evaluate_judges_both_orders_through_the_openai_endpoint(tmp_path, openai_server, ray_runtime, monkeypatch):
    from jobs.evaluate import run_evaluate
    from tests.heldout_fixtures import heldout_rows, write_heldout
    from wfcore.checklist import LEVELS
    from wfcore.run import RunDir
    from wfcore.schema import EVAL_VERDICTS

    monkeypatch.setenv("WF_TEST_API_KEY", "not-a-real-key")
    rd = RunDir(str(tmp_path / "run"))
    write_heldout(rd, heldout_rows(3))
    cfg = model_config(
        rd, "unused",
        evaluate={"judge": "openai", "max_retries": 1, "sampling": {"max_tokens": 700}},
        openai={"base_url": openai_server, "model": "tiny", "api_key_env": "WF_TEST_API_KEY", "concurrency": 1, "batch_size": 4},
    )
    summary = run_evaluate(cfg)
    rec = rd.stage("evaluate")
    assert rec["status"] == "done" and rec["rows_in"] == 3 == rec["rows_out"] + rec["rows_rejected"]
    verdicts = rd.table("eval/verdicts").read(EVAL_VERDICTS).to_pylist()
    assert sorted((v["heldout_id"], v["order"]) for v in verdicts) == sorted(
        (r["heldout_id"], o) for r in heldout_rows(3) for o in ("AB", "BA"))
    for v in verdicts:
        assert v["model"] == "tiny" and v["tokens_in"] > 0 and v["judge_output"]
        assert v["verdict"] in LEVELS if not v["error"] else v["verdict"] is None
    assert summary["judge"] == {"kind": "openai", "model": "tiny", "prompt_version": verdicts[0]["prompt_version"]}
    assert summary["n_prompts"] == rec["rows_out"]
    assert "not-a-real-key" not in json.dumps(rec) + json.dumps(summary)
