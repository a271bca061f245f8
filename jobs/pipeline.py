"""The pipeline runner: stages in order, each skipped when committed with the same fingerprint.

A stage's fingerprint hashes its own config section, its prompt versions and the fingerprint of
the stage before it; so changing a stage's config or prompt invalidates that stage and the ones
after it, and only those.
"""

from __future__ import annotations

import importlib
import sys
import time

from wfcore import storage
from wfcore.config import Config
from wfcore.ids import content_id
from wfcore.run import STAGES, RunDir, code_version, now  # noqa: F401

from .context import StageContext

STAGE_MODULES = {s: f"jobs.{s}" for s in STAGES}


def stage_module(name: str):
    return importlib.import_module(STAGE_MODULES[name])


def input_uri(cfg: Config) -> str:
    if cfg.input:
        return cfg.input
    from wfcore.sample import bundled_sample_path

    return bundled_sample_path()


def input_fingerprint(uri: str) -> dict:
    files = storage.expand_inputs(uri)
    items = []
    for f in files:
        fs, path = storage.filesystem(f)
        info = fs.get_file_info(path)
        items.append([f, info.size, str(info.mtime_ns if hasattr(info, "mtime_ns") else info.mtime)])
    return {"uri": uri, "files": len(files), "bytes": sum(i[1] or 0 for i in items), "hash": content_id(items)}


def stage_parts(name: str, cfg: Config) -> dict:
    """The config that determines a stage's output (module may add prompt versions etc.)."""
    mod = stage_module(name)
    if hasattr(mod, "fingerprint_parts"):
        return mod.fingerprint_parts(cfg)
    section = getattr(cfg, name, None)
    return section.model_dump(mode="json") if section is not None else {}


def fingerprints(cfg: Config, upto: str | None = None) -> dict[str, str]:
    fps: dict[str, str] = {}
    prev = content_id("input", input_fingerprint(input_uri(cfg))["hash"])
    for s in STAGES:
        prev = content_id(s, stage_parts(s, cfg), prev)
        fps[s] = prev
        if s == upto:
            break
    return fps


def run_stage(name: str, cfg: Config, force: bool = False, fps: dict[str, str] | None = None) -> dict:
    rd = RunDir(cfg.run)
    fps = fps or fingerprints(cfg, upto=name)
    fp = fps[name]
    if not force and rd.stage_done(name, fp):
        rec = rd.stage(name)
        print(f"[{name}] committed with the same inputs and config: skipped", file=sys.stderr)
        return rec
    prior = rd.stage(name)
    if prior.get("status") == "done" and prior.get("fingerprint") != fp:
        stale = rd.invalidate_from(name)
        if stale:
            print(f"[{name}] config or inputs changed: recomputing {', '.join(stale)}", file=sys.stderr)
    _ensure_manifest(rd, cfg)
    ctx = StageContext(name=name, run=rd, cfg=cfg, fingerprint=fp)
    mod = stage_module(name)
    with rd.stage_run(name, fp, config=stage_parts(name, cfg)) as record:
        ctx.record = record
        t0 = time.time()
        mod.run(ctx)
        record.setdefault("wall_seconds", round(time.time() - t0, 3))
        _check_accounting(name, record)
    print(
        f"[{name}] done: {record.get('rows_in', 0):,} in -> {record.get('rows_out', 0):,} out, "
        f"{record.get('rows_rejected', 0):,} rejected",
        file=sys.stderr,
    )
    return rd.stage(name)


def _check_accounting(name: str, record: dict) -> None:
    """rows in = rows out + rows rejected, or the stage fails loudly."""
    rin, rout, rrej = (int(record.get(k, 0)) for k in ("rows_in", "rows_out", "rows_rejected"))
    by = sum(int(v) for v in record.get("rejected_by_reason", {}).values())
    if rin != rout + rrej or by != rrej:
        raise RuntimeError(
            f"stage {name} lost rows: rows_in={rin} rows_out={rout} rows_rejected={rrej} "
            f"(sum by reason {by})"
        )


def _ensure_manifest(rd: RunDir, cfg: Config) -> None:
    m = rd.manifest()
    m["config"] = cfg.model_dump(mode="json")
    m["code_version"] = code_version()
    m.setdefault("created_at", now())
    m["input"] = input_fingerprint(input_uri(cfg))
    rd.write_manifest(m)


def run_all(cfg: Config, stages: list[str] | None = None, force: bool = False) -> dict:
    fps = fingerprints(cfg)
    for s in stages or STAGES:
        run_stage(s, cfg, force=force, fps=fps)
    from jobs.report import write_report

    return write_report(RunDir(cfg.run), cfg)
