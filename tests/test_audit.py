"""wfcore.audit (strata, allocation, labels, weighted scores with bootstrap intervals) and the
`wildfeedback audit sample|score` commands on a small hand-built run directory, with the figures
checked against a hand computation."""

from __future__ import annotations

import csv
import json

import pytest

from wfcore import audit
from wfcore.audit import AuditError, AuditTurn, Label
from wfcore.run import RunDir
from wfcore.schema import FEEDBACK, TURNS, to_table

from .wf import wf


def _turn(tid: str, stratum: str, pred: bool, gold: bool, passed: bool | None = None) -> AuditTurn:
    return AuditTurn(
        turn_id=tid,
        stratum=stratum,
        pred_sat=False,
        pred_dsat=pred,
        pred_categories=frozenset({"Revision"} if pred else ()),
        label=Label(sat=False, dsat=gold, categories=frozenset({"Revision"} if gold else ())),
        passed=passed,
    )


# the hand-computed case: stratum A (10 turns, 2 labelled, weight 5), B (30 turns, 3 labelled, weight 10)
TINY = [
    _turn("a1", "A", pred=True, gold=True, passed=True),
    _turn("a2", "A", pred=True, gold=False, passed=True),
    _turn("b1", "B", pred=False, gold=True, passed=False),
    _turn("b2", "B", pred=False, gold=False, passed=False),
    _turn("b3", "B", pred=False, gold=False, passed=True),
]
TINY_SIZES = {"A": 10, "B": 30}


def test_weighted_figures_match_a_hand_computation():
    res = audit.score(TINY, TINY_SIZES, n_boot=200, seed=1)
    d = res["signals"]["DSAT"]
    # weighted counts: tp 5, fp 5, fn 10, tn 20 (of 40 turns)
    assert d["weighted_counts"] == {"tp": 5.0, "fp": 5.0, "fn": 10.0, "tn": 20.0}
    est = d["estimate"]
    assert est["precision"] == pytest.approx(0.5)
    assert est["recall"] == pytest.approx(1 / 3)
    assert est["f1"] == pytest.approx(0.4)
    # kappa: observed 25/40, expected (10*15 + 30*25) / 40^2 = 0.5625
    assert est["kappa"] == pytest.approx((0.625 - 0.5625) / (1 - 0.5625))
    # unweighted on the 5 labelled turns: tp 1, fp 1, fn 1, tn 2
    assert d["counts"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 2}
    s = d["sample"]
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert s["kappa"] == pytest.approx((0.6 - 0.52) / (1 - 0.52))
    assert res["strata"] == {
        "A": {"turns": 10, "labelled": 2, "weight": 5.0},
        "B": {"turns": 30, "labelled": 3, "weight": 10.0},
    }
    # prefilter: gold positives a1 (passed, weight 5) and b1 (not passed, weight 10)
    assert res["prefilter"]["sample"] == 0.5
    assert res["prefilter"]["estimate"] == pytest.approx(5 / 15)
    assert res["categories"]["Revision"]["estimate"] == est  # the only category, same decisions


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    turns = [
        _turn(f"t{i}", "A" if i % 3 else "B", pred=i % 2 == 0, gold=i % 4 in (0, 1))
        for i in range(60)
    ]
    sizes = {"A": 400, "B": 100}
    one = audit.score(turns, sizes, n_boot=300, seed=5)
    two = audit.score(turns, sizes, n_boot=300, seed=5)
    other = audit.score(turns, sizes, n_boot=300, seed=6)
    assert one == two
    assert one["signals"]["DSAT"]["ci95"] != other["signals"]["DSAT"]["ci95"]
    for m in ("precision", "recall", "f1", "kappa"):
        lo, hi = one["signals"]["DSAT"]["ci95"][m]
        assert lo <= one["signals"]["DSAT"]["estimate"][m] <= hi
        assert lo < hi


def test_a_stratum_of_identical_turns_has_no_spread():
    turns = [_turn(f"t{i}", "A", pred=True, gold=True) for i in range(5)] + [
        _turn(f"u{i}", "B", pred=False, gold=False) for i in range(5)
    ]
    res = audit.score(turns, {"A": 50, "B": 50}, n_boot=100)
    assert res["signals"]["DSAT"]["ci95"]["precision"] == [1.0, 1.0]
    assert res["signals"]["DSAT"]["estimate"]["kappa"] == 1.0


def test_undefined_figures_are_none_not_zero():
    m = audit.binary_metrics(0, 0, 0, 10)
    assert m["precision"] is None and m["recall"] is None and m["f1"] is None and m["kappa"] is None
    assert audit.binary_metrics(0, 2, 3, 5)["f1"] == 0.0


def test_allocation_sums_to_n_caps_at_stratum_size_and_covers_every_stratum():
    sizes = {
        "none": 5000,
        "DSAT:Revision": 300,
        "SAT:Gratitude": 40,
        "SAT:Humor": 2,
        "DSAT:Style": 1,
    }
    for n in (5, 20, 200, 1000):
        alloc = audit.allocate(sizes, n)
        assert sum(alloc.values()) == n
        assert all(alloc[h] <= sizes[h] for h in sizes)
        assert all(alloc[h] >= 1 for h in sizes)
    alloc = audit.allocate(sizes, 200)
    assert alloc["none"] > alloc["DSAT:Revision"] > alloc["SAT:Gratitude"] > alloc["SAT:Humor"]
    assert audit.allocate(sizes, 10_000) == sizes


def test_sample_is_deterministic_per_seed_and_stratified():
    strata = {f"t{i}": ("none" if i % 5 else "DSAT:Revision") for i in range(500)}
    a = audit.stratified_sample(strata, 40, seed=1)
    assert a == audit.stratified_sample(strata, 40, seed=1)
    assert a != audit.stratified_sample(strata, 40, seed=2)
    assert len(a) == 40 and set(a.values()) == {"none", "DSAT:Revision"}
    assert all(strata[t] == h for t, h in a.items())


def test_strata_follow_the_detector_answer():
    assert audit.stratum_of(False, True, [], ["Revision", "Style"]) == "DSAT:Revision"
    assert audit.stratum_of(True, False, ["Gratitude"], []) == "SAT:Gratitude"
    assert audit.stratum_of(True, True, ["Gratitude"], ["Style"]) == "SAT+DSAT"
    assert audit.stratum_of(False, False) == "none"
    assert audit.stratum_of(False, False, prefiltered=True) == "none:prefiltered"


def test_labels_parse_leniently_and_fail_with_the_row():
    assert audit.parse_label({"sat": "", "dsat": "", "categories": ""}, "r") is None
    assert audit.parse_label({"sat": "0", "dsat": "yes"}, "r") == Label(False, True, frozenset())
    assert audit.parse_label({"categories": "revision; Style"}, "r") == Label(
        False, True, frozenset({"Revision", "Style"})
    )
    assert audit.parse_label({"sat": "x", "categories": ["Gratitude"]}, "r") == Label(
        True, False, frozenset({"Gratitude"})
    )
    with pytest.raises(AuditError, match="row 7 column dsat"):
        audit.parse_label({"dsat": "maybe"}, "row 7")
    with pytest.raises(AuditError, match="not a rubric category"):
        audit.parse_label({"dsat": "1", "categories": "Grumpy"}, "row 3")
    with pytest.raises(AuditError, match="DSAT categories given with dsat=0"):
        audit.parse_label({"dsat": "0", "categories": "Revision"}, "row 3")


# ---------------------------------------------------------------- the commands on a hand-built run


def _tiny_run(path) -> RunDir:
    """40 candidate turns of a model run with the prefilter: 10 DSAT:Revision, 30 prefiltered out."""
    rd = RunDir(str(path))
    turns, fb = [], []
    for i in range(40):
        tid, dsat = f"t{i:02d}", i < 10
        turns.append(
            {
                "turn_id": tid,
                "conversation_id": f"c{i:02d}",
                "message_index": 2,
                "shard": 0,
                "history": [{"role": "user", "content": f"request {i}"}],
                "response": f"answer {i}",
                "user_message": f"feedback {i}",
            }
        )
        fb.append(
            {
                "turn_id": tid,
                "conversation_id": f"c{i:02d}",
                "message_index": 2,
                "shard": 0,
                "sat": False,
                "dsat": dsat,
                "sat_categories": [],
                "dsat_categories": ["Revision"] if dsat else [],
                "evidence": "",
                "detector": "some-model" if dsat else "lexical-prefilter",
                "model": "m",
            }
        )
    rd.table("turns").write(to_table(turns, TURNS))
    rd.table("feedback").write(to_table(fb, FEEDBACK))
    rd.write_manifest(
        {
            "stages": {"detect": {"status": "done", "fingerprint": "fp1"}},
            "config": {"detect": {"engine": "vllm", "prefilter": "prefilter"}},
        }
    )
    return rd


def test_audit_sample_then_score_on_a_run(tmp_path):
    rd = _tiny_run(tmp_path / "run")
    wf("audit", "sample", "--run", rd.uri, "--n", "6", "--seed", "3")
    design = json.loads(open(rd.path("audit", "sample.json")).read())
    assert design["strata"] == {
        "DSAT:Revision": {"turns": 10, "sampled": 2},
        "none:prefiltered": {"turns": 30, "sampled": 4},
    }
    rows = list(csv.DictReader(open(rd.path("audit", "sheet.csv"), encoding="utf-8")))
    assert len(rows) == 6 and all(r["sat"] == r["dsat"] == r["categories"] == "" for r in rows)
    assert {r["turn_id"] for r in rows} == set(design["turns"])
    for r in rows:
        i = int(r["turn_id"][1:])
        assert (r["previous_user_message"], r["previous_response"], r["user_message"]) == (
            f"request {i}",
            f"answer {i}",
            f"feedback {i}",
        )
    assert "wildfeedback audit score" in open(rd.path("audit", "README.md")).read()
    assert [json.loads(x)["turn_id"] for x in open(rd.path("audit", "sheet.jsonl"))] == [
        r["turn_id"] for r in rows
    ]

    # the labeller confirms one of the 2 detected turns and finds one missed DSAT among the
    # prefiltered ones; one row is left blank
    detected = sorted(t for t, h in design["turns"].items() if h == "DSAT:Revision")
    missed = sorted(t for t, h in design["turns"].items() if h == "none:prefiltered")
    gold = {
        detected[0]: "1",
        detected[1]: "0",
        missed[0]: "1",
        missed[1]: "0",
        missed[2]: "0",
        missed[3]: "",
    }
    for r in rows:
        r["dsat"] = gold[r["turn_id"]]
        r["sat"] = "0" if gold[r["turn_id"]] else ""
    labels = tmp_path / "labels.csv"
    with open(labels, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = wf("audit", "score", "--run", rd.uri, "--labels", labels, "--bootstrap", "200").stdout
    assert "DSAT" in out
    res = json.loads(open(rd.path("audit", "scores.json")).read())
    assert res["rows"] == {
        "rows_read": 6,
        "scored": 5,
        "unlabelled": 1,
        "not_in_sample": 0,
        "not_in_run": 0,
        "duplicate_turn_id": 0,
    }
    # weights: detected 10/2 = 5, prefiltered 30/3 = 10 (3 labelled): the hand-computed case above
    d = res["signals"]["DSAT"]
    assert d["weighted_counts"] == {"tp": 5.0, "fp": 5.0, "fn": 10.0, "tn": 20.0}
    assert d["estimate"]["precision"] == pytest.approx(0.5)
    assert d["estimate"]["recall"] == pytest.approx(1 / 3)
    assert d["estimate"]["kappa"] == pytest.approx((0.625 - 0.5625) / (1 - 0.5625))
    # the prefilter passed the confirmed detected turn, not the missed one
    assert res["prefilter"]["sample"] == 0.5
    assert res["prefilter"]["estimate"] == pytest.approx(5 / 15)
    assert len(open(rd.path("audit", "scored.jsonl")).read().splitlines()) == 5


def test_audit_refuses_to_replace_a_sheet_and_bad_labels_exit_2(tmp_path):
    rd = _tiny_run(tmp_path / "run")
    wf("audit", "sample", "--run", rd.uri, "--n", "6")
    res = wf("audit", "sample", "--run", rd.uri, "--n", "8", check=False)
    assert res.returncode == 2 and "--force" in res.stderr
    wf("audit", "sample", "--run", rd.uri, "--n", "8", "--force")
    bad = tmp_path / "bad.jsonl"
    tid = next(iter(json.loads(open(rd.path("audit", "sample.json")).read())["turns"]))
    bad.write_text(json.dumps({"turn_id": tid, "dsat": "perhaps"}) + "\n")
    res = wf("audit", "score", "--run", rd.uri, "--labels", bad, check=False)
    assert res.returncode == 2 and "column dsat" in res.stderr and res.stderr.startswith("error:")
