"""End to end with model stages on a real vLLM CPU engine (tiny random model), and a kill in a
model stage: the rerun recomputes only unfinished shards and yields the same pairs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from wfcore import storage
from wfcore.run import STAGES, RunDir
from wfcore.schema import PAIRS, RESPONSES

from .wf import popen, wf

pytestmark = pytest.mark.vllm


MODEL_STAGES = {
    "preferences.engine": "vllm",
    "preferences.max_retries": 0,
    "respond.engine": "vllm",
    "respond.max_retries": 0,
    "respond.mode": "on_policy",
    "respond.signals": "[DSAT, SAT]",
    "respond.sampling.max_tokens": 24,
}


def _sets(model: str, **extra) -> list[str]:
    sets = {
        "detect.engine": "vllm",
        "detect.prefilter": "off",
        "detect.max_retries": 0,
        "prepare.shard_turns": 12,
        "vllm.model": model,
        "vllm.max_model_len": 2048,
        "vllm.batch_size": 8,
        "vllm.device": "cpu",
        "vllm.tokenize_stages": False,
        "vllm.engine_kwargs": "{enforce_eager: true, dtype: float32}",
        "ray.num_cpus": 4,
        "assemble.drop_truncated": False,
        **extra,
    }
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("vcorpus") / "wildchat"
    wf("synth", "--conversations", "24", "--seed", "5", "--malformed-share", "0", "--output", out)
    return out


@pytest.fixture(scope="module")
def vllm_run(small_corpus, tiny_model, tmp_path_factory):
    """All three model stages on the engine (vLLM profile), one engine plan per stage."""
    run = tmp_path_factory.mktemp("vruns") / "all-model-stages"
    wf("run", "--input", small_corpus, "--run", run, *_sets(tiny_model, **MODEL_STAGES), timeout=1500)
    return run


@pytest.fixture(scope="module")
def detect_run(small_corpus, tiny_model, tmp_path_factory):
    """Uninterrupted baseline for the kill test: detect on the engine, pairs harvested."""
    run = tmp_path_factory.mktemp("vruns") / "uninterrupted"
    wf("run", "--input", small_corpus, "--run", run, *_sets(tiny_model), timeout=1500)
    return run


def _pairs(run) -> list[tuple]:
    t = RunDir(run).table("pairs").read(PAIRS)
    return sorted(zip(*(t.column(c).to_pylist() for c in ("pair_id", "chosen", "rejected", "split")), strict=True))


def _feedback(run) -> list[tuple]:
    t = RunDir(run).table("feedback").read()
    return sorted(zip(*(t.column(c).to_pylist() for c in ("turn_id", "sat", "dsat", "error")), strict=True))


def test_vllm_profile_run_builds_generated_pairs_and_accounts_for_rows(vllm_run):
    rd = RunDir(vllm_run)
    stages = rd.manifest()["stages"]
    for s in STAGES:
        rec = stages[s]
        assert rec["status"] == "done" and rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"], s
    assert stages["detect"]["model_requests"] == rd.table("turns").num_rows(), "prefilter off: every turn asked"
    assert stages["detect"]["tokens_in"] > 0 and stages["detect"]["shards_total"] >= 2
    pairs = rd.table("pairs").read(PAIRS).to_pylist()
    model_pairs = [p for p in pairs if p["pair_type"] in ("generated", "on_policy", "sat_on_policy")]
    assert model_pairs, "feedback turns with policy responses become on-policy pairs"
    responses = rd.table("responses").read(RESPONSES).to_pylist()
    by_turn = {(r["conversation_id"], r["message_index"], r["variant"]): r for r in responses}
    for p in model_pairs:
        key = (p["conversation_id"], p["message_index"])
        assert p["rejected"] == by_turn[(*key, "unconditioned")]["response"]
        if p["pair_type"] == "on_policy":
            assert p["chosen"] == by_turn[(*key, "preferred")]["response"]
        assert p["prompt"][-1]["role"] == "user"


def test_run_killed_in_a_model_stage_recomputes_only_unfinished_shards(small_corpus, tiny_model, detect_run, tmp_path):
    run = tmp_path / "killed"
    rd = RunDir(run)
    shards_dir = storage.join(rd.path("feedback"), "_shards")
    # one shard per engine plan, so the kill lands between shard commits (a throughput knob:
    # not part of the fingerprint)
    proc = popen("run", "--input", small_corpus, "--run", run, *_sets(tiny_model, **{"vllm.shards_per_plan": 1}))
    deadline = time.time() + 1200
    while time.time() < deadline:
        if rd.stage("detect").get("status") == "running" and storage.list_files(shards_dir, ".json"):
            break
        if proc.poll() is not None:
            raise AssertionError(f"run ended before the kill point: {proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    else:
        raise AssertionError("kill point never reached")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    committed_before = len(storage.list_files(shards_dir, ".json"))
    assert rd.stage("detect")["status"] == "running"
    total = RunDir(detect_run).stage("detect")["shards_total"]
    assert 1 <= committed_before < total, "the kill must land between shards of detect"

    wf("run", "--input", small_corpus, "--run", run, *_sets(tiny_model), timeout=1500)
    rec = rd.stage("detect")
    assert rec["shards_skipped"] == committed_before
    assert rec["shards_computed"] == total - committed_before
    assert rd.table("feedback").num_rows() == rd.table("turns").num_rows(), "no duplicate or missing rows"
    assert _pairs(run) == _pairs(detect_run)
    assert _feedback(run) == _feedback(detect_run)
