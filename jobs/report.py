"""Run report: funnel, per-stage throughput, tokens, GPU-hours and cost (report.json + report.html)."""

from __future__ import annotations

import html
import json
from collections import Counter

import pyarrow.compute as pc

from wfcore import storage
from wfcore.config import Config
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES
from wfcore.run import STAGES, RunDir, now

MODEL_STAGES = ("detect", "preferences", "respond")


def _read(rd: RunDir, table: str, columns: list[str]):
    ds = rd.table(table)
    if not ds.is_committed():
        return None
    try:
        return storage.read_parquet_files(ds.files()).select(columns)
    except Exception:  # noqa: BLE001
        return None


def _funnel(rd: RunDir, stages: dict) -> tuple[dict, dict]:
    f: dict = {}
    cats: dict = {"SAT": Counter(), "DSAT": Counter()}
    ing, prep, asm = stages.get("ingest", {}), stages.get("prepare", {}), stages.get("assemble", {})
    f["conversations_read"] = ing.get("rows_in", 0)
    f["conversations_accepted"] = ing.get("rows_out", 0)
    f["conversations_rejected"] = ing.get("rows_rejected", 0)
    f["conversations_kept"] = prep.get("rows_out", 0)
    f["candidate_turns"] = rd.table("turns").num_rows()
    fb = _read(rd, "feedback", ["sat", "dsat", "sat_categories", "dsat_categories", "error"])
    if fb is not None:
        sat = fb.column("sat").fill_null(False)
        dsat = fb.column("dsat").fill_null(False)
        f["sat_turns"] = int(pc.sum(sat).as_py() or 0)
        f["dsat_turns"] = int(pc.sum(dsat).as_py() or 0)
        f["feedback_turns"] = int(pc.sum(pc.or_(sat, dsat)).as_py() or 0)
        f["detect_error_rows"] = int(fb.num_rows - fb.column("error").null_count)
        for col, key in (("sat_categories", "SAT"), ("dsat_categories", "DSAT")):
            flat = pc.list_flatten(fb.column(col))
            for v, n in zip(*pc.value_counts(flat).flatten(), strict=True) if len(flat) else []:
                cats[key][v.as_py()] += n.as_py()
    f["preferences"] = rd.table("preferences").num_rows()
    f["responses"] = rd.table("responses").num_rows()
    f["candidate_pairs"] = asm.get("rows_in", 0)
    f["pairs_dropped_by_filter"] = asm.get("rejected_by_reason", {})
    pairs = _read(rd, "pairs", ["pair_type", "split", "signal"])
    f["pairs"] = pairs.num_rows if pairs is not None else 0
    if pairs is not None:
        f["pairs_by_type"] = dict(Counter(pairs.column("pair_type").to_pylist()))
        f["pairs_by_signal"] = dict(Counter(pairs.column("signal").to_pylist()))
        split = Counter(pairs.column("split").to_pylist())
        f["train"], f["test"] = split.get("train", 0), split.get("test", 0)
    return f, {k: dict(v) for k, v in cats.items()}


def build_report(rd: RunDir, cfg: Config) -> dict:
    m = rd.manifest()
    stages = m.get("stages", {})
    funnel, categories = _funnel(rd, stages)
    throughput = {}
    tokens_in = tokens_out = 0
    gpu_hours = 0.0
    for s in STAGES:
        r = stages.get(s)
        if not r:
            continue
        secs = float(r.get("wall_seconds") or 0)
        throughput[s] = {
            "status": r.get("status"),
            "rows_in": r.get("rows_in", 0),
            "rows_out": r.get("rows_out", 0),
            "wall_seconds": secs,
            "rows_per_second": round(r.get("rows_in", 0) / secs, 1) if secs else None,
            "tokens_in": r.get("tokens_in", 0),
            "tokens_out": r.get("tokens_out", 0),
            "error_rows": r.get("error_rows", 0),
            "shards_computed": r.get("shards_computed"),
            "shards_skipped": r.get("shards_skipped"),
        }
        tokens_in += int(r.get("tokens_in", 0) or 0)
        tokens_out += int(r.get("tokens_out", 0) or 0)
        engine = getattr(getattr(cfg, s, None), "engine", None)
        if s in MODEL_STAGES and engine == "vllm":
            gpu_hours += secs * cfg.vllm.concurrency * cfg.vllm.tensor_parallel_size * cfg.report.gpus_per_replica / 3600
    price = cfg.report.price_per_million_tokens
    api_cost = tokens_in / 1e6 * price.get("input", 0.0) + tokens_out / 1e6 * price.get("output", 0.0)
    cost = gpu_hours * cfg.report.gpu_hour_price + api_cost
    pairs = funnel.get("pairs", 0)
    return {
        "run": rd.uri,
        "generated_at": now(),
        "code_version": m.get("code_version"),
        "funnel": funnel,
        "categories": categories,
        "throughput": throughput,
        "tokens": {"input": tokens_in, "output": tokens_out},
        "cost": {
            "gpu_hours": round(gpu_hours, 4),
            "gpu_hour_price": cfg.report.gpu_hour_price,
            "api_cost": round(api_cost, 4),
            "total": round(cost, 4),
            "per_1000_pairs": round(cost / pairs * 1000, 4) if pairs else None,
            "note": "GPU-hours = model-stage wall time x replicas x GPUs per replica; measured on this run's hardware.",
        },
    }


def _bars(items: list[tuple[str, int]], color: str = "#4a78c2") -> str:
    if not items:
        return "<p><em>nothing to show</em></p>"
    top = max(v for _, v in items) or 1
    rows, h = [], 22
    for i, (label, v) in enumerate(items):
        w = int(420 * v / top)
        y = i * h
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="200" y="{y + 3}" width="{max(w, 1)}" height="16" fill="{color}"/>'
            f'<text x="{205 + w}" y="{y + 15}" font-size="12">{v:,}</text>'
        )
    return f'<svg width="720" height="{len(items) * h + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'


def render_html(rep: dict) -> str:
    f = rep["funnel"]
    steps = [
        ("conversations read", f.get("conversations_read", 0)),
        ("accepted (ingest)", f.get("conversations_accepted", 0)),
        ("kept (prepare)", f.get("conversations_kept", 0)),
        ("candidate turns", f.get("candidate_turns", 0)),
        ("feedback turns", f.get("feedback_turns", 0)),
        ("  SAT turns", f.get("sat_turns", 0)),
        ("  DSAT turns", f.get("dsat_turns", 0)),
        ("preferences", f.get("preferences", 0)),
        ("candidate pairs", f.get("candidate_pairs", 0)),
        ("pairs (after filters)", f.get("pairs", 0)),
        ("  train", f.get("train", 0)),
        ("  test", f.get("test", 0)),
    ]
    cats = [(c, rep["categories"].get("SAT", {}).get(c, 0)) for c in SAT_CATEGORIES]
    cats += [(c, rep["categories"].get("DSAT", {}).get(c, 0)) for c in DSAT_CATEGORIES]
    thr = "".join(
        f"<tr><td>{s}</td><td>{t['status']}</td><td>{t['rows_in']:,}</td><td>{t['rows_out']:,}</td>"
        f"<td>{t['wall_seconds']:.1f}</td><td>{t['rows_per_second'] or ''}</td><td>{t['tokens_in']:,}</td>"
        f"<td>{t['tokens_out']:,}</td><td>{t['error_rows']}</td></tr>"
        for s, t in rep["throughput"].items()
    )
    filters = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in f.get("pairs_dropped_by_filter", {}).items()
    )
    cost = rep["cost"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>wildfeedback report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>wildfeedback run report</h1>
<p>run <code>{html.escape(rep['run'])}</code>, code {html.escape(str(rep.get('code_version')))}, generated {rep['generated_at']}</p>
<h2>Funnel</h2>{_bars(steps)}
<h2>Rubric categories of detected feedback turns</h2>{_bars(cats[:9], '#3c9a5f')}{_bars(cats[9:], '#c0504d')}
<h2>Pairs by type</h2>{_bars(sorted(f.get('pairs_by_type', {}).items()))}
<h2>Pairs dropped by filter</h2><table><tr><th>filter</th><th>pairs</th></tr>{filters}</table>
<h2>Throughput per stage</h2><table><tr><th>stage</th><th>status</th><th>rows in</th><th>rows out</th><th>seconds</th>
<th>rows/s</th><th>tokens in</th><th>tokens out</th><th>error rows</th></tr>{thr}</table>
<h2>Cost</h2><p>GPU-hours {cost['gpu_hours']} at {cost['gpu_hour_price']}/h, API cost {cost['api_cost']};
total {cost['total']}; per 1,000 pairs: {cost['per_1000_pairs']}. {html.escape(cost['note'])}</p>
<script type="application/json" id="report">{html.escape(json.dumps(rep))}</script>
</body></html>"""


def write_report(rd: RunDir, cfg: Config) -> dict:
    rep = build_report(rd, cfg)
    storage.write_json_atomic(rd.path("report.json"), rep)
    storage.write_bytes_atomic(rd.path("report.html"), render_html(rep).encode("utf-8"))
    return rep
