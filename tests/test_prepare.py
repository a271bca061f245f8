"""The Spark prepare stage on a planted corpus: filters, exact and near dedup, PII, turns layout.

One local Spark session for the module; the job runs once per configuration and the tests
assert on its committed outputs. A real Spark Connect server (pyspark's own
sbin/start-connect-server.sh) runs the same job for the local-vs-Connect comparison.
"""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs import prepare
from jobs.context import StageContext
from wfcore import dedup, ids
from wfcore import schema as S
from wfcore.config import Config, SparkConfig
from wfcore.run import RunDir

pytestmark = pytest.mark.spark

SPARK_CONF = {"spark.ui.showConsoleProgress": "false", "spark.sql.adaptive.coalescePartitions.minPartitionSize": "1b"}
RNG = random.Random(42)
VOCAB = [f"w{i}" for i in range(5000)]


def _words(n: int) -> list[str]:
    return RNG.choices(VOCAB, k=n)


def _conv(cid: str, users: list[str], system: str | None = None, **extra) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    for u in users:
        msgs.append({"role": "user", "content": u})
        msgs.append({"role": "assistant", "content": "reply " + " ".join(_words(12))})
    row = {
        "conversation_id": cid,
        "source": "synthetic",
        "messages": msgs,
        "language": "English",
        "model": "gpt-x",
        "moderation_flagged": False,
        "toxic": False,
        "redacted": False,
    }
    row.update(extra)
    return row


def _mutate(users: list[str], positions: list[int], tag: str) -> list[str]:
    """Replace the words at ``positions`` (indices into the concatenated user words)."""
    flat = [w.split() for w in users]
    sizes = [len(w) for w in flat]
    for p in positions:
        t = 0
        while p >= sizes[t]:
            p -= sizes[t]
            t += 1
        flat[t][p] = f"{tag}{p}"
    return [" ".join(w) for w in flat]


def build_corpus() -> tuple[list[dict], dict]:
    """Conversations with planted exact dups, near dups (incl. a chain), filter cases and PII."""
    rows, plan = [], {}
    for i in range(20):
        users = [" ".join(_words(40)) for _ in range(3)]
        rows.append(_conv(f"c{100 + i:03d}", users, system="be helpful" if i == 0 else None))
    # exact duplicates: differ only in case and whitespace (assistant messages copied too)
    src = rows[1]
    dup_small = {**src, "conversation_id": "c001", "messages": [{"role": m["role"], "content": "  " + m["content"].upper()} for m in src["messages"]]}
    dup_large = {**rows[2], "conversation_id": "c900", "messages": [{"role": m["role"], "content": m["content"].replace(" ", "   ")} for m in rows[2]["messages"]]}
    rows += [dup_small, dup_large]
    plan["exact"] = {"c101": "c001", "c900": "c102"}
    # near duplicate: one word changed in 120 user words
    base = [m["content"] for m in rows[3]["messages"] if m["role"] == "user"]
    rows.append(_conv("c901", _mutate(base, [60], "n")))
    # chain: A ~ B ~ C with A and C below the threshold
    chain = [" ".join(_words(100)) for _ in range(3)]
    b_users = _mutate(chain, [20, 90, 160, 230], "b")
    c_users = _mutate(b_users, [45, 125, 195, 270], "c")
    rows += [_conv("c950", chain), _conv("c951", b_users), _conv("c952", c_users)]
    plan["near"] = {"c901": "c103", "c951": "c950", "c952": "c950"}
    plan["chain_users"] = (chain, b_users, c_users)
    # filter cases
    two = [" ".join(_words(10)), " ".join(_words(10))]
    rows += [
        _conv("f-lang", two, language="French"),
        _conv("f-mod", two, moderation_flagged=True),
        _conv("f-tox", two, toxic=True),
        _conv("f-one", [two[0]]),
        _conv("f-long", [two[0], "y" * 3000]),
        _conv("f-short", [two[0], "x"]),
    ]
    # empty replies are kept: the turn after one is a candidate, an empty user message is none
    kept_empty = _conv("k-empty", [" ".join(_words(10)) for _ in range(3)] + ["", " ".join(_words(10))])
    kept_empty["messages"][3]["content"] = ""  # an empty reply; message 6 is an empty user message
    kept_empty["messages"][-1]["content"] = "  "  # a blank last reply
    rows.append(kept_empty)
    plan["kept_empty"] = {"k-empty": [2, 4, 8]}
    plan["filters"] = {
        "f-lang": "language",
        "f-mod": "moderation_flagged",
        "f-tox": "toxic",
        "f-one": "too_few_user_turns",
        "f-long": "message_too_long",
        "f-short": "message_too_short",
    }
    # PII in a kept conversation; irregular role orders for the turn rule
    pii = _conv("p001", ["mail me at bob@example.com please " + " ".join(_words(20)), "my card is 4111 1111 1111 1111 " + " ".join(_words(20))])
    pii["messages"][1]["content"] = "use key sk-abcdefghijklmnopqrstuvwxyz0123 here"
    rows.append(pii)
    plan["pii"] = {"email": 1, "credit_card": 1, "api_key": 1}
    odd = _conv("r001", [" ".join(_words(15)) for _ in range(3)])
    odd["messages"].insert(0, {"role": "user", "content": "first " + " ".join(_words(15))})
    rows.append(odd)  # user, user, assistant, user, assistant, user, assistant
    return rows, plan


CORPUS, PLAN = build_corpus()


def make_config(run: str, master: str = "local[2]") -> Config:
    cfg = Config(run=run)
    conf = {} if master.startswith("sc://") else dict(SPARK_CONF)  # a Connect server has its own
    cfg.prepare.spark = SparkConfig(master=master, shuffle_partitions=2, conf=conf)
    cfg.prepare.languages = ["English"]
    cfg.prepare.max_message_chars = 2000
    cfg.prepare.min_message_chars = 2
    cfg.prepare.shard_turns = 7
    return cfg


def run_prepare(run_dir: str, master: str = "local[2]") -> tuple[RunDir, dict]:
    rd = RunDir(run_dir)
    if not rd.table("conversations").is_committed():
        rd.table("conversations").write(S.to_table(CORPUS, S.CONVERSATIONS))
    cfg = make_config(run_dir, master)
    with rd.stage_run("prepare", "fp-test") as record:
        ctx = StageContext("prepare", rd, cfg, "fp-test", record)
        prepare.run(ctx)
    return rd, rd.stage("prepare")


@pytest.fixture(scope="module")
def spark():
    from jobs.spark import get_spark

    s = get_spark(make_config("unused").prepare.spark, "wildfeedback-tests")
    yield s


@pytest.fixture(scope="module")
def first_run(spark, tmp_path_factory):
    return run_prepare(str(tmp_path_factory.mktemp("run1")))


def _sorted(rd: RunDir, table: str, keys: tuple[str, ...]) -> list[dict]:
    rows = rd.table(table).read(S.TABLES[table]).to_pylist()
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def _dropped(rd: RunDir) -> dict[str, dict]:
    return {r["conversation_id"]: r for r in rd.table("dropped").read(S.DROPPED).to_pylist()}


# ---------------------------------------------------------------- dedup and filters


def test_planted_exact_duplicates_are_dropped_keeping_the_smallest_id(first_run):
    rd, _ = first_run
    dropped = _dropped(rd)
    kept = {r["conversation_id"] for r in rd.table("prepared").read(S.PREPARED).to_pylist()}
    for dup, rep in PLAN["exact"].items():
        assert dropped[dup]["reason"] == "exact_duplicate"
        assert dropped[dup]["kept_as"] == rep
        assert rep in kept


def test_near_duplicates_above_threshold_cluster_into_one_representative(first_run):
    rd, rec = first_run
    chain, b_users, c_users = PLAN["chain_users"]
    sh = [dedup.shingles(" ".join(u), 5) for u in (chain, b_users, c_users)]
    assert dedup.exact_jaccard(sh[0], sh[1]) >= 0.85 and dedup.exact_jaccard(sh[1], sh[2]) >= 0.85
    assert dedup.exact_jaccard(sh[0], sh[2]) < rec["near_dedup"]["threshold"]  # only linked through B
    dropped = _dropped(rd)
    kept = {r["conversation_id"]: r for r in rd.table("prepared").read(S.PREPARED).to_pylist()}
    for dup, rep in PLAN["near"].items():
        assert dropped[dup]["reason"] == "near_duplicate"
        assert dropped[dup]["kept_as"] == rep
        assert kept[rep]["cluster_id"] == rep
    assert rec["near_dedup"]["clusters"] == 2
    assert rec["near_dedup"]["bands"] * rec["near_dedup"]["rows"] <= rec["near_dedup"]["num_perm"]


def test_distinct_conversations_are_all_kept(first_run):
    rd, _ = first_run
    kept = {r["conversation_id"] for r in rd.table("prepared").read(S.PREPARED).to_pylist()}
    removed = set(PLAN["exact"]) | set(PLAN["near"]) | set(PLAN["filters"])
    expected = {c["conversation_id"] for c in CORPUS} - removed
    assert kept == expected


def test_each_filter_drops_its_case_with_its_reason_and_is_counted(first_run):
    rd, rec = first_run
    dropped = _dropped(rd)
    for cid, reason in PLAN["filters"].items():
        assert dropped[cid]["reason"] == reason
        assert rec["rejected_by_reason"][reason] == 1
    assert rec["rejected_by_reason"]["exact_duplicate"] == len(PLAN["exact"])
    assert rec["rejected_by_reason"]["near_duplicate"] == len(PLAN["near"])


def test_accounting_adds_up_in_the_manifest_and_tables(first_run):
    rd, rec = first_run
    assert rec["status"] == "done"
    assert rec["rows_in"] == len(CORPUS)
    assert rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"]
    assert rec["rows_rejected"] == sum(rec["rejected_by_reason"].values())
    assert rd.table("prepared").num_rows() == rec["rows_out"]
    assert rd.table("dropped").num_rows() == rec["rows_rejected"]
    assert len(_dropped(rd)) == rec["rows_rejected"]
    assert rd.table("turns").num_rows() == rec["turns"]


def test_pii_is_scrubbed_before_leaving_the_stage_and_counted(first_run):
    rd, rec = first_run
    for k, n in PLAN["pii"].items():
        assert rec["pii"][k] == n
    text = " ".join(
        m["content"] for r in rd.table("prepared").read(S.PREPARED).to_pylist() for m in r["messages"]
    )
    turns = rd.table("turns").read(S.TURNS).to_pylist()
    text += " ".join(t["response"] + t["user_message"] + " ".join(m["content"] for m in t["history"]) for t in turns)
    assert "bob@example.com" not in text and "4111 1111" not in text and "sk-abcdef" not in text
    assert "[EMAIL]" in text and "[CREDIT_CARD]" in text and "[API_KEY]" in text


def test_near_dup_edges_are_verified_with_the_exact_jaccard_of_the_shingle_sets(spark, tmp_path):
    """Pairs straddling the threshold: every edge has the exact Jaccard (no estimate error), none
    is below the threshold, and every pair safely above it (J >= 0.85) is found."""
    import itertools

    import pyarrow as pa

    cfg = make_config("unused").prepare
    convs = []
    for f in range(6):
        base = [" ".join(_words(150)) for _ in range(2)]
        convs.append(_conv(f"e{f}-0", base))
        for v, k in enumerate((3, 4, 5, 6, 7, 8, 9)):  # J to the base from about 0.9 down to about 0.74
            convs.append(_conv(f"e{f}-{v + 1}", _mutate(base, RNG.sample(range(300), k), f"m{v}")))
    batch = pa.Table.from_pylist(convs, S.CONVERSATIONS).select(prepare._FILTER_INPUT).to_batches()[0]
    ann = pa.Table.from_batches(list(prepare.annotate_batches(cfg.model_dump(mode="json"))(iter([batch]))))
    pq.write_table(ann, tmp_path / "ann.parquet")
    df = spark.read.parquet(str(tmp_path / "ann.parquet"))
    edges = {(r["a"], r["b"]): r["jaccard"] for r in prepare.near_duplicate_edges(df, 0.8).collect()}
    sets = {r["conversation_id"]: np.array(r["shingles"], dtype=np.int32) for r in ann.to_pylist()}
    exact = {
        (a, b): dedup.set_jaccard(sets[a], sets[b]) for a, b in itertools.combinations(sorted(sets), 2)
    }
    assert any(0.75 < j < 0.8 for j in exact.values()) and any(0.8 <= j < 0.85 for j in exact.values())
    for pair, j in edges.items():
        assert j == pytest.approx(exact[pair], abs=1e-12) and j >= 0.8
    assert {p for p, j in exact.items() if j >= 0.85} <= set(edges)


# ---------------------------------------------------------------- turns and layout


def test_turns_are_user_messages_after_an_assistant_with_history_and_stable_ids(first_run):
    rd, _ = first_run
    prepared = {r["conversation_id"]: r for r in rd.table("prepared").read(S.PREPARED).to_pylist()}
    turns = rd.table("turns").read(S.TURNS).to_pylist()
    by_conv: dict[str, list[int]] = {}
    for t in turns:
        msgs = prepared[t["conversation_id"]]["messages"]
        i = t["message_index"]
        assert i >= 2 and msgs[i]["role"] == "user" and msgs[i - 1]["role"] == "assistant"
        assert t["user_message"] == msgs[i]["content"] and t["response"] == msgs[i - 1]["content"]
        assert t["history"] == msgs[: i - 1]
        assert t["turn_id"] == ids.turn_id(t["conversation_id"], i)
        assert t["cluster_id"] == prepared[t["conversation_id"]]["cluster_id"]
        by_conv.setdefault(t["conversation_id"], []).append(i)
    assert sorted(by_conv["r001"]) == [3, 5]
    assert sorted(by_conv["c100"]) == [3, 5]  # has a system message first
    for cid, indices in PLAN["kept_empty"].items():  # the turn after an empty reply is a candidate
        assert sorted(by_conv[cid]) == indices
        assert [t["response"] for t in turns if t["conversation_id"] == cid and t["message_index"] == 4] == [""]
    expected = sum(
        sum(1 for i in range(2, len(m))
            if m[i]["role"] == "user" and m[i - 1]["role"] == "assistant" and m[i]["content"].strip())
        for m in (p["messages"] for p in prepared.values())
    )
    assert len(turns) == expected


def test_turn_shards_hold_whole_conversations_in_message_order(first_run):
    rd, rec = first_run
    info = rd.table("turns").commit_info()
    assert rec["shards"] == info["num_shards"] == math.ceil(rec["turns"] / 7)
    seen: dict[str, int] = {}
    total = 0
    for shard, rel in info["shards"].items():
        assert rel.endswith(f"shard-{int(shard):05d}.parquet")
        t = pq.read_table(os.path.join(rd.table("turns").uri, rel)).to_pylist()
        assert t and {r["shard"] for r in t} == {int(shard)}
        keys = [(r["conversation_id"], r["message_index"]) for r in t]
        assert keys == sorted(keys)
        for r in t:
            assert seen.setdefault(r["conversation_id"], int(shard)) == int(shard)
        total += len(t)
    assert total == info["rows"] == rec["turns"]
    assert sorted(info["files"]) == sorted(info["shards"].values())
    prepared = rd.table("prepared").read(S.PREPARED).to_pylist()
    for p in prepared:
        if p["conversation_id"] in seen:
            assert p["shard"] == seen[p["conversation_id"]]


def test_two_runs_give_identical_outputs(first_run, tmp_path):
    rd1, rec1 = first_run
    rd2, rec2 = run_prepare(str(tmp_path / "run2"))
    for table, keys in (("prepared", ("conversation_id",)), ("dropped", ("conversation_id",)), ("turns", ("turn_id",))):
        assert _sorted(rd1, table, keys) == _sorted(rd2, table, keys)
    for k in ("rows_in", "rows_out", "rejected_by_reason", "turns", "shards", "pii"):
        assert rec1[k] == rec2[k]
    assert rd1.table("turns").commit_info()["shard_rows"] == rd2.table("turns").commit_info()["shard_rows"]


# ---------------------------------------------------------------- Spark Connect


def test_spark_connect_server_gives_the_same_outputs_as_local(first_run, connect_server, tmp_path):
    rd1, rec1 = first_run
    rd2, rec2 = run_prepare(str(tmp_path / "connect"), master=connect_server)
    for table, keys in (("prepared", ("conversation_id",)), ("dropped", ("conversation_id",)), ("turns", ("turn_id",))):
        assert _sorted(rd1, table, keys) == _sorted(rd2, table, keys)
    for k in ("rows_in", "rows_out", "rejected_by_reason", "turns", "shards", "pii"):
        assert rec1[k] == rec2[k]
    assert rd1.table("turns").commit_info()["shard_rows"] == rd2.table("turns").commit_info()["shard_rows"]


# ---------------------------------------------------------------- object storage


def test_s3_run_dir_gives_the_same_outputs_as_a_local_run(first_run, s3_server):
    """Spark here has no s3a jars: inputs and every output go through the object-storage bridge."""
    import boto3

    boto3.client("s3").create_bucket(Bucket="prep-run")
    rd1, rec1 = first_run
    rd2, rec2 = run_prepare("s3://prep-run/run")
    for table, keys in (("prepared", ("conversation_id",)), ("dropped", ("conversation_id",)), ("turns", ("turn_id",))):
        assert _sorted(rd1, table, keys) == _sorted(rd2, table, keys)
    for k in ("rows_in", "rows_out", "rejected_by_reason", "turns", "shards", "pii"):
        assert rec1[k] == rec2[k]
    info1, info2 = rd1.table("turns").commit_info(), rd2.table("turns").commit_info()
    assert info1["shard_rows"] == info2["shard_rows"]
    assert sorted(os.path.basename(f) for f in info2["shards"].values()) == sorted(
        os.path.basename(f) for f in info1["shards"].values()
    )
    listed = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="prep-run", Prefix="run/turns/")["Contents"]}
    assert {f"run/turns/{f}" for f in info2["files"]} <= listed
    assert not any("_spark" in k or "shard_part=" in k for k in listed)
