"""URIs to filesystems and streams; atomic, committed datasets.

A URI is a local path, ``file://``, ``s3://``, ``gs://`` (anything pyarrow and smart-open take).
Object-storage endpoints and credentials come only from the environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...) or the cloud's own credential chain; nothing here accepts secrets.

Commit protocol (works on object storage, where rename is not atomic): parts are written under a
unique attempt name, and a table is visible only through its ``_COMMIT.json``, which lists the
part files. A killed writer leaves unlisted parts that readers ignore and the next commit
deletes. Single files (parts, markers) are written to a temp name and renamed locally, and as
one PUT (atomic per object) on object storage.
"""

from __future__ import annotations

import glob as _glob
import io
import json
import os
import posixpath
import uuid
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

COMMIT = "_COMMIT.json"


def is_remote(uri: str) -> bool:
    scheme = urlparse(str(uri)).scheme
    return scheme not in ("", "file") and len(scheme) > 1


def _s3_filesystem() -> pafs.S3FileSystem:
    kwargs: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or endpoint
        kwargs["scheme"] = parsed.scheme or "https"
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        kwargs["region"] = region
    return pafs.S3FileSystem(**kwargs)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """Resolve ``uri`` to (pyarrow filesystem, path inside it)."""
    uri = str(uri)
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return _s3_filesystem(), (parsed.netloc + parsed.path).rstrip("/")
    if is_remote(uri):
        fs, path = pafs.FileSystem.from_uri(uri)
        return fs, path.rstrip("/")
    path = parsed.path if parsed.scheme == "file" else uri
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))


def join(uri: str, *parts: str) -> str:
    uri = str(uri)
    if is_remote(uri):
        return posixpath.join(uri.rstrip("/"), *parts)
    return os.path.join(uri, *parts)


def transport_params(uri: str) -> dict:
    if urlparse(uri).scheme == "s3":
        import boto3

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        client = boto3.client("s3", endpoint_url=endpoint) if endpoint else boto3.client("s3")
        return {"client": client}
    return {}


def open_stream(uri: str, mode: str = "rb", compression: str = "infer_from_extension"):
    """A file-like stream for ``uri`` (local or object storage); .gz/.zst/.bz2 decompressed."""
    import smart_open

    if compression == "infer_from_extension":
        # infer from the URI ourselves: smart-open infers from the stream's name, which S3 streams lack
        ext = posixpath.splitext(urlparse(str(uri)).path)[1].lower()
        if ext in (".zst", ".zstd"):
            return _open_zstd(str(uri), mode)
        compression = ext if ext in (".gz", ".bz2", ".xz") else "disable"
    return smart_open.open(
        str(uri), mode, compression=compression, transport_params=transport_params(str(uri))
    )


def _open_zstd(uri: str, mode: str):
    """zstd through the `zstandard` package (smart-open 9 wants `backports.zstd` on Python < 3.14)."""
    import smart_open
    import zstandard

    raw = smart_open.open(uri, mode.replace("t", "").replace("b", "") + "b", compression="disable",
                          transport_params=transport_params(uri))
    if "r" in mode:
        stream: Any = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    else:
        stream = zstandard.ZstdCompressor().stream_writer(raw, closefd=True)
    return stream if "b" in mode else io.TextIOWrapper(stream, encoding="utf-8")


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path, compression=None) as f:
        return f.read()


def write_bytes_atomic(uri: str, data: bytes) -> None:
    fs, path = filesystem(uri)
    parent = posixpath.dirname(path) if is_remote(uri) else os.path.dirname(path)
    fs.create_dir(parent, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    else:
        with fs.open_output_stream(path, compression=None) as f:
            f.write(data)


def read_json(uri: str, default: Any = None) -> Any:
    if not exists(uri):
        return default
    return json.loads(read_bytes(uri).decode("utf-8"))


def write_json_atomic(uri: str, obj: Any) -> None:
    write_bytes_atomic(uri, json.dumps(obj, indent=2, sort_keys=True, default=str).encode("utf-8"))


def delete(uri: str) -> None:
    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)


def list_files(uri: str, suffix: str = "") -> list[str]:
    """Files under ``uri`` (recursive), as URIs of the same form, sorted."""
    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return []
    if info.type == pafs.FileType.File:
        return [str(uri)]
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    rel = sorted(
        i.path[len(path) :].lstrip("/")
        for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(suffix)
    )
    return [join(str(uri), r) for r in rel]


def expand_inputs(uri: str) -> list[str]:
    """A file, a folder (recursively) or a glob, local or object storage -> sorted file URIs."""
    uri = str(uri)
    if any(c in uri for c in "*?["):
        if is_remote(uri):
            import fnmatch

            base = uri[: min(uri.find(c) for c in "*?[" if c in uri)]
            base = base[: base.rfind("/")]
            return sorted(u for u in list_files(base) if fnmatch.fnmatch(u, uri))
        return sorted(p for p in _glob.glob(os.path.expanduser(uri), recursive=True) if os.path.isfile(p))
    files = list_files(uri)
    return [f for f in files if not posixpath.basename(f).startswith(("_", "."))]


# ---------------------------------------------------------------- committed Parquet datasets


def write_parquet_atomic(uri: str, table: pa.Table) -> None:
    """Write one Parquet file so that it either exists whole or not at all."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    write_bytes_atomic(uri, buf.getvalue())


def read_parquet_files(files: list[str], schema: pa.Schema | None = None) -> pa.Table:
    tables = []
    for f in files:
        fs, path = filesystem(f)
        t = pq.read_table(path, filesystem=fs)
        if schema is not None:
            from .schema import conform

            t = conform(t, schema)
        tables.append(t)
    if not tables:
        if schema is None:
            raise ValueError("no files and no schema")
        return schema.empty_table()
    return pa.concat_tables(tables, promote_options="default") if schema is None else pa.concat_tables(tables)


class Dataset:
    """A committed Parquet dataset at ``uri`` (a folder)."""

    def __init__(self, uri: str):
        self.uri = str(uri)

    @property
    def commit_uri(self) -> str:
        return join(self.uri, COMMIT)

    def commit_info(self) -> dict | None:
        return read_json(self.commit_uri)

    def is_committed(self) -> bool:
        return self.commit_info() is not None

    def files(self) -> list[str]:
        info = self.commit_info()
        if info is None:
            raise FileNotFoundError(f"dataset not committed (no {COMMIT}): {self.uri}")
        return [join(self.uri, f) for f in info["files"]]

    def read(self, schema: pa.Schema | None = None, columns: list[str] | None = None) -> pa.Table:
        t = read_parquet_files(self.files(), schema)
        return t.select(columns) if columns else t

    def num_rows(self) -> int:
        info = self.commit_info()
        return int(info.get("rows", 0)) if info else 0

    def new_attempt(self) -> str:
        """A fresh folder name for parts written by one attempt."""
        return f"attempt-{uuid.uuid4().hex[:12]}"

    def commit(self, files: list[str], rows: int, fingerprint: str = "", extra: dict | None = None) -> None:
        """Make ``files`` (paths relative to the dataset) the dataset's content, atomically."""
        info = {"files": sorted(files), "rows": int(rows), "fingerprint": fingerprint}
        if extra:
            info.update(extra)
        write_json_atomic(self.commit_uri, info)
        self.clean_unlisted(set(files))

    def uncommit(self) -> None:
        if exists(self.commit_uri):
            delete(self.commit_uri)

    def clean_unlisted(self, keep: set[str]) -> None:
        """Delete what a killed attempt left behind: anything the commit does not list."""
        for f in list_files(self.uri):
            rel = f[len(self.uri) :].lstrip("/")
            if rel == COMMIT or rel.startswith("_shards/") or rel in keep:
                continue
            try:
                delete(f)
            except OSError:
                pass

    def write(self, table: pa.Table, fingerprint: str = "", extra: dict | None = None) -> None:
        """Write ``table`` as one part and commit it (replacing earlier content)."""
        name = f"{self.new_attempt()}/part-00000.parquet"
        write_parquet_atomic(join(self.uri, name), table)
        self.commit([name], table.num_rows, fingerprint, extra)

    # ---- per-shard commits (resume inside a stage)

    def shard_marker(self, shard: int) -> str:
        return join(self.uri, "_shards", f"{int(shard):05d}.json")

    def shard_info(self, shard: int) -> dict | None:
        return read_json(self.shard_marker(shard))

    def write_shard(self, shard: int, table: pa.Table, fingerprint: str, extra: dict | None = None) -> None:
        """Write one shard's part and its marker; the marker is written last, so it is the commit."""
        name = f"shard-{int(shard):05d}-{uuid.uuid4().hex[:8]}.parquet"
        write_parquet_atomic(join(self.uri, name), table)
        info = {"file": name, "rows": table.num_rows, "fingerprint": fingerprint}
        if extra:
            info.update(extra)
        write_json_atomic(self.shard_marker(shard), info)

    def committed_shards(self, fingerprint: str) -> dict[int, dict]:
        out = {}
        for f in list_files(join(self.uri, "_shards"), ".json"):
            info = read_json(f)
            if info and info.get("fingerprint") == fingerprint:
                out[int(posixpath.basename(f).split(".")[0])] = info
        return out

    def commit_shards(self, shards: list[int], fingerprint: str, extra: dict | None = None) -> dict:
        """Commit the dataset as the union of the given committed shards."""
        infos = self.committed_shards(fingerprint)
        missing = [s for s in shards if s not in infos]
        if missing:
            raise RuntimeError(f"{self.uri}: shards not committed: {missing[:10]}")
        files = [infos[s]["file"] for s in shards]
        rows = sum(int(infos[s]["rows"]) for s in shards)
        self.commit(files, rows, fingerprint, extra)
        return {s: infos[s] for s in shards}

    def reset_shards(self) -> None:
        d = join(self.uri, "_shards")
        if exists(d):
            delete(d)
