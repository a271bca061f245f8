"""The run report's pure pieces (wfcore.report_data) and its HTML (jobs.report_html): figures,
seeded examples, escaping, PII, graceful rendering of other stages' summaries, the cost line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jobs.report import _cost, build_report, write_report
from jobs.report_html import SECTIONS, render_html
from wfcore import report_data as rd_
from wfcore.config import load_config
from wfcore.run import RunDir
from wfcore.schema import PAIRS, TURNS, to_table


def test_summary_quantiles_match_numpy():
    values = [5, 1, 9, 3, 3, 120, 44]
    s = rd_.summary(values)
    assert s["n"] == 7 and s["max"] == 120
    assert s["median"] == pytest.approx(np.percentile(values, 50), abs=0.05)
    assert s["p10"] == pytest.approx(np.percentile(values, 10), abs=0.05)
    assert s["p90"] == pytest.approx(np.percentile(values, 90), abs=0.05)
    assert rd_.summary([])["mean"] is None


def test_paired_lengths_give_the_share_of_longer_chosen():
    p = rd_.paired([10, 20, 30, 5], [5, 20, 40, 1])
    assert (p["chosen_longer"], p["equal"], p["rejected_longer"]) == (0.5, 0.25, 0.25)
    assert p["median_difference"] == 2.0
    with pytest.raises(ValueError):
        rd_.paired([1], [])


def test_histogram_puts_every_value_in_one_bin():
    values = list(range(0, 1000, 7))
    edges = rd_.nice_edges(values)
    hist = rd_.histogram(values, edges)
    assert sum(n for _, n in hist) == len(values)
    assert hist[-1][0].startswith(">=") and len(hist) <= 10


def test_seeded_pick_is_deterministic_and_stable_when_items_come_and_go():
    items = [f"p{i}" for i in range(100)]
    a = rd_.seeded_pick(items, str, 3, seed=0)
    assert a == rd_.seeded_pick(list(reversed(items)), str, 3, seed=0)
    assert a != rd_.seeded_pick(items, str, 3, seed=1)
    fewer = [x for x in items if x != a[2]]
    assert rd_.seeded_pick(fewer, str, 2, seed=0) == a[:2]


def test_highlight_escapes_and_marks_the_evidence():
    out, found = rd_.highlight("No <b>that's WRONG</b>, try again", "that's wrong")
    assert found and out == "No &lt;b&gt;<mark>that&#x27;s WRONG</mark>&lt;/b&gt;, try again"
    out, found = rd_.highlight("<x>", "not there")
    assert not found and out == "&lt;x&gt;"


def _report(**over) -> dict:
    cfg = load_config("default", [])
    rep = {
        "run": "r",
        "generated_at": "now",
        "code_version": "v",
        "categories": {"SAT": {}, "DSAT": {}},
        "funnel": {"pairs_by_type": {}},
        "examples": {},
        "distributions": {},
        "losses": {},
        "near_duplicates": {},
        "evaluation": None,
        "audit": None,
        "throughput": {},
        "tokens": {},
        "cost": {"model_used": False, "note": "No model was used"},
    }
    rep.update(over)
    assert cfg  # the shipped default loads
    return rep


def test_evaluation_summary_renders_with_its_interval_and_without_keys():
    full = {
        "n_prompts": 120,
        "wins": 70,
        "ties": 20,
        "losses": 30,
        "win_rate": 0.6667,
        "ci_low": 0.58,
        "ci_high": 0.75,
        "position_consistency": 0.83,
        "judge": "m",
        "checklist": True,
        "candidates": {"a": "x", "b": "y"},
        "per_category": {"Revision": {"win_rate": 0.7, "n": 40}},
    }
    page = render_html(_report(evaluation=full))
    assert "66.7%" in page and "58.0% to 75.0%" in page and "Revision" in page
    page = render_html(_report(evaluation={"win_rate": 0.5}))
    assert "50.0%" in page and "CI" not in page.split('id="win-rate"')[1].split("</p>")[0]
    page = render_html(_report(evaluation={"per_category": {"Style": 0.4}, "extra": [1, 2]}))
    assert "Style" in page
    assert "not evaluated" in render_html(_report())


def test_cost_line_says_when_no_model_was_used():
    page = render_html(_report())
    line = page.split('id="cost-line">')[1].split("</p>")[0]
    assert "No model was used" in line and "per 1,000 pairs" not in line
    detect = {
        "engine": "vllm",
        "model": "org/m-8B",
        "model_requests": 20,
        "tokens_in": 1000,
        "tokens_cached": 500,
        "tokens_out": 100,
    }
    funnel = {"conversations_read": 10, "candidate_turns": 20, "pairs": 5}
    c = _cost({"detect": detect}, funnel, None, load_config("default", []))
    line = render_html(_report(cost=c)).split('id="cost-line">')[1].split("</p>")[0]
    assert "1,000,000" in line and "GPU-hours" in line and "per 1,000 pairs" in line
    assert c["projection"]["projected_pairs"] == 500_000


def test_every_section_is_present_even_when_empty():
    page = render_html(_report())
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in page


def _mini_run(path) -> RunDir:
    """A run with a few turns and pairs, one chosen text hostile (markup) and one with an e-mail."""
    rd = RunDir(str(path))
    turns, pairs = [], []
    for i in range(6):
        prompt = [
            {"role": "user", "content": f"write a poem {i}"},
            {"role": "assistant", "content": f"poem {i}"},
            {"role": "user", "content": f"shorter please {i}"},
        ]
        turns.append(
            {
                "turn_id": f"t{i}",
                "conversation_id": f"c{i}",
                "message_index": 2,
                "shard": 0,
                "history": prompt[:1],
                "response": f"poem {i}",
                "user_message": f"no, shorter please {i}",
            }
        )
        pairs.append(
            {
                "pair_id": f"p{i}",
                "conversation_id": f"c{i}",
                "message_index": 2,
                "prompt": prompt,
                "chosen": "<script>alert(1)</script>"
                if i == 0
                else f"mail me at jo{i}@example.com, a short poem",
                "rejected": f"poem {i}",
                "pair_type": "harvested" if i % 2 else "generated",
                "signal": "DSAT",
                "categories": ["Style"],
                "preferences": ["Be shorter"],
                "split": "train",
                "tokens": "{}",
            }
        )
    rd.table("turns").write(to_table(turns, TURNS))
    rd.table("pairs").write(to_table(pairs, PAIRS))
    rd.write_manifest({"stages": {}, "config": {}})
    return rd


def test_examples_are_seeded_escaped_and_pii_scrubbed(tmp_path):
    rd = _mini_run(tmp_path / "run")
    cfg = load_config("default", [f"run={rd.uri}"])
    a, b = build_report(rd, cfg), build_report(rd, cfg)
    assert a["examples"] == b["examples"]
    groups = a["examples"]["groups"]
    assert set(groups) == {"type: generated", "type: harvested", "category: Style"}
    assert all(len(v) == 2 for v in groups.values())
    shown = json.dumps(a["examples"])
    assert "@example.com" not in shown
    write_report(rd, cfg)
    page = open(rd.path("report.html"), encoding="utf-8").read()
    assert "<script>alert(1)</script>" not in page
    assert a["distributions"]["chars_paired"]["pairs"] == 6
