"""The held-out evaluation set: usability rules, k-means and selection on fixed vectors (pure,
milliseconds), the real embedding model, and assemble with Spark + Ray Data + the model on the
planted run of test_assemble: the set is written, and none of its conversations or near-dup
clusters reaches a pair, an SFT example or an export."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.test_assemble import planted, reference, run_assemble, spark, write_run  # noqa: F401
from wfcore import heldout as H
from wfcore import pairs as P
from wfcore import schema

OPTS = H.HeldoutOptions()


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- usability


@pytest.mark.parametrize(
    "prompt, checklist, reason",
    [
        (user("hi there!"), ["Be friendly back"], H.U_GREETING),
        (user("Thanks, how are you?"), ["Answer the question"], H.U_GREETING),
        (user("poem"), ["Make it rhyme"], H.U_SHORT),
        (user("write haiku"), ["Make it rhyme"], H.U_SHORT),
        (user("write a haiku about rain"), [], H.U_NO_CHECKLIST),
        (
            [*user("write a haiku"), {"role": "assistant", "content": "..."}],
            ["Make it rhyme"],
            H.U_NO_REQUEST,
        ),
        ([], ["Make it rhyme"], H.U_NO_REQUEST),
        (user("   "), ["Make it rhyme"], H.U_NO_REQUEST),
        (user("write a haiku about rain"), ["Make it rhyme"], None),
    ],
)
def test_greetings_short_prompts_and_missing_checklists_are_unusable(prompt, checklist, reason):
    assert H.unusable_reason(prompt, checklist, "DSAT", False, OPTS) == reason


def test_flagged_long_and_unselected_signal_turns_are_unusable():
    ok = user("write a haiku about rain")
    assert H.unusable_reason(ok, ["Make it rhyme"], "DSAT", True, OPTS) == H.U_FLAGGED
    assert (
        H.unusable_reason(ok, ["Make it rhyme"], "SAT", False, H.HeldoutOptions(signals=("DSAT",)))
        == H.U_SIGNAL
    )
    long = user("write a haiku about " + "rain " * 100)
    assert (
        H.unusable_reason(
            long, ["Make it rhyme"], "DSAT", False, H.HeldoutOptions(max_prompt_chars=100)
        )
        == H.U_TOO_LONG
    )


def test_checklist_drops_blank_repeated_and_one_word_statements():
    got = H.clean_checklist(
        ["Use the year 1989", "use the  year 1989", "Shorter", "  ", "Include  references "]
    )
    assert got == ["Use the year 1989", "Include references"]


def test_embedded_text_puts_the_task_before_the_checklist_and_bounds_it():
    text = H.embed_text("x " * 5000, ["Be shorter"], max_request_chars=100)
    assert text.startswith("x x") and text.endswith("Preferences: Be shorter") and len(text) < 140


def test_heldout_ids_are_content_derived():
    assert H.heldout_id("c1", 2) == H.heldout_id("c1", 2) != H.heldout_id("c1", 4)


# ---------------------------------------------------------------- budget, k-means, selection


def test_budget_is_a_fraction_of_feedback_turns_and_keeps_the_clusters():
    assert H.item_budget(100_000, 90_000, OPTS) == (700, 70, 10)  # the paper's 70 x 10
    # 5% of the demo's feedback turns: 70 clusters, the most central item of each
    assert H.item_budget(1_467, 1_412, OPTS) == (73, 70, 1)
    assert H.item_budget(200, 150, OPTS) == (10, 10, 1)
    assert H.item_budget(19, 19, OPTS) == (0, 0, 0)  # under 20 feedback turns: no held-out set
    assert H.item_budget(10_000, 3, OPTS) == (3, 3, 1)  # never more than the usable items
    assert H.item_budget(100_000, 90_000, H.HeldoutOptions(max_items=50)) == (50, 50, 1)


def blobs(
    n_per: int = 12, centers: int = 5, dim: int = 16, seed: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated unit-vector clusters around orthogonal axes."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for c in range(centers):
        base = np.zeros(dim)
        base[c] = 1.0
        for _ in range(n_per):
            v = base + 0.05 * rng.standard_normal(dim)
            x.append(v / np.linalg.norm(v))
            y.append(c)
    return np.array(x), np.array(y)


def test_kmeans_recovers_separated_clusters_and_is_deterministic():
    x, truth = blobs()
    c1, l1 = H.kmeans(x, 5, seed=0)
    c2, l2 = H.kmeans(x, 5, seed=0)
    assert np.array_equal(l1, l2) and np.allclose(c1, c2)
    # the same partition as the truth, up to label names
    assert len({(a, b) for a, b in zip(truth, l1, strict=True)}) == 5 == len(set(l1))


def test_kmeans_clips_k_to_the_points():
    x, _ = blobs(n_per=1, centers=3)
    centers, labels = H.kmeans(x, 10)
    assert centers.shape[0] == 3 and sorted(labels.tolist()) == [0, 1, 2]


def test_select_takes_the_items_nearest_each_centroid():
    x, truth = blobs(n_per=12, centers=5)
    n = len(x)
    convs = [f"c{i}" for i in range(n)]
    opts = H.HeldoutOptions(k=5, per_cluster=2, max_fraction=1.0, near_dup_threshold=1.0)
    sel = H.select(x, convs, convs, n, opts)
    assert (sel.clusters, sel.per_cluster, len(sel.chosen)) == (5, 2, 10)
    for c in range(5):
        members = [i for i in sel.chosen if sel.cluster[i] == c]
        assert len(members) == 2 and len({truth[i] for i in members}) == 1
        # each is among the 2 nearest of its cluster to the centroid
        same = np.flatnonzero(truth == truth[members[0]])
        centroid = x[same].mean(0)
        centroid /= np.linalg.norm(centroid)
        nearest = set(same[np.argsort(-(x[same] @ centroid), kind="stable")[:2]].tolist())
        assert set(members) == nearest
    assert sel.dropped == {}


def test_select_never_takes_two_items_of_a_conversation_or_near_dup_cluster():
    x, _ = blobs(n_per=6, centers=3)
    n = len(x)
    convs = [f"c{i // 2}" for i in range(n)]  # two items per conversation
    dups = [f"k{i // 4}" for i in range(n)]  # near-dup clusters of two conversations
    opts = H.HeldoutOptions(k=3, per_cluster=6, max_fraction=1.0, near_dup_threshold=1.0)
    sel = H.select(x, convs, dups, n, opts)
    picked_convs = [convs[i] for i in sel.chosen]
    picked_dups = [dups[i] for i in sel.chosen]
    assert len(set(picked_convs)) == len(picked_convs) and len(set(picked_dups)) == len(picked_dups)
    assert len(sel.chosen) == len(set(dups))  # one per near-dup cluster, none lost to the rule
    assert sel.dropped.get(H.D_SAME_CONVERSATION, 0) + sel.dropped.get(
        H.D_SAME_NEAR_DUP, 0
    ) == n - len(sel.chosen)


def test_near_duplicates_by_cosine_are_skipped_and_the_next_nearest_takes_their_place():
    rng = np.random.default_rng(0)
    a = np.zeros(8)
    a[0] = 1
    twin = a + 1e-4 * rng.standard_normal(8)  # cosine ~1 with a
    other = a + 0.6 * np.eye(8)[1]  # cosine ~0.86 with a
    x = np.stack([a, twin, other])
    ids = ["c0", "c1", "c2"]
    sel = H.select(
        x,
        ids,
        ids,
        3,
        H.HeldoutOptions(k=1, per_cluster=2, max_fraction=1.0, near_dup_threshold=0.95),
    )
    assert sel.dropped == {H.D_NEAR_DUPLICATE: 1}
    assert len(sel.chosen) == 2 and 2 in sel.chosen and not {0, 1} <= set(sel.chosen)


def test_selection_is_the_same_for_the_same_items_and_seed():
    x, _ = blobs(n_per=20, centers=6, seed=9)
    ids = [f"c{i}" for i in range(len(x))]
    opts = H.HeldoutOptions(k=6, per_cluster=3, max_fraction=1.0, near_dup_threshold=0.99)
    assert H.select(x, ids, ids, len(x), opts).chosen == H.select(x, ids, ids, len(x), opts).chosen


# ---------------------------------------------------------------- the real embedding model


def test_packaged_minilm_embeds_unit_vectors_and_paraphrases_are_closest():
    from wfcore.embed import SentenceEmbedder

    e = SentenceEmbedder(batch_size=2)
    texts = [
        "How do I reverse a list in Python?",
        "What is the way to reverse a Python list?",
        "Write a poem about autumn leaves.",
        "",
    ]
    v = e.encode(texts)
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
    assert np.allclose(e.encode(texts[:1]), v[:1], atol=1e-5), "batching does not change a vector"


# ---------------------------------------------------------------- assemble: Spark + Ray Data + model

HELD = {
    "heldout.enabled": True,
    "heldout.max_fraction": 0.25,
    "heldout.k": 4,
    "heldout.per_cluster": 2,
}


@pytest.fixture(scope="module")
def held_run(spark, tmp_path_factory):  # noqa: F811
    run = write_run(tmp_path_factory.mktemp("heldout") / "run", planted())
    ctx = run_assemble(run, HELD)
    return run, ctx


def test_assemble_writes_the_heldout_set_with_its_columns_and_counts(held_run):
    run, ctx = held_run
    rec = ctx.record["heldout"]
    table = run.table("heldout").read()
    assert table.schema.names == schema.HELDOUT.names
    rows = table.to_pylist()
    assert 0 < len(rows) == rec["items"] <= rec["budget"] and rec["clusters"] <= 4
    assert rec["feedback_turns"] == rec["usable"] + sum(rec["unusable_by_reason"].values())
    assert (
        rec["usable"] == rec["items"] + sum(rec["dropped_by_reason"].values()) + rec["not_examined"]
    )
    assert rec["unusable_by_reason"].get(H.U_SHORT, 0) > 0  # "q dup", "sum 2+2", ... are no task
    for r in rows:
        assert r["prompt"][-1]["role"] == "user" and len(H.words(r["prompt"][-1]["content"])) >= 3
        assert (
            r["checklist"]
            and 0 <= r["cluster"] < rec["clusters"]
            and r["signal"] in ("SAT", "DSAT")
        )
        assert r["chosen"] or r["rejected"]
        if r["pair_type"] is not None:
            assert r["chosen"] and r["rejected"]
    assert len({r["heldout_id"] for r in rows}) == len(rows)
    assert len({r["conversation_id"] for r in rows}) == len(rows)
    assert len({r["cluster_id"] for r in rows}) == len(rows)


def test_no_heldout_conversation_or_cluster_reaches_pairs_sft_or_exports(held_run):
    run, ctx = held_run
    rows = run.table("heldout").read().to_pylist()
    convs = {r["conversation_id"] for r in rows}
    clusters = {r["cluster_id"] for r in rows}
    pairs = run.table("pairs").read(schema.PAIRS).to_pylist()
    sft = run.table("sft").read(schema.SFT).to_pylist()
    assert pairs and sft
    for r in pairs + sft:
        assert r["conversation_id"] not in convs and r["cluster_id"] not in clusters
    export = run.path("export")
    for d, _, files in os.walk(export):
        for f in files:
            if f.endswith(".parquet"):
                for r in pq.read_table(os.path.join(d, f)).to_pylist():
                    assert r["conversation_id"] not in convs
    trl = []
    for split in ("train", "test"):
        with open(run.path("export", "trl", f"{split}.jsonl"), encoding="utf-8") as fh:
            trl += [json.loads(line) for line in fh]
    with open(run.path("export", "sft.jsonl"), encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == len(sft)
    # TRL rows carry no ids: they are exactly the committed pairs (which carry none held out)
    key = lambda p: json.dumps([p["prompt"], p["chosen"], p["rejected"]], sort_keys=True)  # noqa: E731
    from wfcore.export import trl_record

    assert sorted(map(key, trl)) == sorted(key(trl_record(p)) for p in pairs)
    assert ctx.record["heldout"]["sft_excluded"] > 0


def test_exclusion_comes_before_duplicates_caps_and_split_and_is_counted(held_run):
    run, ctx = held_run
    rows = run.table("heldout").read().to_pylist()
    convs = {r["conversation_id"] for r in rows}
    clusters = {r["cluster_id"] for r in rows}
    opts = P.PairOptions.from_config(ctx.cfg.assemble)
    cands = reference(planted(), opts)  # already through the pure corpus rules; redo with exclusion
    for p in cands:
        if p["reject_reason"] in (P.R_DUP_ID, P.R_DUP_PAIR, P.R_CAP_SIGNAL, P.R_CAP_CATEGORY):
            p["reject_reason"] = None
    excluded = 0
    for p in cands:
        if p["reject_reason"] is None and (
            p["conversation_id"] in convs or p["cluster_id"] in clusters
        ):
            p["reject_reason"] = H.R_HELDOUT
            excluded += 1
    P.corpus_filters(cands)
    assert excluded > 0 and ctx.record["rejected_by_reason"][H.R_HELDOUT] == excluded
    kept = sorted(p["pair_id"] for p in run.table("pairs").read(schema.PAIRS).to_pylist())
    assert kept == sorted(p["pair_id"] for p in cands if p["reject_reason"] is None)


def test_disabled_heldout_commits_an_empty_set_and_excludes_nothing(spark, tmp_path):  # noqa: F811
    run = write_run(tmp_path / "run", planted())
    ctx = run_assemble(run, {"heldout.enabled": False})
    assert run.table("heldout").is_committed() and run.table("heldout").num_rows() == 0
    assert H.R_HELDOUT not in ctx.record["rejected_by_reason"]
