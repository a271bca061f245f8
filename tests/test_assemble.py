"""The Spark assemble job on a planted run: every pair type, every filter counted, the same
result as the pure reference rules, no split leakage across near-dup clusters, identical
output on rerun, and a TRL export that datasets loads."""

from __future__ import annotations

import json
import os

import pytest

from jobs import assemble
from jobs.context import StageContext
from jobs.pipeline import _check_accounting
from jobs.spark import get_spark
from tests.pairs_cases import conv, feedback_row, msgs, preference_row, response_row, turn_rows
from wfcore import pairs as P
from wfcore import schema
from wfcore.config import Config
from wfcore.run import RunDir

pytestmark = pytest.mark.spark

SAFETY_MODULE = "wf_assemble_test_safety"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    cfg = Config().prepare.spark.model_copy(update={"master": "local[2]", "shuffle_partitions": 2})
    s = get_spark(cfg)
    d = tmp_path_factory.mktemp("hook")
    path = d / f"{SAFETY_MODULE}.py"
    path.write_text("def flag(text):\n    return 'UNSAFE' in (text or '')\n")
    s.sparkContext.addPyFile(str(path))
    yield s
    s.stop()


def planted() -> list[dict]:
    """(conversation spec) list: messages, labels, responses, preferences, cluster, flags."""
    cases = []
    # harvested pairs in 12 clusters of 3 near-duplicate conversations each (tests the split)
    for i in range(36):
        cases.append({"cid": f"h{i}", "cluster": f"k{i // 3}", "labels": {2: "DSAT", 4: "SAT"},
                      "messages": msgs(f"write poem {i}", f"bad poem {i}", "no, rhyme it", f"rhymed poem {i}", "thanks")})
    cases += [
        {"cid": "gen", "labels": {2: "DSAT"}, "messages": msgs("explain tides", "tides are waves", "wrong, that's not it"),
         "responses": {2: {"preferred": "Tides come from the moon's pull."}}, "preferences": {2: ["Be accurate"]}},
        {"cid": "onp", "labels": {2: "DSAT"}, "messages": msgs("sum 2+2", "5", "that's wrong"),
         "responses": {2: {"preferred": "4", "unconditioned": "2+2 is 5"}}},
        {"cid": "sat", "labels": {2: "SAT"}, "messages": msgs("capital of France?", "Paris.", "thanks!"),
         "responses": {2: {"unconditioned": "It is Lyon."}}},
        {"cid": "same", "labels": {2: "DSAT"}, "messages": msgs("q same", "Same Answer", "no"),
         "responses": {2: {"preferred": "same   answer"}}},
        {"cid": "trunc", "labels": {2: "DSAT"}, "messages": msgs("q trunc", "a trunc", "no"),
         "responses": {2: {"preferred": ("long and cut", "length")}}},
        {"cid": "flag", "flagged": True, "labels": {2: "DSAT"},
         "messages": msgs("q flag", "a flag", "no, again", "b flag")},
        {"cid": "unsafe", "labels": {2: "DSAT"}, "messages": msgs("q unsafe", "a unsafe", "no"),
         "responses": {2: {"preferred": "UNSAFE content"}}},
        {"cid": "long", "labels": {2: "DSAT"}, "messages": msgs("x" * 500, "a long", "no", "b long")},
        {"cid": "dup1", "labels": {2: "DSAT"}, "messages": msgs("q dup", "a dup", "redo", "b dup")},
        {"cid": "dup2", "labels": {2: "DSAT"}, "messages": msgs("q dup", "a dup", "redo", "b dup")},
        {"cid": "nosig", "labels": {}, "messages": msgs("q", "a", "ok", "b")},
        {"cid": "notacc", "labels": {2: "DSAT", 4: "DSAT"}, "messages": msgs("q n", "a n", "no", "b n", "still no")},
        {"cid": "sat-unsafe", "labels": {2: "SAT"}, "messages": msgs("q su", "UNSAFE but liked", "thanks!")},
        {"cid": "opener", "labels": {2: "DSAT"},
         "messages": msgs("q op", "a op", "shorter", "Sure, here's a shorter version:\n\nb op", "ok")},
        {"cid": "opener-drop", "labels": {2: "DSAT"},
         "messages": msgs("q od", "a od", "wrong", "You're right, my apologies.", "ok")},
    ]
    return cases


def write_run(root, cases, with_optional=True) -> RunDir:
    run = RunDir(root)
    prepared, turns, feedback, prefs, resps = [], [], [], [], []
    for c in cases:
        cid, cluster = c["cid"], c.get("cluster", c["cid"])
        prepared.append({"conversation_id": cid, "source": "synthetic", "messages": c["messages"], "language": "English",
                         "model": "gpt-x", "moderation_flagged": c.get("flagged", False), "cluster_id": cluster, "shard": 0})
        for t in turn_rows(cid, c["messages"], cluster, c.get("flagged", False)):
            turns.append(t)
            k = t["message_index"]
            feedback.append(feedback_row(t, c["labels"].get(k)))
            for variant, v in c.get("responses", {}).get(k, {}).items():
                text, finish = v if isinstance(v, tuple) else (v, "stop")
                resps.append(response_row(t, variant, text, finish))
            if k in c.get("preferences", {}):
                prefs.append(preference_row(t, c["labels"][k], c["preferences"][k]))
    # a detection that failed validation is no signal (it would harvest "nosig" otherwise)
    nosig = next(t for t in turns if t["conversation_id"] == "nosig" and t["message_index"] == 2)
    feedback.append(dict(feedback_row(nosig, "DSAT"), error="invalid json"))
    run.table("prepared").write(schema.to_table(prepared, schema.PREPARED))
    run.table("turns").write(schema.to_table(turns, schema.TURNS))
    run.table("feedback").write(schema.to_table(feedback, schema.FEEDBACK))
    if with_optional:
        run.table("preferences").write(schema.to_table(prefs, schema.PREFERENCES))
        run.table("responses").write(schema.to_table(resps, schema.RESPONSES))
    return run


def reference(cases, opts: P.PairOptions, balance=None) -> list[dict]:
    """What the pure rules say the job must keep and reject."""
    cands = []
    for c in cases:
        cv = conv(c["cid"], c["messages"], c["labels"], c.get("responses"), c.get("preferences"),
                  c.get("flagged", False), c.get("cluster"))
        cands += P.conversation_candidates(cv, opts)[0]
    balance = balance or {}
    return P.corpus_filters(cands, balance.get("max_per_signal"), balance.get("max_per_category"))


def run_assemble(run: RunDir, sets: dict | None = None) -> StageContext:
    cfg = Config(run=run.uri)
    cfg.prepare.spark.master = "local[2]"
    cfg.prepare.spark.shuffle_partitions = 2
    cfg.assemble.safety_classifier = f"{SAFETY_MODULE}:flag"
    cfg.assemble.max_prompt_chars = 300
    cfg.assemble.split.test_fraction = 0.3
    cfg.assemble.heldout.enabled = False  # the exact-reference checks here; tests/test_heldout.py covers it
    for k, v in (sets or {}).items():
        obj = cfg.assemble
        *head, last = k.split(".")
        for h in head:
            obj = getattr(obj, h)
        setattr(obj, last, v)
    ctx = StageContext(name="assemble", run=run, cfg=cfg, fingerprint="fp-test")
    ctx.record = {"rows_in": 0, "rows_out": 0, "rows_rejected": 0, "rejected_by_reason": {}}
    assemble.run(ctx)
    _check_accounting("assemble", ctx.record)
    return ctx


@pytest.fixture(scope="module")
def assembled(spark, tmp_path_factory):
    d = tmp_path_factory.mktemp("assemble")
    cases = planted()
    run = write_run(d / "run", cases)
    ctx = run_assemble(run)
    return run, cases, ctx


def kept_pairs(run: RunDir) -> list[dict]:
    return sorted(run.table("pairs").read(schema.PAIRS).to_pylist(), key=lambda p: p["pair_id"])


def test_spark_job_keeps_and_rejects_exactly_what_the_pair_rules_say(assembled):
    run, cases, ctx = assembled
    opts = P.PairOptions.from_config(ctx.cfg.assemble)
    ref = reference(cases, opts)
    expected_kept = sorted(p["pair_id"] for p in ref if p["reject_reason"] is None)
    got = kept_pairs(run)
    assert [p["pair_id"] for p in got] == expected_kept
    by_reason: dict[str, int] = {}
    for p in ref:
        if p["reject_reason"]:
            by_reason[p["reject_reason"]] = by_reason.get(p["reject_reason"], 0) + 1
    assert ctx.record["rejected_by_reason"] == by_reason
    # every planted filter fired once
    for reason in (P.R_SAME, P.R_TRUNCATED, P.R_SAFETY_FLAG, P.R_SAFETY_CLASSIFIER, P.R_PROMPT_LONG, P.R_DUP_PAIR,
                   P.R_CHOSEN_REFERS_TO_FEEDBACK):
        assert by_reason.get(reason) == 1, reason
    assert ctx.record["harvest_opener_removed"] == 1
    assert ctx.record["rows_in"] == len(ref) == ctx.record["rows_out"] + ctx.record["rows_rejected"]
    assert ctx.record["harvest_skipped"] == {P.H_NO_REVISION: 6, P.H_NOT_ACCEPTED: 1}
    assert run.table("pairs").num_rows() == ctx.record["rows_out"]


def test_each_pair_type_is_built_from_its_planted_case(assembled):
    run, _, _ = assembled
    got = {(p["conversation_id"], p["pair_type"]): p for p in kept_pairs(run)}
    h = got[("h0", P.HARVESTED)]
    assert (h["chosen"], h["rejected"], h["prompt"]) == ("rhymed poem 0", "bad poem 0", msgs("write poem 0"))
    g = got[("gen", P.GENERATED)]
    assert (g["chosen"], g["rejected"], g["preferences"]) == ("Tides come from the moon's pull.", "tides are waves", ["Be accurate"])
    assert json.loads(g["prompt_versions"])["respond"] == "respond-1" and g["chosen_model"] == "writer"
    o = got[("onp", P.ON_POLICY)]
    assert (o["chosen"], o["rejected"], o["rejected_model"]) == ("4", "2+2 is 5", "policy")
    s = got[("sat", P.SAT_ON_POLICY)]
    assert (s["chosen"], s["rejected"], s["signal"]) == ("Paris.", "It is Lyon.", "SAT")
    for p in got.values():
        assert p["prompt"][-1]["role"] == "user" and p["chosen"] and p["rejected"]
    sft = run.table("sft").read(schema.SFT).to_pylist()
    assert [(r["conversation_id"], r["response"]) for r in sft if r["conversation_id"] == "sat"] == [("sat", "Paris.")]
    assert got[("opener", P.HARVESTED)]["chosen"] == "B op"  # the feedback opener is cut (first letter capitalised)


def test_sft_rows_pass_the_pairs_filter_so_the_safety_classifier_removes_them_too(assembled):
    run, cases, ctx = assembled
    sft = run.table("sft").read(schema.SFT).to_pylist()
    assert "sat-unsafe" not in {r["conversation_id"] for r in sft} and "sat" in {r["conversation_id"] for r in sft}
    assert ctx.record["sft_rejected_by_reason"] == {P.R_SAFETY_CLASSIFIER: 1}
    opts = P.PairOptions.from_config(ctx.cfg.assemble)
    ref = [s for c in cases
           for s in P.conversation_candidates(conv(c["cid"], c["messages"], c["labels"], c.get("responses"),
                                                   c.get("preferences"), c.get("flagged", False), c.get("cluster")), opts)[1]]
    assert sorted(r["sft_id"] for r in sft) == sorted(s["sft_id"] for s in ref if s["reject_reason"] is None)
    assert ctx.record["sft_rows"] == len(sft)


def test_no_near_dup_cluster_straddles_the_splits(assembled):
    run, _, _ = assembled
    pairs = kept_pairs(run)
    split_of_cluster: dict[str, set] = {}
    for p in pairs:
        split_of_cluster.setdefault(p["cluster_id"], set()).add(p["split"])
    assert all(len(s) == 1 for s in split_of_cluster.values())
    assert {p["split"] for p in pairs} == {"train", "test"}
    sft = run.table("sft").read(schema.SFT).to_pylist()
    for r in sft:
        assert split_of_cluster.get(r["cluster_id"], {r["split"]}) == {r["split"]}


def test_trl_export_loads_and_every_prompt_ends_with_the_user(assembled, tmp_path):
    import datasets

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    run, _, ctx = assembled
    n = 0
    for split in ("train", "test"):
        f = run.path("export", "trl", f"{split}.jsonl")
        ds = datasets.load_dataset("json", data_files=f, split="train", cache_dir=str(tmp_path))
        for row in ds:
            assert row["prompt"][-1]["role"] == "user" and all(m["content"] for m in row["prompt"])
            assert row["chosen"][0]["content"] and row["rejected"][0]["content"]
        n += ds.num_rows
    assert n == ctx.record["rows_out"] == ctx.record["exports"]["pairs"]
    card = open(run.path("export", "README.md"), encoding="utf-8").read()
    assert f"| {ctx.record['rows_in']:,} | {ctx.record['rows_out']:,} | {ctx.record['rows_rejected']:,} |" in card


def test_rerun_gives_identical_pairs_and_exports(assembled):
    run, _, _ = assembled
    before = kept_pairs(run)
    trl = open(run.path("export", "trl", "train.jsonl"), "rb").read()
    run_assemble(run)
    assert kept_pairs(run) == before
    assert open(run.path("export", "trl", "train.jsonl"), "rb").read() == trl


def test_balancing_caps_in_spark_match_the_reference_and_runs_without_model_outputs(spark, tmp_path):
    cases = planted()
    run = write_run(tmp_path / "run", cases, with_optional=False)  # offline default: no preferences/responses
    ctx = run_assemble(run, {"balance.max_per_signal": {"DSAT": 10}, "balance.max_per_category": 8})
    stripped = [{k: v for k, v in c.items() if k not in ("responses", "preferences")} for c in cases]
    ref = reference(stripped, P.PairOptions.from_config(ctx.cfg.assemble),
                    {"max_per_signal": {"DSAT": 10}, "max_per_category": 8})
    assert [p["pair_id"] for p in kept_pairs(run)] == sorted(p["pair_id"] for p in ref if p["reject_reason"] is None)
    assert ctx.record["rows_out"] == 8
    assert ctx.record["rejected_by_reason"][P.R_CAP_SIGNAL] > 0
    assert ctx.record["rejected_by_reason"][P.R_CAP_CATEGORY] == 2
    assert {p["pair_type"] for p in kept_pairs(run)} == {P.HARVESTED}


def test_judge_on_policy_keeps_only_pairs_whose_chosen_wins_in_both_orders(spark, tmp_path):
    """assemble.judge_on_policy with the rule judge: the preferences are the checklist."""
    long = "This answer is written out at length, in many more words than anyone asked for here."
    cases = [
        {"cid": "keep", "labels": {2: "DSAT"}, "messages": msgs("sum 2+2", long, "too long"),
         "responses": {2: {"preferred": "It is 4.", "unconditioned": long}}, "preferences": {2: ["Answers in under 10 words"]}},
        {"cid": "lose", "labels": {2: "DSAT"}, "messages": msgs("sum 3+3", "6", "shorter"),
         "responses": {2: {"preferred": long, "unconditioned": "It is 6."}}, "preferences": {2: ["Answers in under 10 words"]}},
        {"cid": "tie", "labels": {2: "DSAT"}, "messages": msgs("sum 4+4", "9", "wrong"),
         "responses": {2: {"preferred": "8", "unconditioned": "9"}}, "preferences": {2: ["Is correct"]}},
        {"cid": "harv", "labels": {2: "DSAT", 4: "SAT"}, "messages": msgs("poem", "bad poem", "rhyme it", "rhymed poem", "thanks")},
        {"cid": "nosig", "labels": {}, "messages": msgs("q", "a", "ok", "b")},  # write_run plants a failed detection here
    ]
    run = write_run(tmp_path / "run", cases)
    ctx = run_assemble(run, {"judge_on_policy": True})
    rec = ctx.record
    assert rec["judge_on_policy"]["judged"] == 3 and rec["judge_on_policy"]["kept"] == 1
    assert rec["rejected_by_reason"].get("judge_not_preferred") == 2
    pairs = {p["conversation_id"]: p for p in kept_pairs(run)}
    assert set(pairs) >= {"keep", "harv"} and not {"lose", "tie"} & set(pairs)
    lineage = json.loads(pairs["keep"]["judge"])
    assert lineage["model"] == "lexical" and lineage["verdicts"] == {"AB": "A>B", "BA": "A>B"}
    assert pairs["harv"]["judge"] is None  # only on-policy pairs are judged
    plain = run_assemble(write_run(tmp_path / "plain", cases))
    assert "judge_on_policy" not in plain.record and {p["conversation_id"] for p in kept_pairs(RunDir(str(tmp_path / "plain")))} >= {"lose", "tie"}
