"""detect / preferences / respond for real: Ray Data + vLLM CPU engine on a tiny random model.

A random model writes garbage, so these tests check contracts only: one schema-valid row per
input, constraints held, error rows counted, ids join back, resume skips committed shards.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tests.modelstage_fixtures import (
    HOSTILE,
    commit_sharded,
    make_run,
    model_config,
    run_stage,
    turn_rows,
)
from wfcore import storage
from wfcore.outputs import parse_detection, parse_preferences
from wfcore.prompts import prompt_version
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES
from wfcore.schema import FEEDBACK, PREFERENCES, RESPONSES, TURNS


def _assert_lineage(table: pa.Table, model: str) -> None:
    for r in table.to_pylist():
        assert r["model"] == model
        json.loads(r["sampling"])
        assert r["tokens_in"] >= 0 and r["tokens_out"] >= 0
        if r["error"]:
            assert r["error"].split(":")[0] in {"invalid_output", "engine_error", "missing_result"}


def test_lexical_detect_labels_every_turn_without_ray(tmp_path):
    run = make_run(tmp_path)
    cfg = model_config(run, "unused", detect={"engine": "lexical"})
    rec = run_stage("detect", run, cfg)
    fb = run.table("feedback").read(FEEDBACK)
    turns = run.table("turns").read(TURNS)
    assert fb.schema == FEEDBACK
    assert sorted(fb["turn_id"].to_pylist()) == sorted(turns["turn_id"].to_pylist())
    assert set(fb["detector"].to_pylist()) == {"lexical"}
    assert rec["rows_in"] == rec["rows_out"] == turns.num_rows and rec["error_rows"] == 0


def test_respond_engine_none_commits_an_empty_dataset(tmp_path):
    run = make_run(tmp_path)
    rec = run_stage("respond", run, model_config(run, "unused"))
    assert run.table("responses").is_committed()
    assert run.table("responses").read(RESPONSES).num_rows == 0 and rec["rows_in"] == 0


@pytest.mark.vllm
def test_detect_through_ray_data_and_vllm_one_valid_row_per_turn_and_resume(tmp_path, tiny_model, ray_runtime):
    rows = turn_rows()
    run = make_run(tmp_path, rows)
    cfg = model_config(
        run, tiny_model,
        detect={"engine": "vllm", "prefilter": "off", "max_retries": 1, "max_context_chars": 20_000,
                "sampling": {"max_tokens": 256}},
    )
    rec = run_stage("detect", run, cfg)
    fb = run.table("feedback").read(FEEDBACK)
    assert fb.schema == FEEDBACK
    # exactly one row per candidate turn, ids join back to the input
    assert sorted(fb["turn_id"].to_pylist()) == sorted(r["turn_id"] for r in rows)
    by_id = {r["turn_id"]: r for r in fb.to_pylist()}
    for t in rows:
        assert (by_id[t["turn_id"]]["conversation_id"], by_id[t["turn_id"]]["message_index"]) == (
            t["conversation_id"], t["message_index"])
    _assert_lineage(fb, tiny_model)
    assert set(fb["prompt_version"].to_pylist()) == {prompt_version("detect")}
    errors = [r for r in fb.to_pylist() if r["error"]]
    assert rec["error_rows"] == len(errors)
    # the oversized turn exceeds the context: an engine error row, not a crash
    long_row = by_id[rows[-1]["turn_id"]]
    assert long_row["error"].startswith("engine_error") and long_row["sat"] is None
    # every valid row (hostile ones included) holds the schema's constraints
    hostile_ids = {t["turn_id"] for t in rows if t["user_message"] in HOSTILE}
    assert hostile_ids
    for r in fb.to_pylist():
        if r["error"]:
            assert r["raw_output"] is not None or r["error"].startswith("engine_error")
            continue
        assert isinstance(r["sat"], bool) and isinstance(r["dsat"], bool)
        assert set(r["sat_categories"]) <= set(SAT_CATEGORIES) and set(r["dsat_categories"]) <= set(DSAT_CATEGORIES)
        assert r["tokens_in"] > 0 and r["tokens_out"] > 0
    assert rec["tokens_in"] == sum(fb["tokens_in"].to_pylist())
    # vLLM's prefix-cache hits (the rubric every detect prompt opens with), through Ray Data
    assert 0 < rec["tokens_cached"] < rec["tokens_in"]
    assert rec["shards_total"] == 2 and rec["shards_computed"] == 2 and rec["shards_skipped"] == 0
    # both shards go through one plan per attempt (one engine start), not one plan per shard
    assert 1 <= rec["engine_plans"] <= 1 + cfg.detect.max_retries
    assert rec["rows_in"] == rec["rows_out"] == len(rows)

    # resume: same fingerprint, nothing recomputed, same content and counts
    files = run.table("feedback").files()
    rec2 = run_stage("detect", run, cfg)
    assert rec2["shards_skipped"] == 2 and rec2["shards_computed"] == 0
    assert run.table("feedback").files() == files
    assert (rec2["rows_in"], rec2["error_rows"], rec2["tokens_in"], rec2["tokens_cached"]) == (
        rec["rows_in"], rec["error_rows"], rec["tokens_in"], rec["tokens_cached"])


@pytest.mark.vllm
def test_engine_that_cannot_start_fails_the_stage_with_its_cause(tmp_path, tiny_model, ray_runtime):
    """A wrong engine argument: the stage ends at once with the engine's own error, commits
    nothing, and does not restart the engine forever."""
    from wfcore.engine import EngineDied

    run = make_run(tmp_path, turn_rows(n_conversations=1, oversized=False))
    cfg = model_config(run, tiny_model, detect={"engine": "vllm", "prefilter": "off", "max_retries": 0})
    cfg.vllm.engine_kwargs["not_an_engine_argument"] = 1
    with pytest.raises(EngineDied) as err:
        run_stage("detect", run, cfg)
    msg = str(err.value)
    assert "failed to start" in msg and "not_an_engine_argument" in msg, msg
    assert not run.table("feedback").is_committed()
    assert not storage.list_files(storage.join(run.table("feedback").uri, "_shards"), ".json")


@pytest.mark.vllm
@pytest.mark.parametrize("multiprocessing", ["0", "1"])
def test_engine_that_runs_out_of_memory_at_start_names_the_engines_own_cause(tmp_path, tiny_model, ray_runtime, multiprocessing):
    """vLLM CPU without an explicit KV cache reserves a share of the node's memory and dies at
    start when less is free. In-process (the CPU default) the cause is in the exception; with
    the engine core in its own process, only in the engine's log: the message carries it either way."""
    from wfcore.engines import EngineDied

    run = make_run(tmp_path, turn_rows(n_conversations=1, oversized=False))
    cfg = model_config(run, tiny_model, detect={"engine": "vllm", "prefilter": "off", "max_retries": 0})
    cfg.vllm.engine_kwargs.update(kv_cache_memory_bytes=None, gpu_memory_utilization=0.999)
    cfg.vllm.env_vars = {"VLLM_CPU_KVCACHE_SPACE": "", "VLLM_ENABLE_V1_MULTIPROCESSING": multiprocessing}
    with pytest.raises(EngineDied) as err:
        run_stage("detect", run, cfg)
    msg = str(err.value)
    assert "failed to start" in msg and "less than desired CPU memory utilization" in msg, msg
    assert not run.table("feedback").is_committed()


def _feedback_rows(turns: list[dict]) -> list[dict]:
    """Known labels: DSAT, SAT, no signal and a failed detection, cycling."""
    out = []
    for i, t in enumerate(turns):
        kind = i % 4
        out.append({
            "turn_id": t["turn_id"], "conversation_id": t["conversation_id"], "message_index": t["message_index"],
            "sat": kind == 1, "dsat": kind == 0, "sat_categories": ["Gratitude"] if kind == 1 else [],
            "dsat_categories": ["Revision"] if kind == 0 else [], "evidence": "", "detector": "test",
            "shard": t["shard"], "model": "test", "prompt_version": "t", "sampling": "{}", "tokens_in": 0,
            "tokens_out": 0, "error": "invalid_output: x" if kind == 3 else None, "raw_output": None,
        })
        if kind == 3:
            out[-1].update(sat=None, dsat=None)
    return out


@pytest.mark.vllm
def test_preferences_then_on_policy_respond_through_ray_data_and_vllm(tmp_path, tiny_model, ray_runtime):
    turns = turn_rows(oversized=False)
    run = make_run(tmp_path, turns)
    fb_rows = _feedback_rows(turns)
    commit_sharded(run, "feedback", fb_rows, FEEDBACK)
    cfg = model_config(
        run, tiny_model,
        preferences={"engine": "vllm", "max_retries": 1, "sampling": {"max_tokens": 256}},
        respond={"engine": "vllm", "mode": "on_policy", "signals": ["DSAT", "SAT"], "max_retries": 0,
                 "sampling": {"max_tokens": 24, "temperature": 0.0}},
    )
    rec = run_stage("preferences", run, cfg)
    prefs = run.table("preferences").read(PREFERENCES)
    assert prefs.schema == PREFERENCES
    with_signal = {r["turn_id"]: r for r in fb_rows if not r["error"] and (r["sat"] or r["dsat"])}
    assert sorted(prefs["turn_id"].to_pylist()) == sorted(with_signal)
    for r in prefs.to_pylist():
        assert r["signal"] == ("DSAT" if with_signal[r["turn_id"]]["dsat"] else "SAT")
        if not r["error"]:
            assert 1 <= len(r["preferences"]) <= 5 and all(p.strip() for p in r["preferences"])
            assert parse_preferences(json.dumps({"preferences": r["preferences"]}))[1] is None
    _assert_lineage(prefs, tiny_model)
    assert rec["rejected_by_reason"] == {"no_signal": sum(1 for r in fb_rows if not r["error"] and not (r["sat"] or r["dsat"])),
                                         "detect_error": sum(1 for r in fb_rows if r["error"])}
    assert rec["error_rows"] == sum(1 for r in prefs.to_pylist() if r["error"])

    rec = run_stage("respond", run, cfg)
    resp = run.table("responses").read(RESPONSES)
    assert resp.schema == RESPONSES
    ok_prefs = [r for r in prefs.to_pylist() if not r["error"]]
    # on-policy: a preferred and an unconditioned response per turn with usable preferences
    assert sorted((r["turn_id"], r["variant"]) for r in resp.to_pylist()) == sorted(
        (p["turn_id"], v) for p in ok_prefs for v in ("preferred", "unconditioned"))
    for r in resp.to_pylist():
        assert r["error"] or (r["response"].strip() and r["finish_reason"] in {"stop", "length"})
        assert r["prompt_version"] == prompt_version("respond" if r["variant"] == "preferred" else "respond_unconditioned")
        assert json.loads(r["sampling"])["max_tokens"] == 24
    assert rec["output_rows"] == resp.num_rows and rec["rows_out"] == len(ok_prefs)
    assert rec["rows_in"] == prefs.num_rows


def test_detect_parser_accepts_every_enum_value():
    # the schema handed to the engine and the parser agree on every rubric category
    for c in SAT_CATEGORIES:
        assert parse_detection(json.dumps({"sat": True, "dsat": False, "sat_categories": [c], "dsat_categories": [], "evidence": ""}))[1] is None
    for c in DSAT_CATEGORIES:
        assert parse_detection(json.dumps({"sat": False, "dsat": True, "sat_categories": [], "dsat_categories": [c], "evidence": ""}))[1] is None


@pytest.mark.vllm
def test_killed_stage_keeps_committed_answers_and_a_slow_engine_never_trips_the_no_progress_guard(
        tmp_path, tiny_model, ray_runtime, monkeypatch):
    """One shard of 96 turns, engine batches of 2 rows (a named engine). Answers are committed
    while the shard runs, so a SIGKILL mid-shard loses only answers in flight: the rerun asks the
    engine only for the rest. Both runs go under a 5 s no-progress guard, shorter than the
    engine's start alone. Off a terminal the stage prints its own rows line, not Ray Data's."""
    import os
    import signal
    import time

    import ray.data

    from tests.modelstage_fixtures import stage_process

    rows = [dict(r, shard=0) for r in turn_rows(n_conversations=48, oversized=False)]
    run = make_run(tmp_path, rows)
    cfg = model_config(
        run, tiny_model,
        engines={"detector": {"kind": "vllm", "model": tiny_model, "max_model_len": 2048, "batch_size": 2,
                              "device": "cpu", "tokenize_stages": False, "engine_kwargs": {"dtype": "float32"}}},
        detect={"engine": "detector", "prefilter": "off", "max_retries": 0, "sampling": {"max_tokens": 400}},
    )
    guard = {"RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S": "5", "WF_PROGRESS_INTERVAL_S": "1"}
    partial_dir = storage.join(run.table("feedback").uri, "_shards", "partial")

    def partial_rows() -> int:
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(f).num_rows for f in storage.list_files(partial_dir, ".parquet"))

    log = tmp_path / "killed.err"
    with open(log, "w") as err:
        proc = stage_process("detect", cfg, env=guard, stderr=err)
        deadline = time.time() + 300
        while partial_rows() < 4 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    kept = partial_rows()
    text = log.read_text()
    assert proc.returncode == -signal.SIGKILL, text[-3000:]
    assert not run.table("feedback").committed_shards(content_id_of(cfg)), "the kill must land mid-shard"
    assert 4 <= kept < len(rows), text[-3000:]
    assert "[detect] rows " in text and "Running Dataset" not in text, text[-3000:]

    monkeypatch.setattr(ray.data.DataContext.get_current(), "execution_no_progress_timeout_s", 5.0)
    rec = run_stage("detect", run, cfg)
    assert rec["answers_resumed"] == kept
    assert rec["engine_requests"] == len(rows) - kept, "committed answers are not asked again"
    assert rec["engine_first_result_s"] > 5, "the engine took longer than the guard before its first answer"
    fb = run.table("feedback").read(FEEDBACK)
    assert sorted(fb["turn_id"].to_pylist()) == sorted(r["turn_id"] for r in rows)
    assert set(fb["detector"].to_pylist()) == {tiny_model}
    assert rec["rows_in"] == rec["rows_out"] == len(rows) and rec["engine_name"] == "detector"
    assert not storage.list_files(partial_dir, ".parquet"), "partial parts go once their shard commits"


def content_id_of(cfg) -> str:
    from jobs.detect import fingerprint_parts
    from wfcore.ids import content_id

    return content_id("detect", fingerprint_parts(cfg))


def test_partial_answers_round_trip_and_go_with_their_shard(tmp_path):
    from jobs.modelstage import PartialResults
    from wfcore.storage import Dataset

    part = PartialResults(Dataset(str(tmp_path / "out")), "fp1")
    a = {"key": "t1", "text": '{"sat": true}', "tokens_in": 3, "tokens_out": 2, "finish_reason": "", "error": "",
         "value": {"sat": True, "sat_categories": ["Gratitude"]}, "sampling": {"seed": 1}, "attempts": 1}
    b = {**a, "key": "t2", "value": None, "error": "invalid_output: x", "attempts": 2}
    part.write(0, [a])
    part.write(0, [b])
    got = part.load(0)
    assert got["t1"]["value"] == a["value"] and got["t1"]["sampling"] == {"seed": 1}
    assert got["t2"]["value"] is None and got["t2"]["error"] == "invalid_output: x" and got["t2"]["attempts"] == 2
    assert PartialResults(Dataset(str(tmp_path / "out")), "fp2").load(0) == {}, "another fingerprint starts afresh"
    part.drop(0)
    assert part.load(0) == {}


def test_progress_off_a_terminal_prints_rows_done_total_and_rate_every_interval():
    import io
    import time

    from wfcore.progress import StageProgress

    out = io.StringIO()
    p = StageProgress("detect", total=2, stream=out, interval_s=0.05)
    p.expect(10)
    p.answered(3)
    assert out.getvalue() == "", "no line before the interval"
    time.sleep(0.06)
    p.answered(1)
    line = out.getvalue().strip()
    assert line.startswith("[detect] rows 4/10 (40%)") and "rows/s" in line and "shards 0/2" in line, line


def test_one_call_preferences_are_checked_and_written_and_failing_ones_fall_back(tmp_path):
    """``detect.with_preferences``: feedback rows carry the detect answer's statements. Valid
    ones become preferences rows with no model call (the detect call's lineage, no tokens
    counted twice); a turn whose statements fail the check falls back to ``preferences.engine``
    (here ``extract``, so no Ray), counted by reason; rows stay accounted for, and a resumed
    stage reports the same counts."""
    from jobs.preferences import EXTRACT
    from wfcore.outputs import check_statements

    turns = turn_rows(n_conversations=8, oversized=False)
    run = make_run(tmp_path, turns)
    fb_rows = _feedback_rows(turns)
    inline = [["Keeps the answer short", " Gives the correct year "], [], ["your_statement_1"], None]
    for i, r in enumerate(fb_rows):
        r.update(model="det-model", prompt_version="detect.v1-x+detect_preferences.v1-y", sampling='{"seed": 0}',
                 tokens_in=100, tokens_out=40)
        r["preferences"] = inline[(i // 4) % len(inline)] if (r["sat"] or r["dsat"]) else ([] if not r["error"] else None)
    commit_sharded(run, "feedback", fb_rows, FEEDBACK)
    cfg = model_config(run, "unused", detect={"engine": "vllm", "with_preferences": True},
                       preferences={"engine": EXTRACT})
    rec = run_stage("preferences", run, cfg)
    prefs = {r["turn_id"]: r for r in run.table("preferences").read(PREFERENCES).to_pylist()}
    with_signal = [r for r in fb_rows if not r["error"] and (r["sat"] or r["dsat"])]
    assert sorted(prefs) == sorted(r["turn_id"] for r in with_signal), "every turn with a signal has its row"
    expected_inline = fallback = 0
    for fb in with_signal:
        row = prefs[fb["turn_id"]]
        checked, err = check_statements(fb["preferences"]) if fb["preferences"] is not None else (None, "x")
        if err is None:
            expected_inline += 1
            assert row["preferences"] == checked and row["error"] is None
            assert (row["model"], row["prompt_version"], row["tokens_in"], row["tokens_out"]) == (
                "det-model", fb["prompt_version"], 0, 0)
        else:
            fallback += 1
            assert row["model"] == EXTRACT and row["prompt_version"].startswith("extract-")
    assert expected_inline and fallback, "both paths are exercised"
    assert len(rec["inline_preferences"]["fallback_by_reason"]) == 3, "every fallback reason is exercised"
    assert rec["inline_preferences"] == {
        "enabled": True, "from_detect": expected_inline, "fallback": fallback,
        "fallback_by_reason": {k: v for k, v in {
            "too_few_statements": sum(1 for r in with_signal if r["preferences"] == []),
            "not_a_statement": sum(1 for r in with_signal if r["preferences"] == ["your_statement_1"]),
            "not_in_detect_answer": sum(1 for r in with_signal if r["preferences"] is None),
        }.items() if v},
    }
    assert rec["model_requests"] == 0 and rec["engine_plans"] == 0
    assert rec["rows_in"] == len(fb_rows) == rec["rows_out"] + rec["rows_rejected"]
    assert rec["rows_out"] == len(with_signal)
    rec2 = run_stage("preferences", run, cfg)
    assert rec2["shards_skipped"] == rec2["shards_total"] and rec2["inline_preferences"] == rec["inline_preferences"]


@pytest.mark.vllm
def test_one_call_detect_answers_become_preferences_without_a_second_model_call(tmp_path, tiny_model, ray_runtime):
    """``detect.with_preferences`` through Ray Data + vLLM: the conditional schema makes every
    valid answer with a signal carry 1-5 statements (and none without one), so the preferences
    stage, although it has a model engine for fallbacks, writes every row from the detect
    answers: no request, no engine start, every feedback row accounted for."""
    from wfcore.outputs import check_statements

    turns = turn_rows(oversized=False)
    run = make_run(tmp_path, turns)
    cfg = model_config(
        run, tiny_model,
        # temperature 1: a random model's greedy answer is the same no-signal object for every turn
        detect={"engine": "vllm", "prefilter": "off", "with_preferences": True, "max_retries": 1,
                "sampling": {"max_tokens": 768, "temperature": 1.0}},
        preferences={"engine": "vllm", "max_retries": 0},
    )
    det = run_stage("detect", run, cfg)
    fb = run.table("feedback").read(FEEDBACK).to_pylist()
    assert sorted(r["turn_id"] for r in fb) == sorted(t["turn_id"] for t in turns)
    assert det["with_preferences"] is True and "+detect_preferences.v1-" in det["prompt_version"]
    with_signal = [r for r in fb if not r["error"] and (r["sat"] or r["dsat"])]
    assert with_signal, f"no valid answer with a signal: nothing to check {[(r['sat'], r['dsat'], r['error']) for r in fb]}"
    for r in fb:
        if r["error"]:
            assert r["preferences"] is None
        elif r["sat"] or r["dsat"]:
            assert check_statements(r["preferences"])[1] is None, r["preferences"]
        else:
            assert r["preferences"] == []

    rec = run_stage("preferences", run, cfg)
    prefs = {r["turn_id"]: r for r in run.table("preferences").read(PREFERENCES).to_pylist()}
    assert sorted(prefs) == sorted(r["turn_id"] for r in with_signal)
    assert rec["inline_preferences"] == {"enabled": True, "from_detect": len(with_signal), "fallback": 0,
                                         "fallback_by_reason": {}}
    assert rec["model_requests"] == 0 and rec["engine_requests"] == 0 and rec["engine_plans"] == 0
    assert rec["tokens_in"] == rec["tokens_out"] == 0, "the one call's tokens are detect's"
    for fb_row in with_signal:
        row = prefs[fb_row["turn_id"]]
        assert row["preferences"] == check_statements(fb_row["preferences"])[0] and row["error"] is None
        assert (row["model"], row["prompt_version"]) == (tiny_model, det["prompt_version"])
        assert row["signal"] == ("DSAT" if fb_row["dsat"] else "SAT")
    assert rec["rows_in"] == len(fb) == rec["rows_out"] + rec["rows_rejected"]
    assert rec["rejected_by_reason"].get("detect_error", 0) == sum(1 for r in fb if r["error"])
