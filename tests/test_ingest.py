"""Ingest: adapters for published layouts, format detection, quarantine with reason codes, the stage."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.context import StageContext
from jobs.ingest import input_files
from jobs.ingest import run as run_ingest
from wfcore import schema, storage
from wfcore.config import Config, IngestConfig
from wfcore.ingest import REASONS, FileReader, detect_file_format, detect_format
from wfcore.run import RunDir

WILDCHAT = {
    "conversation_hash": "c0ffee00c0ffee00c0ffee00c0ffee00",
    "model": "gpt-3.5-turbo-0613",
    "timestamp": "2023-04-09T12:00:00+00:00",
    "conversation": [
        {
            "content": "Write a haiku about rain",
            "country": "Spain",
            "hashed_ip": "ab12",
            "header": {"user-agent": "x"},
            "language": "English",
            "redacted": False,
            "role": "user",
            "state": None,
            "timestamp": None,
            "toxic": False,
            "turn_identifier": 101,
        },
        {
            "content": "Soft rain on tin roofs...",
            "language": "English",
            "redacted": False,
            "role": "assistant",
            "timestamp": "2023-04-09T12:00:05+00:00",
            "toxic": False,
            "turn_identifier": 101,
        },
        {
            "content": "thanks, make it sadder",
            "language": "English",
            "redacted": False,
            "role": "user",
            "toxic": False,
            "turn_identifier": 102,
        },
        {
            "content": "Grey rain, empty room...",
            "language": "English",
            "redacted": False,
            "role": "assistant",
            "toxic": False,
            "turn_identifier": 102,
        },
    ],
    "turn": 2,
    "language": "English",
    "openai_moderation": [
        {
            "categories": {"harassment": False, "violence": False},
            "category_scores": {"harassment": 0.001},
            "flagged": False,
        },
        {
            "categories": {"harassment": False, "violence": True},
            "category_scores": {"violence": 0.9},
            "flagged": True,
        },
        {"categories": {"harassment": False}, "flagged": False},
        {"categories": {"harassment": False}, "flagged": False},
    ],
    "detoxify_moderation": [{"toxicity": 0.001}] * 4,
    "toxic": False,
    "redacted": False,
    "state": "Madrid",
    "country": "Spain",
    "hashed_ip": "ab12",
    "header": {"accept-language": "es-ES", "user-agent": "Mozilla/5.0"},
}
LMSYS = {
    "conversation_id": "33f01939a744455c869cb234afca47f1",
    "model": "vicuna-13b",
    "conversation": [
        {"content": "how are you?", "role": "user"},
        {"content": "I am fine.", "role": "assistant"},
    ],
    "turn": 1,
    "language": "English",
    "openai_moderation": [
        {
            "categories": {"harassment": False},
            "category_scores": {"harassment": 0.0},
            "flagged": False,
        }
    ]
    * 2,
    "redacted": True,
}
SHAREGPT = {
    "id": "QWJhYvA",
    "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "hi"},
        {"from": "gpt", "value": "Hello!"},
    ],
    "lang": "en",
}
OPENAI = {
    "messages": [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": [{"type": "text", "text": "Sum 2+2"}]},
        {"role": "assistant", "content": "4"},
    ],
    "tags": ["math"],
}
WILDFEEDBACK = {
    "conversations": [
        {"from": "human", "value": "Write a slogan"},
        {"from": "gpt", "value": "Buy now!"},
        {"from": "human", "value": "too pushy, softer please"},
    ],
    "chosen": {"from": "gpt", "value": "Take your time, we'll be here."},
    "rejected": {"from": "gpt", "value": "BUY NOW!!!"},
}
ANNOTATION = [
    {
        "UtterranceId": 0,
        "Role": "User",
        "Content": "Explain DNS",
        "Satisfaction": "",
        "Disatisfaction": "",
    },
    {
        "UtterranceId": 1,
        "Role": "Agent",
        "Content": "DNS maps names to addresses.",
        "Satisfaction": "",
        "Disatisfaction": "",
    },
    {
        "UtterranceId": 2,
        "Role": "User",
        "Content": "thanks, very clear",
        "Satisfaction": "Gratitude",
        "Disatisfaction": "",
    },
    {
        "UtterranceId": 0,
        "Role": "User",
        "Content": "Write a poem",
        "Satisfaction": "",
        "Disatisfaction": "",
    },
    {
        "UtterranceId": 1,
        "Role": "Agent",
        "Content": "Roses are red.",
        "Satisfaction": "",
        "Disatisfaction": "",
    },
    {
        "UtterranceId": 2,
        "Role": "User",
        "Content": "that is lazy, redo it",
        "Satisfaction": "",
        "Disatisfaction": "Negative Feedback, Revision",
    },
]


def _jsonl(path, records) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


def _read(path, fmt="auto", **kw):
    reader = FileReader(str(path), fmt, **kw)
    out = list(reader.rows())
    convs = [r for k, r in out if k == "conversation"]
    rejects = [r for k, r in out if k == "reject"]
    assert reader.stats.rows_read == reader.stats.accepted + reader.stats.rejected == len(out)
    return convs, rejects, reader.stats


# ---------------------------------------------------------------- adapters


def test_wildchat_jsonl_record_maps_to_canonical_row_and_keeps_unmapped_fields(tmp_path):
    (conv,), rejects, stats = _read(_jsonl(tmp_path / "wc.jsonl", [WILDCHAT]))
    assert not rejects and stats.format == "wildchat"
    assert conv["conversation_id"] == WILDCHAT["conversation_hash"]
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant", "user", "assistant"]
    assert conv["messages"][2]["content"] == "thanks, make it sadder"
    assert (
        conv["moderation_flagged"] is True and conv["toxic"] is False and conv["redacted"] is False
    )
    assert conv["timestamp"] == dt.datetime(2023, 4, 9, 12, tzinfo=dt.UTC)
    meta = json.loads(conv["metadata"])
    assert meta["country"] == "Spain" and meta["header"]["accept-language"] == "es-ES"
    assert meta["detoxify_moderation"][0]["toxicity"] == 0.001
    assert meta["moderation_categories"] == ["violence"]
    assert meta["message_fields"][0]["turn_identifier"] == 101
    schema.to_table([conv], schema.CONVERSATIONS)  # the row fits the canonical schema


def test_wildchat_parquet_as_published_is_read_with_native_timestamps(tmp_path):
    rec = dict(WILDCHAT, timestamp=dt.datetime(2023, 4, 9, 12, tzinfo=dt.UTC))
    rec["conversation"] = [dict(m, timestamp=None) for m in rec["conversation"]]
    path = tmp_path / "train-00000.parquet"
    pq.write_table(pa.Table.from_pylist([rec, dict(rec, conversation_hash="other")]), path)
    convs, rejects, stats = _read(path)
    assert stats.format == "wildchat" and not rejects
    assert [c["conversation_id"] for c in convs] == [WILDCHAT["conversation_hash"], "other"]
    assert convs[0]["locator"].endswith("train-00000.parquet:row=0")
    assert convs[0]["timestamp"] == rec["timestamp"]


def test_lmsys_sharegpt_openai_records_map_roles_ids_and_metadata(tmp_path):
    (lm,), _, s1 = _read(_jsonl(tmp_path / "lmsys.jsonl", [LMSYS]))
    assert s1.format == "lmsys" and lm["conversation_id"] == LMSYS["conversation_id"]
    assert (
        lm["redacted"] is True and lm["moderation_flagged"] is False and lm["model"] == "vicuna-13b"
    )

    (sg,), _, s2 = _read(_jsonl(tmp_path / "sg.jsonl", [SHAREGPT]))
    assert s2.format == "sharegpt" and sg["conversation_id"] == "QWJhYvA"
    assert [m["role"] for m in sg["messages"]] == ["system", "user", "assistant"]
    assert json.loads(sg["metadata"])["lang"] == "en"

    (oa,), _, s3 = _read(_jsonl(tmp_path / "oa.jsonl", [OPENAI]))
    assert s3.format == "openai"
    assert oa["messages"][1] == {"role": "user", "content": "Sum 2+2"}
    assert oa["conversation_id"].startswith("h")  # no id in the source: a content hash
    (again,), _, _ = _read(_jsonl(tmp_path / "oa2.jsonl", [OPENAI]))
    assert again["conversation_id"] == oa["conversation_id"]


def test_wildfeedback_release_json_array_keeps_rejected_in_messages_and_chosen_in_metadata(
    tmp_path,
):
    path = tmp_path / "wildfeedback.json"
    path.write_text(
        json.dumps(
            [WILDFEEDBACK, dict(WILDFEEDBACK, rejected={"from": "gpt", "value": "Other"})], indent=1
        )
    )
    convs, rejects, stats = _read(path)
    assert stats.format == "wildfeedback" and not rejects and len(convs) == 2
    assert convs[0]["messages"][-1] == {"role": "assistant", "content": "BUY NOW!!!"}
    assert json.loads(convs[0]["metadata"])["chosen"] == "Take your time, we'll be here."
    assert convs[0]["locator"].endswith("wildfeedback.json:item=0")


def test_annotation_rows_are_grouped_into_conversations_where_utterance_id_restarts(tmp_path):
    path = tmp_path / "sat_dsat_annotation.json"
    path.write_text(json.dumps(ANNOTATION))
    convs, rejects, stats = _read(path)
    assert stats.format == "wildfeedback_annotation" and not rejects
    assert stats.rows_read == 2 and len(convs) == 2
    assert [m["role"] for m in convs[1]["messages"]] == ["user", "assistant", "user"]
    labels = json.loads(convs[1]["metadata"])["annotations"]
    assert labels == [
        {
            "message_index": 2,
            "utterance_id": 2,
            "satisfaction": "",
            "dissatisfaction": "Negative Feedback, Revision",
        }
    ]


def test_format_is_detected_from_keys_and_file_name(tmp_path):
    assert detect_format(WILDCHAT.keys()) == "wildchat"
    assert detect_format(LMSYS.keys()) == "lmsys"
    assert detect_format(SHAREGPT.keys()) == "sharegpt"
    assert detect_format(OPENAI.keys()) == "openai"
    assert detect_format(WILDFEEDBACK.keys()) == "wildfeedback"
    assert detect_format(ANNOTATION[0].keys()) == "wildfeedback_annotation"
    assert detect_format({"text": 1}) is None
    # detection skips leading garbage lines and looks at the first object
    p = _jsonl(tmp_path / "mixed.jsonl", ["{oops", "[1, 2]", LMSYS])
    assert detect_file_format(p) == "lmsys"


def test_named_format_overrides_detection_and_unrecognised_records_are_rejected(tmp_path):
    p = _jsonl(tmp_path / "x.jsonl", [SHAREGPT])
    convs, rejects, _ = _read(p, fmt="openai")
    assert not convs and rejects[0]["reason_code"] == "missing_messages"
    _, rejects, _ = _read(_jsonl(tmp_path / "y.jsonl", [{"text": "hello"}]))
    assert rejects[0]["reason_code"] == "unknown_format"
    with pytest.raises(ValueError, match="unknown format"):
        FileReader(p, "csv")


# ---------------------------------------------------------------- quarantine


def _msgs(*pairs):
    return {"id": "x", "messages": [{"role": r, "content": c} for r, c in pairs]}


MALFORMED = {
    "malformed_json": '{"messages": [{"role": "user", "content": "hi"}',
    "not_an_object": '[{"role": "user", "content": "hi"}]',
    "missing_messages": json.dumps({"id": "a", "messages": []}),
    "wrong_type": json.dumps({"id": "b", "messages": "user: hi"}),
    "missing_role": json.dumps({"messages": [{"content": "hi"}]}),
    "unknown_role": json.dumps(_msgs(("user", "hi"), ("robot", "beep"))),
    "empty_content": json.dumps(_msgs(("user", "  \n"), ("assistant", "hello"), ("user", None))),
    "non_string_content": json.dumps(_msgs(("user", 42))),
    "message_too_long": json.dumps(_msgs(("user", "x" * 101))),
    "no_user_turn": json.dumps(_msgs(("system", "rules"), ("assistant", "hello"))),
    "unknown_format": json.dumps({"prompt": "hi", "completion": "hello"}),
}


def test_every_malformed_kind_becomes_a_reject_with_its_reason_and_counts_add_up(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(_msgs(("user", "ok"), ("assistant", "fine")))] + list(MALFORMED.values())
    with open(path, "wb") as f:
        for line in lines:
            f.write(line.encode() + b"\n")
        f.write(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n')  # latin-1 byte
        f.write(b'{"messages": [{"role": "user", "content": "\\ud800 lone surrogate"}]}\n')
    convs, rejects, stats = _read(path, fmt="openai", max_message_chars=100, max_raw_chars=20)
    got = [r["reason_code"] for r in rejects]
    expected = [k for k in MALFORMED if k != "unknown_format"] + [
        "missing_messages",
        "invalid_utf8",
        "invalid_utf8",
    ]
    assert got == expected  # unknown_format: with a named format it is simply missing its messages
    assert len(convs) == 1 and stats.rows_read == len(lines) + 2
    assert set(got) <= set(REASONS)
    assert all(r["locator"].startswith(str(path) + ":") and r["stage"] == "ingest" for r in rejects)
    assert all(len(r["raw"]) <= 20 + len("...[truncated]") for r in rejects)
    schema.to_table(rejects, schema.REJECTS)


def test_unreadable_files_are_one_reject_each_and_reading_goes_on(tmp_path):
    bad_parquet = tmp_path / "broken.parquet"
    bad_parquet.write_bytes(b"PAR1 this is not parquet")
    _, rejects, stats = _read(bad_parquet)
    assert [r["reason_code"] for r in rejects] == ["unreadable_file"] and stats.rows_read == 1

    truncated = tmp_path / "cut.jsonl.gz"
    rng = random.Random(1)
    lines = [json.dumps(dict(LMSYS, conversation_id=str(rng.random()) * 20)) for _ in range(3000)]
    payload = gzip.compress(("\n".join(lines) + "\n").encode())
    truncated.write_bytes(payload[: len(payload) // 2])
    convs, rejects, stats = _read(truncated)
    assert rejects[-1]["reason_code"] == "unreadable_file"
    assert stats.accepted == len(convs) > 0


def test_fuzzed_records_are_each_accepted_or_rejected_with_a_reason_never_lost(tmp_path):
    rng = random.Random(7)
    base = [json.dumps(r) for r in (WILDCHAT, LMSYS, SHAREGPT, OPENAI)]
    path = tmp_path / "fuzz.jsonl"
    n = 3000
    with open(path, "wb") as f:
        for _ in range(n):
            data = bytearray(rng.choice(base).encode())
            for _ in range(rng.randint(0, 4)):
                op, i = rng.random(), rng.randrange(len(data))
                if op < 0.4:
                    data[i] = rng.randrange(32, 256)
                elif op < 0.7:
                    del data[i : i + rng.randint(1, 20)]
                else:
                    data[i:i] = rng.choice(
                        [b'"', b"{", b"]", b"null", b"\xff", b"\\u0000", b"\\ud800"]
                    )
            f.write(bytes(data).replace(b"\n", b" ") + b"\n")
    for fmt in ("auto", "wildchat"):
        convs, rejects, stats = _read(path, fmt=fmt)
        assert stats.rows_read == n == len(convs) + len(rejects)
        assert {r["reason_code"] for r in rejects} <= set(REASONS)
        schema.to_table(convs, schema.CONVERSATIONS)
        schema.to_table(rejects, schema.REJECTS)


# ---------------------------------------------------------------- containers and locations


def test_gzip_and_zstd_files_are_decompressed_by_extension(tmp_path):
    import zstandard

    text = (json.dumps(LMSYS) + "\n" + json.dumps(dict(LMSYS, conversation_id="z")) + "\n").encode()
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(text))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(text))
    (tmp_path / "c.json.gz").write_bytes(gzip.compress(json.dumps([WILDFEEDBACK]).encode()))
    for name, n in (("a.jsonl.gz", 2), ("b.jsonl.zst", 2), ("c.json.gz", 1)):
        convs, rejects, _ = _read(tmp_path / name)
        assert len(convs) == n and not rejects, name


def test_folder_and_glob_inputs_list_data_files_and_skip_side_files(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/a.jsonl", "d/sub/b.jsonl", "d/_truth.parquet", "d/.hidden.jsonl", "d/c.txt"):
        (tmp_path / name).write_text("{}\n")
    folder = input_files(str(tmp_path / "d"))
    assert [os.path.relpath(f, tmp_path) for f in folder] == [
        "d/a.jsonl",
        "d/c.txt",
        "d/sub/b.jsonl",
    ]
    globbed = input_files(str(tmp_path / "d" / "**" / "*.jsonl"))
    assert [os.path.relpath(f, tmp_path) for f in globbed] == ["d/a.jsonl", "d/sub/b.jsonl"]
    assert input_files(str(tmp_path / "d" / "_truth.parquet")) == [
        str(tmp_path / "d" / "_truth.parquet")
    ]


# ---------------------------------------------------------------- the stage


def _ctx(run: str, inp: str, **ingest) -> StageContext:
    cfg = Config(run=run, input=inp, ingest=IngestConfig(**ingest))
    return StageContext(name="ingest", run=RunDir(run), cfg=cfg, fingerprint="fp-test")


def _corpus(folder) -> str:
    os.makedirs(folder, exist_ok=True)
    bad_role = dict(
        WILDCHAT,
        conversation=[{"role": "narrator", "content": "x"}, {"role": "user", "content": "y"}],
    )
    _jsonl(os.path.join(folder, "a.jsonl"), [WILDCHAT] * 5 + ["{bad json", bad_role])
    _jsonl(
        os.path.join(folder, "b.jsonl"),
        [dict(LMSYS, conversation_id=f"l{i}") for i in range(7)] + ["[]"],
    )
    with open(os.path.join(folder, "c.json"), "w") as f:
        json.dump(ANNOTATION, f)
    return str(folder)


def test_stage_writes_committed_tables_and_per_file_counts_that_add_up(tmp_path):
    ctx = _ctx(str(tmp_path / "run"), _corpus(tmp_path / "in"), shard_rows=3, workers=1)
    run_ingest(ctx)
    rec = ctx.record
    assert rec["rows_in"] == 5 + 2 + 7 + 1 + 2
    assert rec["rows_in"] == rec["rows_out"] + rec["rows_rejected"]
    assert rec["rejected_by_reason"] == {"malformed_json": 1, "unknown_role": 1, "not_an_object": 1}
    for f in rec["files"]:
        assert f["rows_read"] == f["accepted"] + f["rejected"]
    assert [f["format"] for f in rec["files"]] == ["wildchat", "lmsys", "wildfeedback_annotation"]
    convs = ctx.run.table("conversations")
    table = convs.read(schema.CONVERSATIONS)
    assert table.num_rows == rec["rows_out"] == convs.num_rows()
    assert table.schema == schema.CONVERSATIONS
    assert all(pq.read_metadata(storage.filesystem(f)[1]).num_rows <= 3 for f in convs.files())
    assert ctx.run.table("rejects").read(schema.REJECTS).num_rows == rec["rows_rejected"]
    # input order is kept: file a before b before c, records in file order
    ids = table.column("conversation_id").to_pylist()
    assert ids[:12] == [WILDCHAT["conversation_hash"]] * 5 + [f"l{i}" for i in range(7)]
    assert [loc.rsplit("/", 1)[-1] for loc in table.column("locator").to_pylist()[-2:]] == [
        "c.json:item=0..item=2",
        "c.json:item=3..item=5",
    ]


def test_stage_output_is_the_same_with_parallel_workers(tmp_path):
    inp = _corpus(tmp_path / "in")
    tables = []
    for i, workers in enumerate((1, 2)):
        ctx = _ctx(str(tmp_path / f"run{i}"), inp, shard_rows=4, workers=workers)
        run_ingest(ctx)
        t = ctx.run.table("conversations").read(schema.CONVERSATIONS)
        tables.append(t.drop(["locator"]))
        assert ctx.record["workers"] == workers
    assert tables[0].equals(tables[1])


def test_stage_rejects_messages_over_the_configured_size(tmp_path):
    inp = _jsonl(tmp_path / "x.jsonl", [_msgs(("user", "short")), _msgs(("user", "y" * 50))])
    ctx = _ctx(str(tmp_path / "run"), inp, max_message_chars=20)
    run_ingest(ctx)
    assert (
        ctx.record["rejected_by_reason"] == {"message_too_long": 1} and ctx.record["rows_out"] == 1
    )


def test_stage_with_no_input_files_fails_with_a_clear_message(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no input files"):
        run_ingest(_ctx(str(tmp_path / "run"), str(tmp_path / "empty")))


def test_stage_reads_from_and_writes_to_s3(s3_server, tmp_path):
    import boto3

    boto3.client("s3").create_bucket(Bucket="ingest-test")
    text = (json.dumps(LMSYS) + "\n{broken\n").encode()
    storage.write_bytes_atomic("s3://ingest-test/corpus/part-0.jsonl.gz", gzip.compress(text))
    pq_buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([dict(WILDCHAT, timestamp=None)]), pq_buf)
    storage.write_bytes_atomic(
        "s3://ingest-test/corpus/part-1.parquet", pq_buf.getvalue().to_pybytes()
    )
    ctx = _ctx("s3://ingest-test/runs/r1", "s3://ingest-test/corpus/", workers=1)
    run_ingest(ctx)
    assert ctx.record["rows_in"] == 3 and ctx.record["rows_out"] == 2
    assert ctx.record["rejected_by_reason"] == {"malformed_json": 1}
    t = RunDir("s3://ingest-test/runs/r1").table("conversations").read(schema.CONVERSATIONS)
    assert sorted(t.column("conversation_id").to_pylist()) == sorted(
        [LMSYS["conversation_id"], WILDCHAT["conversation_hash"]]
    )
    glob = input_files("s3://ingest-test/corpus/*.parquet")
    assert glob == ["s3://ingest-test/corpus/part-1.parquet"]


# ---------------------------------------------------------------- columnar Parquet path


def test_columnar_parquet_path_gives_the_same_rows_and_rejects_as_record_by_record(tmp_path):
    from wfcore import synth

    out = str(tmp_path / "wc")
    synth.generate(300, 9, out, "wildchat", shard_rows=300, malformed_share=0.1)
    table = pq.read_table(os.path.join(out, "part-00000.parquet"))
    records = table.to_pylist()
    # records only the per-record path can judge, between plainly valid ones
    records[3]["conversation_hash"] = " "  # no id: a content hash is made
    records[4]["conversation"][0]["role"] = " Developer "  # accepted as system
    records[5]["conversation"][-1]["content"] = "\u3000\n"  # blank: kept and counted
    records[10]["conversation"][0]["content"] = None  # null: kept as "" (per-record path)
    for m in records[11]["conversation"]:
        if m["role"] == "user":
            m["content"] = " "  # no user message with content: empty_content
    records[6]["conversation"][0]["content"] = "x" * 5000  # over the limit below
    records[7]["state"] = 'tab\there "quoted" \\ line\nbreak'  # metadata text that needs escaping
    records[8]["openai_moderation"] = None
    records[9]["detoxify_moderation"][0]["toxicity"] = float("nan")
    extra = pa.array(
        [None if i % 3 else {"a": i / 4, "b": [1.0, None]} for i in range(len(records))]
    )
    fields = list(table.schema) + [pa.field("extra", extra.type)]
    for r, e in zip(records, extra.to_pylist(), strict=True):
        r["extra"] = e
    path = str(tmp_path / "odd.parquet")
    pq.write_table(pa.Table.from_pylist(records, schema=pa.schema(fields)), path)

    by_record = FileReader(path, max_message_chars=4000)
    rows = list(by_record.rows())
    columnar = FileReader(path, max_message_chars=4000)
    blocks = list(columnar.batches(batch_rows=64))
    assert columnar.stats.as_dict() == by_record.stats.as_dict()
    assert columnar.stats.rows_read == 300 == columnar.stats.accepted + columnar.stats.rejected
    assert columnar.stats.rejected_by_reason["message_too_long"] == 1
    assert columnar.stats.rejected_by_reason["empty_content"] >= 1
    assert columnar.stats.empty_messages >= 2 and columnar.stats.conversations_with_empty >= 2
    expected = schema.to_table([r for k, r in rows if k == "conversation"], schema.CONVERSATIONS)
    got = pa.concat_tables([t for t, _ in blocks])
    assert got.schema == schema.CONVERSATIONS
    assert got.drop(["metadata"]).equals(expected.drop(["metadata"]))
    for a, b in zip(
        got.column("metadata").to_pylist(), expected.column("metadata").to_pylist(), strict=True
    ):
        assert json.loads(a) == json.loads(b) or (a.replace("NaN", "0") == b.replace("NaN", "0"))
    assert [r for _, rej in blocks for r in rej] == [r for k, r in rows if k == "reject"]


# ---------------------------------------------------------------- empty messages (real logs have them)


def _lmsys_with_empty_replies() -> list[dict]:
    """LMSYS-Chat-1M records as published, where the model failed to answer some turns."""

    def rec(cid, *pairs):
        return dict(
            LMSYS,
            conversation_id=cid,
            turn=len(pairs) // 2,
            conversation=[{"content": c, "role": r} for r, c in pairs],
        )

    return [
        rec(
            "e-middle",
            ("user", "Write a limerick about a cat"),
            ("assistant", "There once was a cat..."),
            ("user", "make it rhyme better"),
            ("assistant", ""),
            ("user", "hello? make it rhyme better"),
            ("assistant", "A cat with a hat sat flat..."),
        ),
        rec(
            "e-last",
            ("user", "Translate 'good morning' to German"),
            ("assistant", "Guten Morgen"),
            ("user", "and to French?"),
            ("assistant", " \n "),
        ),
        rec("e-first", ("user", "hi"), ("assistant", ""), ("user", "are you there? hi")),
        rec(
            "e-user",
            ("user", "Summarise this"),
            ("assistant", "There is nothing to summarise."),
            ("user", ""),
            ("assistant", "Please paste the text."),
        ),
        rec("full", ("user", "how are you?"), ("assistant", "I am fine.")),
        rec("no-content", ("user", "   "), ("assistant", "How can I help?")),
    ]


def test_empty_replies_are_kept_and_counted_and_only_a_conversation_without_user_content_is_rejected(
    tmp_path,
):
    convs, rejects, stats = _read(_jsonl(tmp_path / "lmsys.jsonl", _lmsys_with_empty_replies()))
    assert [c["conversation_id"] for c in convs] == [
        "e-middle",
        "e-last",
        "e-first",
        "e-user",
        "full",
    ]
    assert [(r["reason_code"], r["locator"].rsplit(":", 1)[-1]) for r in rejects] == [
        ("empty_content", "6")
    ]
    assert [c["empty_messages"] for c in convs] == [1, 1, 1, 1, 0]
    assert (stats.empty_messages, stats.conversations_with_empty) == (4, 4)
    assert (
        stats.as_dict()["empty_messages"] == 4
        and stats.as_dict()["conversations_with_empty_messages"] == 4
    )
    middle = convs[0]["messages"]
    assert len(middle) == 6 and middle[3] == {"role": "assistant", "content": ""}  # kept in place
    assert convs[1]["messages"][-1]["content"] == " \n "  # the text as logged
    schema.to_table(convs, schema.CONVERSATIONS)


def test_null_content_and_empty_content_parts_are_kept_as_empty_messages(tmp_path):
    rec = {
        "id": "t1",
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
            {"role": "assistant", "content": []},
            {"role": "user", "content": [{"type": "text", "text": "well?"}]},
        ],
    }
    (conv,), rejects, stats = _read(_jsonl(tmp_path / "oa.jsonl", [rec]))
    assert not rejects and conv["empty_messages"] == 2
    assert [m["content"] for m in conv["messages"]] == ["What is 2+2?", "", "", "well?"]
    assert json.loads(conv["metadata"])["message_fields"][1] == {"tool_calls": [{"id": "x"}]}


def test_turns_before_and_after_an_empty_reply_are_candidates(tmp_path):
    from wfcore import turns

    convs, _, _ = _read(_jsonl(tmp_path / "lmsys.jsonl", _lmsys_with_empty_replies()))
    by_id = {c["conversation_id"]: turns.explode(c) for c in convs}
    middle = {t["message_index"]: t for t in by_id["e-middle"]}
    assert sorted(middle) == [2, 4]  # the feedback before the empty reply, and the repeat after it
    assert (
        middle[2]["response"] == "There once was a cat..."
        and middle[2]["user_message"] == "make it rhyme better"
    )
    assert (
        middle[4]["response"] == "" and middle[4]["user_message"] == "hello? make it rhyme better"
    )
    assert [(t["message_index"], t["response"]) for t in by_id["e-first"]] == [(2, "")]
    assert [t["message_index"] for t in by_id["e-last"]] == [2]
    assert by_id["e-user"] == []  # an empty user message is no feedback turn


def test_stage_manifest_counts_empty_messages_per_file_and_in_total(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", _lmsys_with_empty_replies())
    pq.write_table(
        pa.Table.from_pylist(_lmsys_with_empty_replies()), folder / "b.parquet"
    )  # column-wise path
    ctx = _ctx(str(tmp_path / "run"), str(folder), workers=1)
    run_ingest(ctx)
    rec = ctx.record
    assert (
        rec["rows_in"] == 12
        and rec["rows_out"] == 10
        and rec["rejected_by_reason"] == {"empty_content": 2}
    )
    assert [
        (f["empty_messages"], f["conversations_with_empty_messages"]) for f in rec["files"]
    ] == [(4, 4), (4, 4)]
    assert rec["empty_messages"] == 8 and rec["conversations_with_empty_messages"] == 8
    table = ctx.run.table("conversations").read(schema.CONVERSATIONS)
    assert sum(table.column("empty_messages").to_pylist()) == 8


def test_columnar_path_converts_blank_messages_itself_and_leaves_only_the_reject_to_the_record_path():
    from wfcore.ingest import columnar

    batch = pa.Table.from_pylist(_lmsys_with_empty_replies()).to_batches()[0]
    fast, rest = columnar.convert_batch(batch, "lmsys", "mem.parquet", 0, 1000)
    assert fast.column("conversation_id").to_pylist() == [
        "e-middle",
        "e-last",
        "e-first",
        "e-user",
        "full",
    ]
    assert fast.column("empty_messages").to_pylist() == [1, 1, 1, 1, 0]
    assert list(rest) == [5]  # "no-content": the per-record path rejects it with its reason
