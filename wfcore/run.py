"""The run directory: one folder or object-storage prefix holding every table of a run.

    RUN/manifest.json      config (secrets redacted), code version, inputs, per-stage records
    RUN/<table>/           committed Parquet datasets (see :mod:`wfcore.storage`)
    RUN/export/            TRL JSONL, WildFeedback release layout, dataset card
    RUN/report.json|html   the funnel, throughput, tokens and cost

Only the driver process writes the manifest.
"""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
import time
from contextlib import contextmanager
from typing import Any

from . import storage
from .storage import Dataset

STAGES = ("ingest", "prepare", "detect", "preferences", "respond", "assemble")

# Tables each stage writes (its outputs), used by status, invalidation and the report.
STAGE_OUTPUTS = {
    "ingest": ("conversations", "rejects"),
    "prepare": ("prepared", "dropped", "turns"),
    "detect": ("feedback",),
    "preferences": ("preferences",),
    "respond": ("responses",),
    "assemble": ("pairs", "sft", "heldout"),
}

_SECRET_HINTS = ("key", "secret", "token", "password", "credential", "auth")


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    if k.endswith("_env") or "tokens" in k:  # names of env vars, token counts and limits
        return False
    return any(h in k for h in _SECRET_HINTS)


def redact(obj: Any) -> Any:
    """Copy of ``obj`` with string values of secret-looking keys replaced (defence in depth)."""
    if isinstance(obj, dict):
        return {
            k: "***" if _is_secret_key(str(k)) and isinstance(v, str) and v else redact(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def code_version() -> str:
    from . import __version__

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=os.path.dirname(__file__),
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except Exception:
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class RunDir:
    def __init__(self, uri: str):
        self.uri = str(uri).rstrip("/") if storage.is_remote(str(uri)) else os.path.abspath(str(uri))

    def path(self, *parts: str) -> str:
        return storage.join(self.uri, *parts)

    def table(self, name: str) -> Dataset:
        return Dataset(self.path(name))

    # ---------------------------------------------------------------- manifest
    @property
    def manifest_uri(self) -> str:
        return self.path("manifest.json")

    def manifest(self) -> dict:
        return storage.read_json(self.manifest_uri, default=None) or {"stages": {}}

    def write_manifest(self, manifest: dict) -> None:
        storage.write_json_atomic(self.manifest_uri, redact(manifest))

    def update_manifest(self, **fields: Any) -> dict:
        m = self.manifest()
        m.update(fields)
        self.write_manifest(m)
        return m

    def stage(self, name: str) -> dict:
        return self.manifest().get("stages", {}).get(name, {})

    def set_stage(self, name: str, record: dict) -> None:
        m = self.manifest()
        m.setdefault("stages", {})[name] = record
        self.write_manifest(m)

    def stage_done(self, name: str, fingerprint: str) -> bool:
        """A stage is done when the manifest says so with this fingerprint and its outputs are committed."""
        rec = self.stage(name)
        if rec.get("status") != "done" or rec.get("fingerprint") != fingerprint:
            return False
        return all(self.table(t).is_committed() for t in STAGE_OUTPUTS.get(name, ()))

    def invalidate_from(self, name: str) -> list[str]:
        """Mark ``name`` and every later stage as stale; returns those that had been done."""
        m = self.manifest()
        idx = STAGES.index(name)
        stale = []
        for s in STAGES[idx:]:
            rec = m.get("stages", {}).get(s)
            if rec and rec.get("status") == "done":
                rec["status"] = "stale"
                stale.append(s)
        self.write_manifest(m)
        return stale

    @contextmanager
    def stage_run(self, name: str, fingerprint: str, config: dict | None = None):
        """Record a stage's run: status running -> done (or failed with the reason).

        The body fills the yielded dict with rows_in, rows_out, rows_rejected,
        rejected_by_reason and any other counts.
        """
        record: dict[str, Any] = {
            "status": "running",
            "fingerprint": fingerprint,
            "started_at": now(),
            "rows_in": 0,
            "rows_out": 0,
            "rows_rejected": 0,
            "rejected_by_reason": {},
        }
        if config is not None:
            record["config"] = config
        self.set_stage(name, dict(record))
        t0 = time.time()
        try:
            yield record
        except BaseException as e:
            record["status"] = "failed"
            record["error"] = f"{type(e).__name__}: {e}"[:2000]
            record["wall_seconds"] = round(time.time() - t0, 3)
            record["finished_at"] = now()
            self.set_stage(name, record)
            raise
        record["status"] = "done"
        record["wall_seconds"] = round(time.time() - t0, 3)
        record["finished_at"] = now()
        self.set_stage(name, record)
