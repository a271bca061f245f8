"""The run-directory contract: committed datasets, per-shard commits, manifest, redaction."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from wfcore import storage
from wfcore.run import RunDir, redact
from wfcore.schema import REJECTS, to_table


def _rows(n):
    return to_table(
        [{"stage": "ingest", "source": "x", "locator": f"f:{i}", "reason_code": "r", "detail": "", "raw": ""} for i in range(n)],
        REJECTS,
    )


def test_uncommitted_dataset_is_invisible(tmp_path):
    ds = RunDir(tmp_path).table("rejects")
    storage.write_parquet_atomic(storage.join(ds.uri, "attempt-x/part-0.parquet"), _rows(3))
    assert not ds.is_committed()
    with pytest.raises(FileNotFoundError):
        ds.files()


def test_commit_lists_parts_and_cleans_what_a_killed_attempt_left(tmp_path):
    ds = RunDir(tmp_path).table("rejects")
    storage.write_parquet_atomic(storage.join(ds.uri, "attempt-dead/part-0.parquet"), _rows(5))
    ds.write(_rows(2))
    assert ds.num_rows() == 2
    assert ds.read(REJECTS).num_rows == 2
    assert not any("attempt-dead" in f for f in storage.list_files(ds.uri))


def test_shards_commit_only_with_matching_fingerprint(tmp_path):
    ds = RunDir(tmp_path).table("rejects")
    ds.write_shard(0, _rows(2), fingerprint="a")
    ds.write_shard(1, _rows(3), fingerprint="b")
    assert set(ds.committed_shards("a")) == {0}
    with pytest.raises(RuntimeError, match="not committed"):
        ds.commit_shards([0, 1], "a")
    ds.write_shard(1, _rows(3), fingerprint="a")
    ds.commit_shards([0, 1], "a")
    assert ds.read().num_rows == 5


def test_stage_record_is_failed_with_reason_when_body_raises(tmp_path):
    rd = RunDir(tmp_path)
    with pytest.raises(ValueError):
        with rd.stage_run("detect", "fp") as rec:
            rec["rows_in"] = 3
            raise ValueError("engine died")
    rec = rd.stage("detect")
    assert rec["status"] == "failed" and "engine died" in rec["error"]


def test_manifest_never_holds_secret_values(tmp_path):
    rd = RunDir(tmp_path)
    rd.update_manifest(config={"openai": {"api_key": "sk-live-123", "api_key_env": "OPENAI_API_KEY"}})
    text = open(rd.manifest_uri).read()
    assert "sk-live-123" not in text and "OPENAI_API_KEY" in text
    assert redact({"token": "x", "tokens_in": 5})["tokens_in"] == 5


def test_atomic_json_write_leaves_no_temp_files(tmp_path):
    storage.write_json_atomic(str(tmp_path / "m.json"), {"a": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_schema_rejects_unknown_columns():
    with pytest.raises(ValueError, match="not in schema"):
        to_table([{"stage": "x", "bogus": 1}], REJECTS)
    assert isinstance(to_table([], REJECTS), pa.Table)
