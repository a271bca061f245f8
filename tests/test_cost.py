"""The cost projection's arithmetic (wfcore.cost) on fixed token counts, the model size it reads,
and the report's projection section built from a run manifest with model stages."""

from __future__ import annotations

import json
import struct

import pytest

from jobs.report import build_report
from jobs.report_html import render_html
from wfcore import cost
from wfcore.config import ConfigError, load_config
from wfcore.run import RunDir
from wfcore.schema import FEEDBACK, TURNS, to_table

RATES = {
    "size_class": "test",
    "gpus_per_replica": 1,
    "prompt_tokens_per_s": 10_000.0,
    "output_tokens_per_s": 1_000.0,
    "prompt_source": "p",
    "output_source": "o",
}


def test_projection_counts_uncached_prompt_and_output_time_and_scales_per_turn():
    # 100 turns: 50,000 prompt tokens of which 30,000 cached, 4,000 output tokens
    t = cost.StageTokens("detect", "m", 50_000, 30_000, 4_000, units=100, projected_units=1e6)
    p = cost.project_stage(t, RATES, gpu_hour_price=2.0)
    assert p["per_unit"] == {"uncached_prompt": 200.0, "cached_prompt": 300.0, "output": 40.0}
    assert p["projected_tokens"] == {
        "uncached_prompt": 200_000_000,
        "cached_prompt": 300_000_000,
        "output": 40_000_000,
    }
    # 2e8 / 1e4 + 4e7 / 1e3 = 20,000 + 40,000 GPU-seconds = 16.667 GPU-hours; cached cost nothing
    assert p["gpu_hours"] == pytest.approx(60_000 / 3600, abs=0.01)
    assert p["cost"] == pytest.approx(2.0 * 60_000 / 3600, abs=0.01)
    assert p["prefix_cache_hit_rate"] == 0.6


def test_cached_tokens_lower_the_projection_and_never_exceed_the_prompt():
    none = cost.project_stage(cost.StageTokens("d", "m", 10_000, 0, 0, 10, 1e5), RATES, 1.0)
    half = cost.project_stage(cost.StageTokens("d", "m", 10_000, 5_000, 0, 10, 1e5), RATES, 1.0)
    assert half["gpu_hours"] == pytest.approx(none["gpu_hours"] / 2, rel=0.01)
    over = cost.project_stage(cost.StageTokens("d", "m", 10_000, 99_999, 0, 10, 1e5), RATES, 1.0)
    assert over["per_unit"]["uncached_prompt"] == 0 and over["prefix_cache_hit_rate"] == 1.0
    with pytest.raises(ValueError):
        cost.project_stage(cost.StageTokens("d", "m", 1, 0, 0, 0, 1), RATES, 1.0)


def test_totals_add_the_stages():
    stages = [
        cost.project_stage(cost.StageTokens(s, "m", 36_000, 0, 3_600, 1, 1000), RATES, 3.0)
        for s in ("detect", "respond")
    ]
    # each: 1000 x (36,000 / 1e4 + 3,600 / 1e3) = 7,200 GPU-seconds = 2 GPU-hours
    assert all(s["gpu_hours"] == 2.0 and s["cost"] == 6.0 for s in stages)
    assert cost.project(stages, 3.0) == {"gpu_hours": 4.0, "cost": 12.0, "gpu_hour_price": 3.0}


def test_held_out_size_follows_assembles_budget():
    assert cost.heldout_size(1e6, k=70, per_cluster=10, max_fraction=0.05) == 700
    assert cost.heldout_size(2_000, k=70, per_cluster=10, max_fraction=0.05) == 100
    assert cost.heldout_size(1e6, 70, 10, 0.05, max_items=300, limit=50) == 50


def test_size_classes_have_a_source_for_every_rate_and_grow_slower():
    prev = None
    for c in cost.SIZE_CLASSES:
        assert c.prompt_source and c.output_source
        assert ("measured" in c.output_source) or ("assumption" in c.output_source)
        assert "assumption" in c.prompt_source
        if prev is not None:
            assert c.prompt_tokens_per_s < prev.prompt_tokens_per_s
            assert c.output_tokens_per_s < prev.output_tokens_per_s
        prev = c
    assert cost.size_class(0.135).name == "small" and cost.size_class(8).name == "8b"
    assert cost.size_class(70).name == "70b" and cost.size_class(405).name == "405b"
    assert cost.by_name("8b").output_tokens_per_s == 8_088.35
    # 0.4 x 989e12 / (2 x 8e9)
    assert cost.by_name("8b").prompt_tokens_per_s == pytest.approx(24_725, abs=10)


@pytest.mark.parametrize(
    "name, params",
    [
        ("meta-llama/Llama-3.1-70B-Instruct", 70),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", 0.135),
        ("Qwen/Qwen2.5-0.5B-Instruct", 0.5),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 7),
        ("meta-llama/Meta-Llama-3-8B", 8),
        ("served-model-name", None),
    ],
)
def test_model_size_is_read_from_the_name(name, params):
    got = cost.params_from_name(name)
    assert got == (pytest.approx(params) if params is not None else None)


def test_model_size_is_counted_from_safetensors_headers(tmp_path):
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [1000, 64], "data_offsets": [0, 256000]},
        "b": {"dtype": "F32", "shape": [64], "data_offsets": [256000, 256256]},
    }
    raw = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    params, how = cost.model_params(str(tmp_path))
    assert params == pytest.approx(64_064 / 1e9) and "safetensors" in how
    assert cost.model_params(str(tmp_path / "missing"))[0] is None


def _run_with_model_stages(path, cached: bool = True) -> RunDir:
    """A manifest as a vLLM run leaves it: 200 conversations read, 500 candidate turns."""
    rd = RunDir(str(path))
    rec = {
        "status": "done",
        "engine": "vllm",
        "model": "org/Some-8B-Instruct",
        "model_requests": 500,
        "tokens_in": 500_000,
        "tokens_out": 25_000,
    }
    stages = {
        "ingest": {"status": "done", "rows_in": 200, "rows_out": 200},
        "prepare": {"status": "done", "rows_in": 200, "rows_out": 180},
        "detect": {**rec, **({"tokens_cached": 400_000} if cached else {})},
        "respond": {**rec, "model": "org/Big-70B", "tokens_cached": 0},
        "preferences": {"status": "done", "engine": "none", "model_requests": 0},
    }
    rd.write_manifest({"stages": stages, "config": {}})
    turns = [
        {"turn_id": f"t{i}", "conversation_id": f"c{i % 180}", "message_index": 2 * (i // 180) + 2}
        for i in range(500)
    ]
    rd.table("turns").write(to_table(turns, TURNS))
    return rd


def test_report_projects_each_model_stage_from_the_manifest(tmp_path):
    rd = _run_with_model_stages(tmp_path / "run")
    cfg = load_config("default", [f"run={rd.uri}", "report.gpu_hour_price=2"])
    rep = build_report(rd, cfg)
    p = rep["cost"]["projection"]
    assert rep["cost"]["model_used"] and p["conversations"] == 1_000_000
    assert p["turns_per_conversation"] == 2.5 and p["projected_turns"] == 2_500_000
    by = {s["stage"]: s for s in p["stages"]}
    assert set(by) == {"detect", "respond"}, "preferences ran no model"
    d, r = by["detect"], by["respond"]
    assert d["per_unit"] == {"uncached_prompt": 200.0, "cached_prompt": 800.0, "output": 50.0}
    assert d["rates"]["size_class"] == "8b" and r["rates"]["size_class"] == "70b"
    expect = 2.5e6 * (200 / d["rates"]["prompt_tokens_per_s"] + 50 / 8_088.35) / 3600
    assert d["gpu_hours"] == pytest.approx(expect, abs=0.01)
    assert p["gpu_hours"] == pytest.approx(d["gpu_hours"] + r["gpu_hours"], abs=0.011)
    assert p["cost"] == pytest.approx(2 * p["gpu_hours"], abs=0.01)
    page = render_html(rep)
    line = page.split('id="cost-line">')[1].split("</p>")[0]
    assert "1,000,000" in line and "GPU-hours" in line and "$" in line
    assert "Lambda" in page.split('id="cost-sources"')[1], "each rate's source is written beside it"


def test_report_says_when_cached_tokens_were_not_recorded(tmp_path):
    rd = _run_with_model_stages(tmp_path / "run", cached=False)
    rep = build_report(rd, load_config("default", [f"run={rd.uri}"]))
    d = next(s for s in rep["cost"]["projection"]["stages"] if s["stage"] == "detect")
    assert not d["cached_recorded"] and d["per_unit"]["uncached_prompt"] == 1000.0
    assert "not recorded" in render_html(rep)


def test_configured_size_and_rates_replace_the_table(tmp_path):
    rd = _run_with_model_stages(tmp_path / "run")
    sets = [
        f"run={rd.uri}",
        "report.cost.model_size=small",
        "report.cost.output_tokens_per_s=500",
        "report.cost.conversations=1000",
    ]
    rep = build_report(rd, load_config("default", sets))
    p = rep["cost"]["projection"]
    assert p["projected_turns"] == 2_500
    for s in p["stages"]:
        assert s["rates"]["size_class"] == "small"
        assert s["rates"]["output_tokens_per_s"] == 500
        assert s["rates"]["output_source"] == "config: report.cost.output_tokens_per_s"


def test_a_run_saved_before_the_projection_still_loads_its_config():
    """Older manifests hold report.gpus_per_replica (the wall-time GPU-hours line it sized is
    gone); their config still loads for `wildfeedback report`, a user's file still may not."""
    saved = load_config("default", []).model_dump(mode="json")
    saved["report"]["gpus_per_replica"] = 1.0
    assert load_config(None, ["run=r"], base=saved).report.gpu_hour_price == 2.5
    with pytest.raises(ConfigError, match="gpus_per_replica"):
        load_config(None, ["report.gpus_per_replica=1"])


def test_a_model_judge_is_projected_per_judged_prompt_at_the_held_out_size_of_the_corpus(tmp_path):
    rd = _run_with_model_stages(tmp_path / "run")
    m = rd.manifest()
    m["stages"]["evaluate"] = {
        "status": "done",
        "judge": "org/Judge-70B",
        "model_requests": 40,
        "verdict_rows": 40,
        "rows_out": 19,
        "tokens_in": 60_000,
        "tokens_cached": 20_000,
        "tokens_out": 4_000,
    }
    rd.write_manifest(m)
    fb = [
        {
            "turn_id": f"t{i}",
            "conversation_id": f"c{i % 180}",
            "sat": False,
            "dsat": i < 100,
            "sat_categories": [],
            "dsat_categories": ["Revision"] if i < 100 else [],
        }
        for i in range(500)
    ]
    rd.table("feedback").write(to_table(fb, FEEDBACK))
    rep = build_report(rd, load_config("default", [f"run={rd.uri}"]))
    p = rep["cost"]["projection"]
    ev = next(s for s in p["stages"] if s["stage"] == "evaluate")
    assert ev["units"] == 20 and ev["unit"] == "judged held-out prompt", "2 verdicts per prompt"
    assert ev["per_unit"] == {"uncached_prompt": 2000.0, "cached_prompt": 1000.0, "output": 200.0}
    # 100 of 500 turns are feedback: 500,000 at 1M conversations; the held-out budget caps at
    # k x per_cluster = 700 (5% of the feedback turns would be 25,000)
    assert p["projected_heldout_prompts"] == ev["projected_units"] == 700
    assert ev["rates"]["size_class"] == "70b"
    r = ev["rates"]
    want = 700 * (2000 / r["prompt_tokens_per_s"] + 200 / r["output_tokens_per_s"]) / 3600
    assert ev["gpu_hours"] == pytest.approx(want, abs=0.01)
