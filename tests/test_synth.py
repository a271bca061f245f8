"""The synthetic corpus: determinism, coverage of what it plants, agreement with ingest, the bundled sample."""

from __future__ import annotations

import collections
import json
import os

import pyarrow.parquet as pq
import pytest

from jobs.synth import main as synth_main
from wfcore import rubric, storage, synth
from wfcore.ingest import FileReader
from wfcore.sample import bundled_sample_path, make_sample


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("synth") / "wc")
    synth.generate(1200, 11, out, "wildchat", shard_rows=500, malformed_share=0.03)
    return out


def _truth(folder: str) -> list[dict]:
    return pq.read_table(os.path.join(folder, "_truth.parquet")).to_pylist()


def test_same_seed_gives_identical_bytes_with_any_workers_and_another_seed_other_ids(tmp_path, corpus):
    again = str(tmp_path / "again")
    synth.generate(1200, 11, again, "wildchat", shard_rows=500, malformed_share=0.03, workers=2)
    names = sorted(os.listdir(corpus))
    assert names == sorted(os.listdir(again)) == ["_synth.json", "_truth.parquet", "part-00000.parquet",
                                                  "part-00001.parquet", "part-00002.parquet"]
    for name in names:
        assert open(os.path.join(corpus, name), "rb").read() == open(os.path.join(again, name), "rb").read(), name
    other = str(tmp_path / "other")
    synth.generate(50, 12, other, "wildchat", shard_rows=500)
    assert not {r["conversation_id"] for r in _truth(other)} & {r["conversation_id"] for r in _truth(corpus)}


def test_truth_covers_all_rubric_categories_and_every_planted_phenomenon(corpus):
    truth = _truth(corpus)
    assert pq.read_schema(os.path.join(corpus, "_truth.parquet")).metadata[b"synthetic"] == b"true"
    assert all(r["synthetic"] for r in truth)
    turns = [r for r in truth if r["malformed"] is None]
    cats = collections.Counter(c for r in turns for c in r["categories"])
    assert set(cats) == set(rubric.ALL_CATEGORIES)
    for r in turns:  # labels are consistent with the rubric
        assert r["signal"] in ("SAT", "DSAT", "none")
        assert r["sat"] == any(rubric.signal_of(c) == "SAT" for c in r["categories"])
        assert r["dsat"] == any(rubric.signal_of(c) == "DSAT" for c in r["categories"])
        assert (r["signal"] == "none") == (not r["categories"])
        assert r["message_index"] % 2 == 0
    assert any(r["mixed"] for r in turns) and any(r["repeat"] for r in turns)
    assert {r["position"] for r in turns if r["categories"]} == {"start", "middle"}
    convs = {r["conversation_id"]: r for r in turns}
    harvest = {r["conversation_id"] for r in turns if r["harvestable"]}
    assert 0.2 <= len(harvest) / len(convs) <= 0.4
    assert len({r["language"] for r in turns}) >= 4
    assert any(r["toxic"] for r in turns) and any(r["moderation_flagged"] and not r["toxic"] for r in turns)
    assert any(r["duplicate_of"] for r in turns) and any(r["near_duplicate_of"] for r in turns)
    assert any(r["malformed"] for r in truth)


def test_ingest_accepts_exactly_the_valid_records_and_rejects_each_malformed_one_with_its_reason(corpus):
    truth = _truth(corpus)
    accepted, reasons = {}, collections.Counter()
    for f in storage.expand_inputs(corpus):
        for kind, row in FileReader(f).rows():
            if kind == "conversation":
                accepted[row["conversation_id"]] = row
            else:
                reasons[row["reason_code"]] += 1
    expected = collections.Counter(r["malformed"] for r in truth if r["malformed"])
    assert reasons == expected
    valid = [r for r in truth if r["malformed"] is None]
    assert set(accepted) == {r["conversation_id"] for r in valid}
    for r in valid:  # every labelled turn is a user message of the ingested conversation
        assert accepted[r["conversation_id"]]["messages"][r["message_index"]]["role"] == "user"
    for r in valid:  # an exact duplicate repeats its original's messages under its own id
        if r["duplicate_of"]:
            assert accepted[r["conversation_id"]]["messages"] == accepted[r["duplicate_of"]]["messages"]
            assert r["conversation_id"] != r["duplicate_of"]


@pytest.mark.parametrize("fmt", ["wildchat_jsonl", "lmsys", "sharegpt", "openai"])
def test_jsonl_layouts_round_trip_through_their_ingest_adapter(tmp_path, fmt):
    out = str(tmp_path / fmt)
    summary = synth.generate(300, 5, out, fmt, shard_rows=1000, malformed_share=0.1)
    truth = _truth(out)
    reader = FileReader(summary["files"][0])
    rows = list(reader.rows())
    assert reader.stats.format == fmt.replace("_jsonl", "")
    assert reader.stats.rows_read == 300 == reader.stats.accepted + reader.stats.rejected
    assert reader.stats.rejected_by_reason == dict(collections.Counter(r["malformed"] for r in truth if r["malformed"]))
    got = {row["conversation_id"] for kind, row in rows if kind == "conversation"}
    assert got == {r["conversation_id"] for r in truth if r["malformed"] is None}


def test_synth_command_writes_shards_and_truth_to_s3(s3_server):
    import boto3

    boto3.client("s3").create_bucket(Bucket="synth-test")
    assert synth_main(["--conversations", "40", "--seed", "3", "--output", "s3://synth-test/c",
                       "--format", "sharegpt", "--shard-rows", "25"]) == 0
    files = storage.list_files("s3://synth-test/c")
    assert [f.rsplit("/", 1)[-1] for f in files] == ["_synth.json", "_truth.parquet", "part-00000.jsonl", "part-00001.jsonl"]
    assert json.loads(storage.read_bytes("s3://synth-test/c/_synth.json"))["synthetic"] is True
    assert sum(1 for f in files if f.endswith(".jsonl") for _ in storage.read_bytes(f).splitlines()) == 40


def test_bundled_sample_is_small_and_exactly_what_the_generator_makes(tmp_path):
    sample = bundled_sample_path()
    files = sorted(os.listdir(sample))
    assert {"part-00000.parquet", "malformed.jsonl", "_truth.parquet"} <= set(files)
    assert sum(os.path.getsize(os.path.join(sample, f)) for f in files) < 2 * 1024 * 1024
    make_sample(str(tmp_path))
    for f in files:
        assert open(os.path.join(sample, f), "rb").read() == open(tmp_path / f, "rb").read(), (
            f"{f} is stale: run python benchmarks/make_sample.py")
