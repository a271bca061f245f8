"""`evaluate`: candidates on the held-out set, the judge in both orders, summary and verdicts.

The rule-judge tests need no Ray; the vLLM test runs the real Ray Data + vLLM CPU engine on the
tiny random model (contracts only: a random model's verdicts mean nothing).
"""

from __future__ import annotations

import gzip
import json

import pytest

from jobs.evaluate import run_evaluate
from tests.heldout_fixtures import heldout_rows, write_heldout
from tests.modelstage_fixtures import model_config
from tests.wf import wf
from wfcore import storage
from wfcore.checklist import LEVELS, ORDERS
from wfcore.config import ConfigError, load_config
from wfcore.run import RunDir
from wfcore.schema import EVAL_CANDIDATES, EVAL_VERDICTS

SUMMARY_KEYS = {
    "n_prompts",
    "wins",
    "ties",
    "losses",
    "win_rate",
    "ci_low",
    "ci_high",
    "position_consistency",
    "judge",
    "checklist",
    "candidates",
    "per_category",
    "satisfaction",
    "mean_length",
    "bootstrap",
}


def _run(tmp_path, rows=None) -> RunDir:
    rd = RunDir(str(tmp_path / "run"))
    write_heldout(rd, heldout_rows(10) if rows is None else rows)
    return rd


def _cfg(rd: RunDir, *sets: str):
    return load_config("default", [f"run={rd.uri}", *sets])


def _verdicts(rd: RunDir) -> list[dict]:
    return rd.table("eval/verdicts").read(EVAL_VERDICTS).to_pylist()


def _assert_accounted(rd: RunDir) -> dict:
    rec = rd.stage("evaluate")
    assert rec["status"] == "done"
    assert rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"]
    assert sum(rec["rejected_by_reason"].values()) == rec["rows_rejected"]
    return rec


def test_rule_judge_evaluates_every_prompt_in_both_orders_and_writes_the_summary(tmp_path):
    rows = heldout_rows(10)
    rows[0]["checklist"] = []  # no checklist: cannot be evaluated with one
    rows[1]["prompt"] = rows[1]["prompt"][:2]  # ends with the assistant: not a prompt
    rd = _run(tmp_path, rows)
    summary = run_evaluate(_cfg(rd))
    rec = _assert_accounted(rd)
    assert rec["rows_in"] == 10 and rec["rejected_by_reason"] == {
        "no_checklist": 1,
        "invalid_prompt": 1,
    }
    on_disk = storage.read_json(rd.path("eval", "summary.json"))
    assert on_disk == summary and SUMMARY_KEYS <= set(summary)
    assert summary["n_prompts"] == rec["rows_out"] == 8
    assert summary["wins"] + summary["ties"] + summary["losses"] == 8
    assert summary["ci_low"] <= summary["win_rate"] <= summary["ci_high"]
    assert summary["judge"]["kind"] == "lexical" and summary["checklist"] is True
    assert (
        summary["candidates"]["A"]["name"] == "chosen"
        and summary["candidates"]["B"]["name"] == "rejected"
    )
    assert sum(c["n_prompts"] for c in summary["per_category"].values()) == 8
    # the fixture's chosen responses meet the rule-checkable items, the rejected ones do not
    assert (
        summary["wins"] > summary["losses"]
        and summary["satisfaction"]["A"] > summary["satisfaction"]["B"]
    )
    # the rule judge does not depend on the order: every prompt's two orders agree
    assert summary["position_consistency"] == 1.0
    verdicts = _verdicts(rd)
    assert len(verdicts) == 2 * 8
    by_prompt: dict[str, set] = {}
    for v in verdicts:
        by_prompt.setdefault(v["heldout_id"], set()).add(v["order"])
        assert v["error"] is None and v["verdict"] in LEVELS and v["verdict_ab"] in LEVELS
        assert len(v["items_a"]) == len(v["items_b"]) == len(v["checklist"]) > 0
        assert json.loads(v["judge_output"])["verdict"] == v["verdict"]  # the raw answer is kept
    assert all(o == set(ORDERS) for o in by_prompt.values())
    cands = rd.table("eval/candidates").read(EVAL_CANDIDATES).to_pylist()
    assert sorted({c["candidate"] for c in cands}) == ["A", "B"] and len(cands) == 2 * 8


def test_rerun_skips_and_a_config_change_recomputes(tmp_path, capfd):
    rd = _run(tmp_path)
    first = run_evaluate(_cfg(rd))
    assert run_evaluate(_cfg(rd)) == first
    assert "skipped" in capfd.readouterr().err
    swapped = run_evaluate(_cfg(rd, "evaluate.a=rejected", "evaluate.b=chosen"))
    assert (swapped["wins"], swapped["losses"]) == (first["losses"], first["wins"])
    assert swapped["win_rate"] == pytest.approx(1 - first["win_rate"])
    limited = run_evaluate(_cfg(rd, "evaluate.limit=4"))
    assert limited["n_prompts"] == 4 and _assert_accounted(rd)["rejected_by_reason"] == {
        "beyond_limit": 6
    }


def test_a_jsonl_candidate_is_read_and_prompts_it_misses_are_counted(tmp_path):
    rows = heldout_rows(6)
    rd = _run(tmp_path, rows)
    path = tmp_path / "mine.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for r in rows[:4]:
            f.write(json.dumps({"heldout_id": r["heldout_id"], "response": r["chosen"]}) + "\n")
        f.write("{not json\n")
        f.write(json.dumps({"heldout_id": rows[4]["heldout_id"], "response": "   "}) + "\n")
    summary = run_evaluate(_cfg(rd, f"evaluate.a={path}", "evaluate.b=chosen"))
    rec = _assert_accounted(rd)
    assert rec["rejected_by_reason"] == {"candidate_missing": 2}  # one blank, one absent
    assert summary["n_prompts"] == 4 and summary["ties"] == 4  # identical responses tie
    assert summary["candidates"]["A"] == {
        "name": "mine.jsonl.gz",
        "source": "file",
        "uri": str(path),
        "model": None,
        "unusable_lines": 1,
    }


def test_config_mistakes_fail_naming_the_key(tmp_path):
    rd = _run(tmp_path)
    for sets, key in (
        (["evaluate.checklist=false"], "evaluate"),
        (["evaluate.b=chosen"], "evaluate"),
        (["evaluate.bootstrap_resamples=100"], "evaluate.bootstrap_resamples"),
    ):
        with pytest.raises(ConfigError, match=f"'{key}'"):
            _cfg(rd, *sets)
    # a candidate that is neither built in nor a file names an engine, which must be configured
    with pytest.raises(ConfigError, match="'evaluate.a' \\('somemodel'\\)"):
        run_evaluate(_cfg(rd, "evaluate.a=somemodel"))
    res = wf("evaluate", "--run", rd.uri, "--set", "evaluate.judge=vllm", check=False)
    assert res.returncode == 2 and "vllm.model" in res.stderr
    res = wf("evaluate", "--run", str(tmp_path / "empty"), check=False)
    assert res.returncode == 1 and "no held-out set" in res.stderr


def test_cli_prints_the_summary_table_and_status_shows_the_stage(tmp_path):
    rd = _run(tmp_path)
    res = wf("evaluate", "--run", rd.uri)
    assert "win rate [95% CI]" in res.stdout and "| **all** | 10 |" in res.stdout
    status = wf("status", rd.uri).stdout
    assert "evaluate" in status and "eval/verdicts=20" in status


@pytest.mark.vllm
def test_vllm_candidate_and_judge_both_orders_through_ray_data(tmp_path, tiny_model, ray_runtime):
    rows = heldout_rows(5)
    rd = _run(tmp_path, rows)
    cfg = model_config(
        rd,
        tiny_model,
        evaluate={
            "judge": "vllm",
            "a": "vllm",
            "b": "rejected",
            "max_retries": 1,
            # room for the longest schema-valid answer (8 items, a 300-char rationale)
            "sampling": {"max_tokens": 700},
            "candidate_sampling": {"max_tokens": 24},
        },
    )
    summary = run_evaluate(cfg)
    rec = _assert_accounted(rd)
    cands = rd.table("eval/candidates").read(EVAL_CANDIDATES).to_pylist()
    a_side = [c for c in cands if c["candidate"] == "A"]
    assert len(a_side) == 5 and {c["model"] for c in a_side} == {tiny_model}
    assert all(c["response"] or c["error"] for c in a_side)
    assert summary["candidates"]["A"]["source"] == "engine"
    assert (
        summary["warnings"] and "self-preference" in summary["warnings"][0]
    )  # judge wrote candidate A
    verdicts = _verdicts(rd)
    judged = (
        rec["rows_in"]
        - rec["rejected_by_reason"].get("candidate_error", 0)
        - rec["rejected_by_reason"].get("candidate_missing", 0)
    )
    assert len(verdicts) == 2 * judged
    assert {v["order"] for v in verdicts} <= set(ORDERS)
    for v in verdicts:
        assert v["model"] == tiny_model and v["prompt_version"].startswith("judge.v1-")
        assert v["tokens_in"] > 0
        if v["error"]:
            assert v["error"].split(":")[0] in {"invalid_output", "engine_error", "missing_result"}
            assert v["verdict"] is None
        else:
            assert v["verdict"] in LEVELS and len(v["items_a"]) == len(v["checklist"])
        assert v["judge_output"] is not None or v["error"]
    assert (
        summary["n_prompts"]
        == rec["rows_out"]
        == judged - rec["rejected_by_reason"].get("judge_error", 0)
    )
    assert summary["judge_error_rows"] == sum(1 for v in verdicts if v["error"])
    assert rec["model_requests"] == 5 + 2 * judged
