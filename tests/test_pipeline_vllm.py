"""End to end with model stages on a real vLLM CPU engine (tiny random model), and a kill in a
model stage: the rerun recomputes only unfinished shards and yields the same pairs."""

from __future__ import annotations

import os
import shutil
import signal
import time

import psutil
import pytest

from wfcore import storage
from wfcore.run import STAGES, RunDir
from wfcore.schema import PAIRS, RESPONSES

from .tinymodel import cpu_engine_sets, set_args
from .wf import popen, wf

pytestmark = pytest.mark.vllm


MODEL_STAGES = {
    "preferences.engine": "vllm",
    "preferences.max_retries": 0,
    # room for the longest answer the schema allows (5 statements <= 200 chars; a random model
    # writes about one character per token, and the default 192 tokens truncated all of them)
    "preferences.sampling.max_tokens": 900,
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
        # room for the longest answer the detect JSON schema allows (evidence <= 160 chars): a
        # random model writes about one character per token, and 128 tokens truncated every
        # answer in some runs, leaving no signal turn for the later stages
        "detect.sampling.max_tokens": 400,
        "prepare.shard_turns": 12,
        **cpu_engine_sets(model),
        "assemble.drop_truncated": False,
        **extra,
    }
    return set_args(sets)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("vcorpus") / "wildchat"
    wf("synth", "--conversations", "24", "--seed", "5", "--malformed-share", "0", "--output", out)
    return out


@pytest.fixture(scope="module")
def prepared(small_corpus, tiny_model, tmp_path_factory):
    """ingest + prepare once (Spark); every run below starts from a copy of this run directory
    and skips both stages by fingerprint, as a user's rerun with a changed model config would."""
    run = tmp_path_factory.mktemp("vruns") / "prepared"
    wf("run", "--input", small_corpus, "--run", run, "--until", "prepare", *_sets(tiny_model), timeout=900)
    return run


def _fork(prepared, dest):
    shutil.copytree(prepared, dest)
    return dest


@pytest.fixture(scope="module")
def vllm_run(small_corpus, tiny_model, prepared, tmp_path_factory):
    """All three model stages on the engine (vLLM profile), one engine plan per stage."""
    run = _fork(prepared, tmp_path_factory.mktemp("vruns") / "all-model-stages")
    wf("run", "--input", small_corpus, "--run", run, *_sets(tiny_model, **MODEL_STAGES), timeout=1500)
    return run


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
        # generated: the logged response is rejected (e.g. when the unconditioned one failed)
        if p["pair_type"] != "generated":
            assert p["rejected"] == by_turn[(*key, "unconditioned")]["response"]
        if p["pair_type"] in ("on_policy", "generated"):
            assert p["chosen"] == by_turn[(*key, "preferred")]["response"]
        assert p["prompt"][-1]["role"] == "user"


def test_vllm_run_report_projects_the_cost_from_the_tokens_the_engine_reported(vllm_run):
    """Prefix-cache hits come from vLLM (``num_cached_tokens``) through Ray Data into the
    manifest, and the report projects each model stage from them; the page renders them."""
    import json

    from .browser import render

    rd = RunDir(vllm_run)
    stages = rd.manifest()["stages"]
    for s in ("detect", "preferences", "respond"):
        assert 0 <= stages[s]["tokens_cached"] <= stages[s]["tokens_in"], s
    det = stages["detect"]
    assert 0 < det["tokens_cached"] < det["tokens_in"], "turns share the detect prompt's rubric prefix"
    rep = json.loads(open(rd.path("report.json"), encoding="utf-8").read())
    p = rep["cost"]["projection"]
    turns = rep["funnel"]["candidate_turns"]
    assert p["run_candidate_turns"] == turns and p["conversations"] == 1_000_000
    by = {x["stage"]: x for x in p["stages"]}
    assert set(by) == {"detect", "preferences", "respond"}
    for s, x in by.items():
        rec = stages[s]
        assert (x["tokens_in"], x["tokens_cached"], x["tokens_out"]) == (
            rec["tokens_in"], rec["tokens_cached"], rec["tokens_out"]), s
        assert x["per_unit"]["cached_prompt"] == round(rec["tokens_cached"] / turns, 1), s
        assert x["rates"]["size_class"] == "small" and "safetensors" in x["model_size_from"], s
        assert x["gpu_hours"] > 0
    assert p["gpu_hours"] == pytest.approx(sum(x["gpu_hours"] for x in by.values()), abs=0.011)
    r = render(rd.path("report.html"))
    assert r.errors == [] and r.remote_requests() == []
    section = r.dom.split('<section id="cost">')[1].split("</section>")[0]
    assert "1,000,000" in section.split('id="cost-line">')[1].split("</p>")[0]
    assert [x.split("</td>")[0].split(">")[-1] for x in section.split("<tr>")[2:]] == [
        "detect", "preferences", "respond"]


def _engine_workers(proc) -> list[psutil.Process]:
    """Ray actor processes serving the vLLM engine stage for the run ``proc`` (its local Ray
    cluster's processes descend from it; other tests' engines on other xdist workers do not)."""
    out = []
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return out
    for p in descendants:
        try:
            if any("vLLMEngineStageUDF" in part for part in p.cmdline()):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def _wait_for(pred, proc, what: str, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {what}: {proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"{what}: never happened")


def test_dead_engine_fails_the_stage_then_kills_and_reruns_resume_to_the_same_output(small_corpus, tiny_model, prepared, vllm_run, tmp_path):
    """One run directory through three failures a real corpus meets, then a clean finish:

    1. the engine dies on every start (an OOM kill at each load): the stage must fail with a
       message naming ``vllm.max_engine_restarts`` instead of restarting forever, and keep the
       shards it committed;
    2. the whole run is SIGKILLed between shard commits;
    3. the rerun recomputes only the shards not yet committed and gives the same feedback as the
       uninterrupted ``vllm_run`` (same detect fingerprint: the other stages' keys are not part of it).
    One shard per engine plan, so both failures land between shard commits (a throughput knob:
    not part of the fingerprint).
    """
    run = _fork(prepared, tmp_path / "failing")
    rd = RunDir(run)
    shards_dir = storage.join(rd.path("feedback"), "_shards")
    total = RunDir(vllm_run).stage("detect")["shards_total"]
    assert total >= 3, "needs shards to commit before, between and after the failures"

    def committed() -> int:
        return len(storage.list_files(shards_dir, ".json"))

    # 1. dead engine: once a shard is committed, kill every engine worker as soon as it appears
    sets = _sets(tiny_model, **{"vllm.shards_per_plan": 1, "vllm.max_engine_restarts": 1})
    proc = popen("run", "--input", small_corpus, "--run", run, *sets)
    _wait_for(lambda: committed() >= 1, proc, "first shard commit")
    killed: set[int] = set()
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        for p in _engine_workers(proc):
            if p.pid not in killed:
                killed.add(p.pid)
                p.kill()
        time.sleep(0.2)
    assert proc.poll() is not None, "a dead engine must fail the stage, not hang the run"
    err = proc.stderr.read()
    assert proc.returncode == 1, err[-3000:]
    assert "vllm.max_engine_restarts=1" in err, err[-3000:]
    assert len(killed) >= 2, "the engine was restarted once before the stage gave up"
    rec = rd.stage("detect")
    assert rec["status"] == "failed" and "max_engine_restarts" in rec.get("error", ""), rec
    after_dead = committed()
    assert 1 <= after_dead < total, "shards committed before the engine died are kept"

    # 2. SIGKILL the whole run once one more shard is committed
    proc = popen("run", "--input", small_corpus, "--run", run, *_sets(tiny_model, **{"vllm.shards_per_plan": 1}))
    _wait_for(lambda: committed() > after_dead, proc, "a shard commit after the restart")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    committed_before = committed()
    assert rd.stage("detect")["status"] == "running"
    assert after_dead < committed_before < total, "the kill must land between shards of detect"

    # 3. finish detect: only the missing shards are computed; same output as the uninterrupted run
    wf("run", "--input", small_corpus, "--run", run, "--until", "detect", *_sets(tiny_model), timeout=1500)
    rec = rd.stage("detect")
    assert rec["shards_skipped"] == committed_before
    assert rec["shards_computed"] == total - committed_before
    assert rd.table("feedback").num_rows() == rd.table("turns").num_rows(), "no duplicate or missing rows"
    assert rec["fingerprint"] == RunDir(vllm_run).stage("detect")["fingerprint"]
    assert _feedback(run) == _feedback(vllm_run)
