"""Storage: the same round trips on a local folder and on a real S3-protocol server (moto)."""

from __future__ import annotations

import gzip
import uuid

import pyarrow as pa
import pytest

from wfcore import storage
from wfcore.schema import REJECTS, to_table


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "root")
    request.getfixturevalue("s3_server")
    import boto3

    bucket = f"st-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/prefix"


def _rejects(n: int, tag: str = "r") -> pa.Table:
    return to_table([{"stage": "ingest", "source": "s", "locator": f"f:{i}", "reason_code": tag, "detail": "",
                      "raw": "x" * i} for i in range(n)], REJECTS)


def test_bytes_and_json_round_trip_and_exist(root):
    uri = storage.join(root, "a", "b.bin")
    assert not storage.exists(uri)
    storage.write_bytes_atomic(uri, b"\x00\x01payload")
    assert storage.exists(uri) and storage.read_bytes(uri) == b"\x00\x01payload"
    storage.write_json_atomic(storage.join(root, "m.json"), {"k": [1, "é"]})
    assert storage.read_json(storage.join(root, "m.json")) == {"k": [1, "é"]}
    assert storage.read_json(storage.join(root, "missing.json"), default=7) == 7


def test_compressed_bytes_are_stored_as_given_and_streams_decompress_by_extension(root):
    import zstandard

    text = b'{"a": 1}\n{"a": 2}\n'
    storage.write_bytes_atomic(storage.join(root, "x.jsonl.gz"), gzip.compress(text))
    assert gzip.decompress(storage.read_bytes(storage.join(root, "x.jsonl.gz"))) == text
    with storage.open_stream(storage.join(root, "x.jsonl.gz"), "rb") as f:
        assert f.read() == text
    storage.write_bytes_atomic(storage.join(root, "y.jsonl.zst"), zstandard.ZstdCompressor().compress(text))
    with storage.open_stream(storage.join(root, "y.jsonl.zst"), "rb") as f:
        assert list(f) == text.splitlines(keepends=True)
    with storage.open_stream(storage.join(root, "z.txt.zst"), "w") as f:
        f.write("written through zstd\n")
    with storage.open_stream(storage.join(root, "z.txt.zst"), "r") as f:
        assert f.read() == "written through zstd\n"


def test_listing_folders_and_globs_is_sorted_and_skips_side_files(root):
    for name in ("d/b.jsonl", "d/a.jsonl", "d/sub/c.parquet", "d/_truth.parquet"):
        storage.write_bytes_atomic(storage.join(root, name), b"{}\n")
    rel = lambda files: [f[len(root) :].lstrip("/") for f in files]  # noqa: E731
    assert rel(storage.list_files(storage.join(root, "d"))) == ["d/_truth.parquet", "d/a.jsonl", "d/b.jsonl", "d/sub/c.parquet"]
    assert rel(storage.expand_inputs(storage.join(root, "d"))) == ["d/a.jsonl", "d/b.jsonl", "d/sub/c.parquet"]
    assert rel(storage.expand_inputs(storage.join(root, "d", "*.jsonl"))) == ["d/a.jsonl", "d/b.jsonl"]


def test_dataset_is_visible_only_after_commit_and_a_new_commit_replaces_it(root):
    ds = storage.Dataset(storage.join(root, "rejects"))
    storage.write_parquet_atomic(storage.join(ds.uri, "attempt-old/part-0.parquet"), _rejects(2, "old"))
    assert not ds.is_committed()
    ds.write(_rejects(3, "new"), fingerprint="f1")
    assert ds.is_committed() and ds.num_rows() == 3
    assert ds.read(REJECTS).column("reason_code").to_pylist() == ["new"] * 3
    assert not storage.exists(storage.join(ds.uri, "attempt-old/part-0.parquet"))  # leftovers cleaned


def test_per_shard_commits_resume_and_union(root):
    ds = storage.Dataset(storage.join(root, "feedback"))
    ds.write_shard(0, _rejects(2), fingerprint="fp")
    ds.write_shard(1, _rejects(4), fingerprint="fp")
    ds.write_shard(2, _rejects(1), fingerprint="other")
    assert sorted(ds.committed_shards("fp")) == [0, 1]
    with pytest.raises(RuntimeError, match="not committed"):
        ds.commit_shards([0, 1, 2], "fp")
    ds.commit_shards([0, 1], "fp")
    assert ds.read(REJECTS).num_rows == 6 == ds.num_rows()
