"""Exports read back with the tools people use: datasets for TRL JSONL, the release layout and
the Parquet folder; the card's counts match the pairs."""

from __future__ import annotations

import json
import os

import pytest

from tests.pairs_cases import conv, msgs
from wfcore import pairs as P
from wfcore import schema
from wfcore.config import Config
from wfcore.export import ROLE_TO_FROM, write_exports
from wfcore.run import RunDir

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def planted_pairs(n: int = 12) -> list[dict]:
    rows = []
    for i in range(n):
        messages = [{"role": "system", "content": "be brief"}] + msgs(f"q{i}", f"a{i}", "no, redo", f"b{i}", "thanks")
        c = conv(f"c{i}", messages, {3: "DSAT", 5: "SAT"})
        rows += P.conversation_candidates(c, P.PairOptions(test_fraction=0.4))[0]
    rows = P.corpus_filters(rows)
    return [{k: p[k] for k in schema.PAIRS.names} for p in rows if p["reject_reason"] is None]


@pytest.fixture()
def exported(tmp_path):
    run = RunDir(tmp_path / "run")
    pairs = planted_pairs()
    run.table("pairs").write(schema.to_table(pairs, schema.PAIRS))
    sft = [{"sft_id": "s1", "conversation_id": "c0", "message_index": 5, "prompt": msgs("q", "a", "hi"),
            "response": "hello", "split": "train", "categories": ["Gratitude"]}]
    run.table("sft").write(schema.to_table(sft, schema.SFT))
    cfg = Config(run=str(tmp_path / "run"))
    record = {"rows_in": len(pairs) + 2, "rows_out": len(pairs), "rows_rejected": 2,
              "rejected_by_reason": {"duplicate_pair": 2}}
    stats = write_exports(run, cfg, record=record)
    return run, pairs, stats, tmp_path


def test_trl_jsonl_loads_with_datasets_and_every_prompt_ends_with_the_user(exported):
    import datasets

    run, pairs, stats, tmp = exported
    files = {s: run.path("export", "trl", f"{s}.jsonl") for s in ("train", "test")}
    total = 0
    for split, f in files.items():
        n = sum(p["split"] == split for p in pairs)
        if n == 0:
            assert os.path.getsize(f) == 0
            continue
        ds = datasets.load_dataset("json", data_files=f, split="train", cache_dir=str(tmp / "hf-cache"))
        assert ds.num_rows == n
        for row in ds:
            assert row["prompt"] and row["prompt"][-1]["role"] == "user"
            assert all(m["content"] for m in row["prompt"])
            assert [m["role"] for m in row["chosen"]] == ["assistant"] and row["chosen"][0]["content"]
            assert [m["role"] for m in row["rejected"]] == ["assistant"] and row["rejected"][0]["content"]
        total += ds.num_rows
    assert total == len(pairs) == stats["pairs"]
    assert {"train", "test"} == {p["split"] for p in pairs}  # the planted set exercises both splits


def test_wildfeedback_layout_round_trips_the_pairs(exported):
    import datasets

    run, pairs, _, tmp = exported
    path = run.path("export", "wildfeedback.json")
    records = json.load(open(path, encoding="utf-8"))
    by_chosen = {(p["chosen"], p["rejected"]): p for p in pairs}
    assert len(records) == len(pairs)
    for r in records:
        assert set(r) == {"conversations", "chosen", "rejected"}
        p = by_chosen[(r["chosen"]["value"], r["rejected"]["value"])]
        assert r["conversations"] == [{"from": ROLE_TO_FROM[m["role"]], "value": m["content"]} for m in p["prompt"]]
        assert r["chosen"]["from"] == r["rejected"]["from"] == "gpt"
        assert r["conversations"][-1]["from"] == "human"
    ds = datasets.load_dataset("json", data_files=path, split="train", cache_dir=str(tmp / "hf-cache"))
    assert ds.num_rows == len(pairs) and set(ds.column_names) == {"conversations", "chosen", "rejected"}


def test_hf_folder_loads_by_split_with_lineage_columns(exported):
    import datasets

    run, pairs, _, tmp = exported
    dd = datasets.load_dataset(run.path("export", "hf"), cache_dir=str(tmp / "hf-cache"))
    for split in ("train", "test"):
        assert dd[split].num_rows == sum(p["split"] == split for p in pairs)
    assert sorted(list(dd["train"]["pair_id"]) + list(dd["test"]["pair_id"])) == sorted(p["pair_id"] for p in pairs)
    # the card at the export root declares the same config
    dd2 = datasets.load_dataset(run.path("export"), cache_dir=str(tmp / "hf-cache2"))
    assert {s: dd2[s].num_rows for s in dd2} == {s: dd[s].num_rows for s in dd}


def test_sft_and_full_lineage_parquet_are_written(exported):
    import pyarrow.parquet as pq

    run, pairs, stats, _ = exported
    lines = open(run.path("export", "sft.jsonl"), encoding="utf-8").read().splitlines()
    assert [json.loads(x)["messages"][-1] for x in lines] == [{"role": "assistant", "content": "hello"}]
    assert stats["sft_examples"] == 1
    rows = sum(pq.read_table(run.path("export", "parquet", f"{s}.parquet")).num_rows for s in ("train", "test"))
    assert rows == len(pairs)
    assert pq.read_schema(run.path("export", "parquet", "train.parquet")).names == schema.PAIRS.names


def test_card_counts_match_the_pairs(exported):
    run, pairs, stats, _ = exported
    card = open(run.path("export", "README.md"), encoding="utf-8").read()
    for split in ("train", "test"):
        n = sum(p["split"] == split for p in pairs)
        assert f"| {split} | {n:,} |" in card
    assert f"| DSAT | {len(pairs):,} |" in card
    assert f"| harvested | {len(pairs):,} |" in card
    assert "| duplicate_pair | 2 |" in card
    assert stats["split"] == {s: sum(p["split"] == s for p in pairs) for s in ("test", "train")}


def test_rerun_replaces_the_export_with_identical_files(exported):
    run, _, _, _ = exported
    def snapshot():
        out = {}
        for d, _, fs in os.walk(run.path("export")):
            for f in fs:
                if not f.endswith(".parquet") and f != "README.md":
                    out[os.path.relpath(os.path.join(d, f), run.path("export"))] = open(os.path.join(d, f), "rb").read()
        return out

    before = snapshot()
    write_exports(run, Config(run=run.uri), record=run.stage("assemble") or {})
    assert snapshot() == before
    assert not [f for f in os.listdir(run.uri) if f.startswith((".export-", "export.old"))]
