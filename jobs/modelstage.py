"""The shard loop shared by the model stages (detect, preferences, respond).

For every input shard not yet committed in the output dataset with this stage's fingerprint:
plan the shard (rows decided without a model + chat requests for the engine), send the requests
of up to ``shards_per_plan`` shards through one Ray Data plan (one engine start), parse and
validate each answer as it streams back, and commit each shard as soon as all of its answers are
final. Invalid answers are retried (up to ``max_retries`` times) in one further plan per attempt,
after the first plan drains; their shards commit then. What still fails becomes an error row. A rerun skips committed shards; per-shard counts live in the shard markers,
so a resumed stage still reports the totals of the whole input.

Inside a shard, final answers are committed as they arrive: every ``batch_size`` final answers
of a shard (or every ``PARTIAL_FLUSH_S`` seconds) go to a part file under
``_shards/partial/FINGERPRINT/SHARD/``. A killed stage therefore loses only the answers in
flight; the rerun reads the parts of each unfinished shard and sends only the requests still
unanswered. The parts are deleted once their shard commits.

Each output row records model id, prompt version, sampling settings (JSON), input and output
tokens (summed over attempts) and the error, if any; ``raw_output`` keeps the failing text. The
stage's prompt tokens served from the engine's prefix cache (``tokens_cached``, vLLM's
``num_cached_tokens``, also summed over attempts) are counted per shard and in the manifest, not
per row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from wfcore import engines
from wfcore.config import SamplingConfig
from wfcore.schema import to_table
from wfcore.storage import Dataset

from .context import StageContext

RAW_OUTPUT_MAX_CHARS = 2_000
# A row from ``make_row`` may carry this key: a list of corrections made to a valid answer (for
# example a detect evidence that was not a quote, cleared). They are counted per stage in
# ``manifest.stages.NAME.notes`` and are not part of the output table.
NOTES = "_notes"
PARTIAL_FLUSH_S = 20.0

PARTIAL = pa.schema([
    ("key", pa.string()), ("text", pa.string()), ("tokens_in", pa.int64()), ("tokens_out", pa.int64()),
    ("tokens_cached", pa.int64()), ("finish_reason", pa.string()), ("error", pa.string()), ("value", pa.string()), ("sampling", pa.string()),
    ("attempts", pa.int32()),
])


@dataclass
class ShardWork:
    """One input shard, planned: output rows that need no model, and requests that do."""

    shard: int
    rows_in: int
    requests: list[dict] = field(default_factory=list)  # {"key", "messages", ...context for make_row}
    fixed_rows: list[dict] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    turns_out: int | None = None  # input rows that produced output (default: rows_in - rejected)
    # a stage's own counters (e.g. preferences taken from the detect answer), summed over shards
    # (committed ones included) into the totals ``run_sharded`` returns
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelStage:
    name: str
    output: str  # table name
    schema: pa.Schema
    prompt_version: str
    json_schema: dict | None
    parse: Callable[[str], tuple[Any, str | None]]
    make_row: Callable[[dict, Any, dict], dict]  # (request, parsed value or None, lineage) -> row
    sampling: SamplingConfig
    max_retries: int
    # optional: parse with the request at hand, for answers whose validity depends on it (the
    # judge's item verdicts must match the request's checklist length); replaces ``parse``
    parse_request: Callable[[str, dict], tuple[Any, str | None]] | None = None


def input_shards(ds: Dataset) -> dict[int, str]:
    """Shard number -> file URI of a committed, sharded dataset (``extra.shards`` of its commit)."""
    from wfcore.storage import join

    info = ds.commit_info()
    if info is None:
        raise FileNotFoundError(f"input not committed: {ds.uri}")
    shards = info.get("shards")
    if shards is None:
        raise ValueError(f"{ds.uri}: commit has no 'shards' map (written by an unsharded writer)")
    return {int(k): join(ds.uri, v) for k, v in shards.items()}


def read_shard(uri: str, schema: pa.Schema) -> list[dict]:
    from wfcore.storage import read_parquet_files

    return read_parquet_files([uri], schema).to_pylist()


def conversation_order(rows: list[dict]) -> list[dict]:
    """Turns of one conversation adjacent and in order, so their prompts share prefixes."""
    return sorted(rows, key=lambda r: (r.get("conversation_id") or "", r.get("message_index") or 0))


def lineage(model: str, prompt_version: str, sampling: dict | None = None, tokens_in: int = 0,
            tokens_out: int = 0, error: str | None = None, raw_output: str | None = None) -> dict:
    return {
        "model": model,
        "prompt_version": prompt_version,
        "sampling": json.dumps(sampling or {}, sort_keys=True),
        "tokens_in": int(tokens_in),
        "tokens_out": int(tokens_out),
        "error": error,
        "raw_output": raw_output[:RAW_OUTPUT_MAX_CHARS] if (error and raw_output) else None,
    }


def _result(res: dict, stage: ModelStage, sampling: dict, attempt: int, prev: dict,
            request: dict | None = None) -> tuple[dict, bool]:
    """Parse one engine result; returns (result with ``value``/``error``, is it invalid output)."""
    if res["error"]:
        value, err, invalid = None, res["error"], False
    else:
        if stage.parse_request is not None and request is not None:
            value, err = stage.parse_request(res["text"], request)
        else:
            value, err = stage.parse(res["text"])
        invalid = bool(err)
        if err:
            err = f"invalid_output: {err}"
    return {
        **res,
        "value": value,
        "error": err,
        "sampling": sampling,
        "attempts": attempt + 1,
        "tokens_in": int(res["tokens_in"]) + prev.get("tokens_in", 0),
        "tokens_out": int(res["tokens_out"]) + prev.get("tokens_out", 0),
        "tokens_cached": int(res.get("tokens_cached") or 0) + int(prev.get("tokens_cached") or 0),
    }, invalid


class PartialResults:
    """Final answers of unfinished shards, committed as part files (one per flush)."""

    def __init__(self, out: Dataset, fingerprint: str):
        from wfcore.storage import join

        self.root = join(out.uri, "_shards", "partial", fingerprint)

    def _dir(self, shard: int) -> str:
        from wfcore.storage import join

        return join(self.root, f"{int(shard):05d}")

    def write(self, shard: int, results: list[dict]) -> None:
        import uuid

        from wfcore.storage import join, write_parquet_atomic

        rows = [{
            "key": r["key"], "text": r.get("text") or "", "tokens_in": int(r.get("tokens_in") or 0),
            "tokens_out": int(r.get("tokens_out") or 0), "tokens_cached": int(r.get("tokens_cached") or 0),
            "finish_reason": r.get("finish_reason") or "",
            "error": r.get("error") or "", "value": json.dumps(r.get("value")),
            "sampling": json.dumps(r.get("sampling") or {}, sort_keys=True), "attempts": int(r.get("attempts") or 1),
        } for r in results]
        table = pa.Table.from_pylist(rows, schema=PARTIAL)
        write_parquet_atomic(join(self._dir(shard), f"part-{uuid.uuid4().hex[:12]}.parquet"), table)

    def load(self, shard: int) -> dict[str, dict]:
        from wfcore.storage import list_files, read_parquet_files

        files = list_files(self._dir(shard), ".parquet")
        if not files:
            return {}
        out = {}
        for r in read_parquet_files(files, PARTIAL).to_pylist():
            r["value"] = json.loads(r["value"])
            r["sampling"] = json.loads(r["sampling"])
            r["error"] = r["error"] or ""
            r["tokens_cached"] = int(r.get("tokens_cached") or 0)  # null in parts written before it
            out[r["key"]] = r
        return out

    def drop(self, shard: int) -> None:
        from wfcore.storage import delete, exists

        d = self._dir(shard)
        try:
            if exists(d):
                delete(d)
        except OSError:
            pass


def generate_streaming(
    spec: engines.EngineSpec,
    stage: ModelStage,
    requests: list[dict],
    on_final: Callable[[str, dict], None],
    timings: dict | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, dict]:
    """Run ``requests`` through the engine; call ``on_final(key, result)`` as each answer is final.

    An answer is final when it validates, when it is an engine-side error (deterministic, e.g. a
    prompt longer than the context: not retried), or when it is still invalid on the last
    attempt. Invalid answers are retried with a fresh seed in one further plan per attempt, after
    the current plan has drained. ``timings`` (optional) receives ``plans`` and
    ``first_result_s`` (time to each plan's first result, summed: engine start-up plus the first
    batch). Returns key -> result with ``value``.
    """
    results: dict[str, dict] = {}
    by_key = {r["key"]: r for r in requests} if stage.parse_request is not None else {}
    todo = requests
    for attempt in range(stage.max_retries + 1):
        sampling = engines.sampling_dict(stage.sampling, attempt)
        retry: set[str] = set()
        last = attempt == stage.max_retries
        t0 = time.monotonic()
        first = True
        if timings is not None:
            timings["requests_sent"] = timings.get("requests_sent", 0) + len(todo)
        for res in engines.run_requests(spec, todo, sampling, stage.json_schema):
            if first and timings is not None:
                timings["first_result_s"] = timings.get("first_result_s", 0.0) + time.monotonic() - t0
                first = False
            key = res["key"]
            results[key], invalid = _result(res, stage, sampling, attempt, results.get(key, {}), by_key.get(key))
            if invalid and not last:
                retry.add(key)
            else:
                on_final(key, results[key])
        if timings is not None:
            timings["plans"] = timings.get("plans", 0) + 1
        todo = [r for r in todo if r["key"] in retry]
        if not todo:
            break
        if note is not None:
            note(f"retrying {len(todo)} invalid answers (attempt {attempt + 2})")
    return results


def generate_with_retries(spec: engines.EngineSpec, stage: ModelStage, requests: list[dict]) -> dict[str, dict]:
    """``generate_streaming`` without the callback: key -> final result."""
    return generate_streaming(spec, stage, requests, lambda key, res: None)


def _rows_for(work: ShardWork, stage: ModelStage, spec: engines.EngineSpec | None, results: dict) -> list[dict]:
    rows = list(work.fixed_rows)
    for req in work.requests:
        res = results.get(req["key"])
        if res is None:
            res = {"value": None, "error": "missing_result", "text": "", "sampling": {}, "tokens_in": 0, "tokens_out": 0}
        lin = lineage(spec.model_id if spec else "", stage.prompt_version, res.get("sampling"),
                      res.get("tokens_in", 0), res.get("tokens_out", 0), res.get("error"), res.get("text"))
        rows.append(stage.make_row({**req, "result": res}, res["value"], lin))
    return rows


def cached_tokens(work: ShardWork, results: dict) -> int:
    """Prompt tokens of a shard's requests that the engine served from its prefix cache."""
    return sum(int((results.get(r["key"]) or {}).get("tokens_cached") or 0) for r in work.requests)


def _add(totals: dict, stats: dict) -> None:
    for k in ("rows_in", "rows_out", "tokens_in", "tokens_out", "tokens_cached", "error_rows", "table_rows",
              "model_requests"):
        totals[k] = totals.get(k, 0) + int(stats.get(k, 0))
    for group in ("rejected_by_reason", "notes", "counts"):
        for key, n in stats.get(group, {}).items():
            totals.setdefault(group, {})[key] = totals.get(group, {}).get(key, 0) + n


def run_sharded(
    ctx: StageContext,
    stage: ModelStage,
    spec: engines.EngineSpec | None,
    shards: list[int],
    plan: Callable[[int], ShardWork],
) -> dict:
    """The stage's shard loop (see module docstring). Fills ``ctx.record``; returns the totals."""
    out = ctx.run.table(stage.output)
    fp = ctx.fingerprint
    shards = sorted(shards)
    done = out.committed_shards(fp)
    pending = [s for s in shards if s not in done]
    totals: dict = {"rejected_by_reason": {}}
    for s in shards:
        if s in done:
            _add(totals, done[s].get("stats", {}))
    progress = ctx.progress(len(shards))
    if done:
        progress.note(f"{len(shards) - len(pending)} of {len(shards)} shards already committed: skipped")
    wave_size = spec.shards_per_plan if spec else 1
    timings: dict = {}
    partial = PartialResults(out, fp)
    flush_rows = spec.batch_size if spec else 1
    resumed = 0

    def commit(w: ShardWork, results: dict) -> None:
        rows = _rows_for(w, stage, spec, results)
        notes: dict[str, int] = {}
        for r in rows:
            for note in r.pop(NOTES, None) or ():
                notes[note] = notes.get(note, 0) + 1
        table = to_table(rows, stage.schema)
        rejected = sum(w.rejected.values())
        stats = {
            "rows_in": w.rows_in,
            "rows_out": w.turns_out if w.turns_out is not None else w.rows_in - rejected,
            "rejected_by_reason": dict(w.rejected),
            "table_rows": table.num_rows,
            "model_requests": len(w.requests),
            "tokens_in": sum(int(r.get("tokens_in") or 0) for r in rows),
            "tokens_out": sum(int(r.get("tokens_out") or 0) for r in rows),
            "tokens_cached": cached_tokens(w, results),
            "error_rows": sum(1 for r in rows if r.get("error")),
            "notes": notes,
            "counts": dict(w.counts),
        }
        out.write_shard(w.shard, table, fp, extra={"stats": stats})
        partial.drop(w.shard)
        _add(totals, stats)
        progress.advance(1, rows=w.rows_in, force=True)

    for i in range(0, len(pending), wave_size):
        # One plan (one engine start) for the whole wave; each shard commits as soon as the last
        # of its answers is final, so a kill loses only shards still in flight, and within those
        # only the answers not yet in a partial part.
        works = {s: plan(s) for s in pending[i : i + wave_size]}
        open_keys = {s: {r["key"] for r in w.requests} for s, w in works.items()}
        shard_of = {r["key"]: s for s, w in works.items() for r in w.requests}
        results: dict[str, dict] = {}
        committed: set[int] = set()
        unflushed: dict[int, list[dict]] = {s: [] for s in works}
        last_flush = {s: time.monotonic() for s in works}
        for s, w in works.items():
            if spec and open_keys[s]:
                kept = {k: r for k, r in partial.load(s).items() if k in open_keys[s]}
                results.update(kept)
                open_keys[s] -= set(kept)
                resumed += len(kept)
            if not open_keys[s]:
                commit(w, results)
                committed.add(s)

        def on_final(key: str, res: dict, works=works, open_keys=open_keys, shard_of=shard_of,
                     results=results, committed=committed, unflushed=unflushed, last_flush=last_flush) -> None:
            results[key] = res
            progress.answered(1)
            s = shard_of.get(key)
            if s is None or s in committed:
                return
            open_keys[s].discard(key)
            if not open_keys[s]:
                commit(works[s], results)
                committed.add(s)
                return
            unflushed[s].append(res)
            now = time.monotonic()
            if len(unflushed[s]) >= flush_rows or now - last_flush[s] >= PARTIAL_FLUSH_S:
                partial.write(s, unflushed[s])
                unflushed[s] = []
                last_flush[s] = now

        requests = [r for s in works if s not in committed for r in works[s].requests if r["key"] in open_keys[s]]
        if resumed and i == 0:
            progress.note(f"{resumed} answers of unfinished shards already committed: not asked again")
        if spec and requests:
            from jobs.rayrt import init_ray

            init_ray(ctx.cfg.ray)  # only when there is something to ask (not when every row is decided)
            progress.expect(len(requests))
            try:
                generate_streaming(spec, stage, requests, on_final, timings, note=progress.note)
            finally:
                for s in works:  # a failing plan keeps the final answers it produced
                    if s not in committed and unflushed[s]:
                        partial.write(s, unflushed[s])
                        unflushed[s] = []
        for s, w in works.items():  # answers the engine never returned become missing_result rows
            if s not in committed:
                commit(w, results)
                committed.add(s)
    progress.close()
    if shards:
        files = {str(s): info["file"] for s, info in out.committed_shards(fp).items() if s in set(shards)}
        out.commit_shards(shards, fp, extra={"shards": files})
    else:
        out.write(stage.schema.empty_table(), fp, extra={"shards": {}})
    rec = ctx.record
    rec["rows_in"] = totals.get("rows_in", 0)
    rec["rows_out"] = totals.get("rows_out", 0)
    for reason, n in totals["rejected_by_reason"].items():
        ctx.reject(reason, n)
    rec.update(
        tokens_in=totals.get("tokens_in", 0),
        tokens_out=totals.get("tokens_out", 0),
        tokens_cached=totals.get("tokens_cached", 0),
        error_rows=totals.get("error_rows", 0),
        output_rows=totals.get("table_rows", 0),
        model_requests=totals.get("model_requests", 0),
        notes=totals.get("notes", {}),
        shards_total=len(shards),
        shards_skipped=len(shards) - len(pending),
        shards_computed=len(pending),
        engine_plans=timings.get("plans", 0),
        engine_requests=timings.get("requests_sent", 0),
        answers_resumed=resumed,
        engine_first_result_s=round(timings.get("first_result_s", 0.0), 2),
        engine=spec.kind if spec else "none",
        engine_name=spec.name if spec else None,
        model=spec.model_id if spec else None,
        prompt_version=stage.prompt_version,
    )
    return totals

