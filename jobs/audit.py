"""`wildfeedback audit sample|score`: measure a run's detector against human labels, no model needed.

``sample`` writes a labelling sheet of candidate turns stratified by the detector's label
(``RUN/audit/sheet.csv`` and ``sheet.jsonl``, instructions in ``RUN/audit/README.md``, the
design in ``RUN/audit/sample.json``); ``score`` reads the filled sheet and writes precision,
recall, F1 and Cohen's kappa per signal with bootstrap intervals, weighted to estimate the
whole run (``RUN/audit/scores.json``, per-turn ``RUN/audit/scored.jsonl``), then refreshes the
report. The method is in :mod:`wfcore.audit`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import posixpath

import pyarrow.parquet as pq

from wfcore import audit, lexical, storage
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES
from wfcore.run import RunDir, now

log = logging.getLogger(__name__)

SHEET_COLUMNS = (
    "turn_id",
    "conversation_id",
    "message_index",
    "previous_user_message",
    "previous_response",
    "user_message",
    "sat",
    "dsat",
    "categories",
    "notes",
)
LABEL_COLUMNS = ("sat", "dsat", "categories", "notes")
CSV_CELL_MAX = 30_000  # spreadsheet cells hold at most 32,767 characters
PREFILTER_DETECTOR = "lexical-prefilter"  # jobs.detect.PREFILTER


def _feedback(rd: RunDir):
    ds = rd.table("feedback")
    if not ds.is_committed():
        raise audit.AuditError(f"{rd.uri}: detect has not run (no committed feedback table)")
    cols = [
        "turn_id",
        "conversation_id",
        "message_index",
        "sat",
        "dsat",
        "sat_categories",
        "dsat_categories",
        "detector",
        "error",
    ]
    return ds.read(columns=cols).to_pylist()


def _turn_rows(rd: RunDir, turn_ids: set[str]) -> dict[str, dict]:
    """The turns' text (PII-scrubbed by prepare), read only for ``turn_ids``."""
    out: dict[str, dict] = {}
    cols = ["turn_id", "history", "response", "user_message"]
    for f in rd.table("turns").files():
        fs, path = storage.filesystem(f)
        t = pq.read_table(
            path, filesystem=fs, columns=cols, filters=[("turn_id", "in", sorted(turn_ids))]
        )
        for row in t.to_pylist():
            out[row["turn_id"]] = row
    return out


def _previous_user(history: list[dict] | None) -> str | None:
    for m in reversed(history or []):
        if m.get("role") == "user":
            return m.get("content")
    return None


def _strata(rows: list[dict]) -> tuple[dict[str, str], int]:
    strata, errors = {}, 0
    for r in rows:
        if r["error"] is not None or r["sat"] is None or r["dsat"] is None:
            errors += 1
            continue
        strata[r["turn_id"]] = audit.stratum_of(
            r["sat"],
            r["dsat"],
            r["sat_categories"],
            r["dsat_categories"],
            r["detector"] == PREFILTER_DETECTOR,
        )
    return strata, errors


def _csv_cell(v) -> str:
    s = "" if v is None else str(v)
    return s if len(s) <= CSV_CELL_MAX else "[...] " + s[-CSV_CELL_MAX:]


def sample(run: str, n: int = 200, seed: int = 0, force: bool = False) -> dict:
    rd = RunDir(run)
    rows = _feedback(rd)
    strata, errors = _strata(rows)
    design_uri = rd.path("audit", "sample.json")
    detect_fp = rd.stage("detect").get("fingerprint")
    old = storage.read_json(design_uri)
    if (
        old
        and not force
        and (old.get("n"), old.get("seed"), old.get("detect_fingerprint")) != (n, seed, detect_fp)
    ):
        raise audit.AuditError(
            f"{design_uri} exists with n={old.get('n')} seed={old.get('seed')} (a sheet may be being labelled): "
            "pass --force to replace it"
        )
    picked = audit.stratified_sample(strata, n, seed)
    texts = _turn_rows(rd, set(picked))
    by_id = {r["turn_id"]: r for r in rows}
    sizes: dict[str, int] = {}
    for h in strata.values():
        sizes[h] = sizes.get(h, 0) + 1
    sheet = []
    for tid in audit.sheet_order(picked, seed):
        r, t = by_id[tid], texts.get(tid, {})
        sheet.append(
            {
                "turn_id": tid,
                "conversation_id": r["conversation_id"],
                "message_index": r["message_index"],
                "previous_user_message": _previous_user(t.get("history")),
                "previous_response": t.get("response"),
                "user_message": t.get("user_message"),
                "sat": "",
                "dsat": "",
                "categories": "",
                "notes": "",
            }
        )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SHEET_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in sheet:
        w.writerow({k: _csv_cell(v) for k, v in row.items()})
    storage.write_bytes_atomic(rd.path("audit", "sheet.csv"), buf.getvalue().encode("utf-8"))
    jsonl = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in sheet)
    storage.write_bytes_atomic(rd.path("audit", "sheet.jsonl"), jsonl.encode("utf-8"))
    design = {
        "created_at": now(),
        "n": n,
        "seed": seed,
        "sampled": len(picked),
        "run_turns": len(rows),
        "error_rows_excluded": errors,
        "detect_fingerprint": detect_fp,
        "detector": sorted({r["detector"] for r in rows if r["detector"]}),
        "strata": {
            h: {"turns": sizes[h], "sampled": sum(1 for v in picked.values() if v == h)}
            for h in sorted(sizes)
        },
        "turns": dict(sorted(picked.items())),
    }
    storage.write_json_atomic(design_uri, design)
    storage.write_bytes_atomic(
        rd.path("audit", "README.md"), sheet_readme(rd.uri, design).encode("utf-8")
    )
    log.info("audit sample: %d turns from %d strata", len(picked), len(sizes))
    return design


def sheet_readme(run: str, design: dict) -> str:
    cats = "\n".join(f"- **{k}** (SAT): {v}" for k, v in SAT_CATEGORIES.items())
    cats += "\n" + "\n".join(f"- **{k}** (DSAT): {v}" for k, v in DSAT_CATEGORIES.items())
    return f"""# Labelling sheet: the detector audit of this run

`sheet.csv` (or `sheet.jsonl`, the same rows) holds {design["sampled"]} candidate feedback turns
of the run, sampled in strata by what the detector said (seed {design["seed"]}). The rows are
shuffled and the detector's answer is not shown: label what you read, not what you expect.

Each row: `previous_user_message` (the request before), `previous_response` (the assistant
response the user reacts to) and `user_message` (the turn to label). Fill in, per row:

- `sat`: 1 if the user is satisfied with the previous response, else 0;
- `dsat`: 1 if the user is dissatisfied with it, else 0 (both may be 1: "thanks, but ...");
- `categories`: the rubric categories that apply, separated by `;` (a category implies its
  signal: `Revision` alone means dsat = 1);
- `notes`: anything (ignored by the score).

Politeness is not satisfaction ("thanks, now do Y" is usually a new request: sat 0), and a
repeated or rephrased request is DSAT Revision even without a complaint word. A row whose `sat`,
`dsat` and `categories` are all blank counts as not labelled: you may label part of the sheet.
Accepted values: 1/0, yes/no, true/false, x (= 1). Do not edit `turn_id`.

Then score the run's detector against your labels (the figures are weighted by stratum, so they
estimate the whole run, not only the sheet):

    wildfeedback audit score --run {run} --labels {run}/audit/sheet.csv   (or your filled copy)

Rubric categories:
{cats}
"""


# ---------------------------------------------------------------- score


def read_labels(uri: str) -> list[dict]:
    """Rows of a filled sheet: CSV (by extension ``.csv``/``.tsv``) or JSON Lines."""
    if not storage.exists(uri):
        raise audit.AuditError(f"labels file not found: {uri}")
    with storage.open_stream(uri, "rb") as f:
        data = f.read().decode("utf-8-sig")
    low = uri.lower()
    if low.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
        return list(csv.DictReader(io.StringIO(data), delimiter="\t" if ".tsv" in low else ","))
    rows = []
    for i, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise audit.AuditError(f"{uri} line {i}: not JSON ({e.msg})") from None
    return rows


def _prefilter_passed(
    rd: RunDir, rows: dict[str, dict], turn_ids: list[str]
) -> tuple[dict[str, bool] | None, str]:
    """Whether the prefilter passes each turn on to a model, and how that was decided."""
    cfg = (rd.manifest().get("config") or {}).get("detect", {})
    engine, mode = cfg.get("engine", "lexical"), cfg.get("prefilter", "prefilter")
    threshold = float(cfg.get("prefilter_threshold", lexical.PREFILTER_THRESHOLD))
    if engine != "lexical":
        if mode != "prefilter":
            return None, "no prefilter (detect.prefilter: off)"
        return {
            t: rows[t]["detector"] != PREFILTER_DETECTOR for t in turn_ids
        }, "this run's prefilter"
    texts = _turn_rows(rd, set(turn_ids))
    out = {}
    for t in turn_ids:
        x = texts.get(t, {})
        det = lexical.classify(
            x.get("user_message") or "",
            _previous_user(x.get("history")),
            x.get("response"),
            threshold=threshold,
        )
        out[t] = det.candidate
    return out, f"lexical prefilter at threshold {threshold} (what it would pass to a model)"


def score_run(run: str, labels_uri: str, n_boot: int = 1000, seed: int = 0) -> dict:
    rd = RunDir(run)
    design = storage.read_json(rd.path("audit", "sample.json"))
    if not design:
        raise audit.AuditError(
            f"{rd.uri}: no audit sample (run `wildfeedback audit sample --run {run}` first)"
        )
    sizes = {h: int(v["turns"]) for h, v in design["strata"].items()}
    sampled: dict[str, str] = design["turns"]
    fb = {r["turn_id"]: r for r in _feedback(rd)}
    raw = read_labels(labels_uri)
    labels: dict[str, audit.Label] = {}
    tally = {
        "rows_read": len(raw),
        "scored": 0,
        "unlabelled": 0,
        "not_in_sample": 0,
        "not_in_run": 0,
        "duplicate_turn_id": 0,
    }
    for i, row in enumerate(raw, 2 if labels_uri.lower().endswith((".csv", ".tsv")) else 1):
        tid = str(row.get("turn_id") or "").strip()
        label = audit.parse_label(
            row, f"{posixpath.basename(labels_uri)} row {i} (turn {tid or '?'})"
        )
        if label is None:
            tally["unlabelled"] += 1
        elif tid not in sampled:
            tally["not_in_sample"] += 1
        elif tid not in fb or fb[tid]["error"] is not None or fb[tid]["sat"] is None:
            tally["not_in_run"] += 1
        elif tid in labels:
            tally["duplicate_turn_id"] += 1
        else:
            labels[tid] = label
            tally["scored"] += 1
    ids = sorted(labels)
    passed, how = _prefilter_passed(rd, fb, ids)
    turns = []
    for t in ids:
        r = fb[t]
        turns.append(
            audit.AuditTurn(
                turn_id=t,
                stratum=sampled[t],
                pred_sat=bool(r["sat"]),
                pred_dsat=bool(r["dsat"]),
                pred_categories=frozenset(
                    (r["sat_categories"] or []) + (r["dsat_categories"] or [])
                ),
                label=labels[t],
                passed=None if passed is None else passed[t],
            )
        )
    res = audit.score(turns, sizes, n_boot=n_boot, seed=seed)
    detect_fp = rd.stage("detect").get("fingerprint")
    res.update(
        scored_at=now(),
        labels=posixpath.basename(labels_uri),
        rows=tally,
        prefilter_source=how,
        detector=sorted({fb[t]["detector"] for t in ids if fb[t]["detector"]}),
        sample={"n": design["n"], "seed": design["seed"], "sampled": design["sampled"]},
        detector_changed_since_sample=detect_fp != design.get("detect_fingerprint"),
    )
    storage.write_json_atomic(rd.path("audit", "scores.json"), res)
    per_turn = "".join(
        json.dumps(
            {
                "turn_id": t.turn_id,
                "stratum": t.stratum,
                "weight": res["strata"][t.stratum]["weight"],
                "pred_sat": t.pred_sat,
                "pred_dsat": t.pred_dsat,
                "pred_categories": sorted(t.pred_categories),
                "sat": t.label.sat,
                "dsat": t.label.dsat,
                "categories": sorted(t.label.categories),
                "prefilter_passed": t.passed,
            }
        )
        + "\n"
        for t in turns
    )
    storage.write_bytes_atomic(rd.path("audit", "scored.jsonl"), per_turn.encode("utf-8"))
    return res


def refresh_report(run: str) -> bool:
    """Rewrite the run's report (with the audit) when the run has one."""
    rd = RunDir(run)
    if not storage.exists(rd.path("report.json")):
        return False
    from .report import saved_config, write_report

    write_report(rd, saved_config(rd))
    return True


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def summary_lines(res: dict) -> list[str]:
    r = res["rows"]
    lines = [
        f"{res['labelled']} labelled turns scored ({r['rows_read']} rows read: {r['unlabelled']} left blank, "
        f"{r['not_in_sample']} not in the sample, {r['not_in_run']} not in the run, {r['duplicate_turn_id']} repeated); "
        f"weighted to the run's {res['run_turns_covered']:,} of {res['run_turns']:,} turns",
        f"{'signal':<9} {'n':>4} {'gold+':>5} {'pred+':>5}  {'precision':>21} {'recall':>21} {'F1':>21} {'kappa':>21}",
    ]
    for sig, m in res["signals"].items():
        c = m["counts"]
        cells = []
        for k in ("precision", "recall", "f1", "kappa"):
            ci = (m.get("ci95") or {}).get(k)
            cells.append(
                f"{_fmt(m['estimate'][k])} [{_fmt(ci[0]) if ci else '-'}, {_fmt(ci[1]) if ci else '-'}]"
            )
        lines.append(
            f"{sig:<9} {m['n']:>4} {c['tp'] + c['fn']:>5} {c['tp'] + c['fp']:>5}  "
            + " ".join(f"{x:>21}" for x in cells)
        )
    lines.append(
        "  (weighted estimates for the whole run [95% bootstrap]; unweighted sample figures in scores.json)"
    )
    pf = res.get("prefilter")
    if pf:
        lines.append(
            f"prefilter recall of labelled SAT/DSAT turns: {_fmt(pf['estimate'])} weighted, "
            f"{_fmt(pf['sample'])} on the sample ({pf['passed']}/{pf['gold_positive']}); {res['prefilter_source']}"
        )
    return lines


def main(args) -> int:
    if args.audit_command == "sample":
        design = sample(args.run, n=args.n, seed=args.seed, force=args.force)
        print(
            f"wrote {RunDir(args.run).path('audit', 'sheet.csv')} (+ sheet.jsonl, README.md, sample.json): "
            f"{design['sampled']} turns in {len(design['strata'])} strata"
        )
        for h, v in design["strata"].items():
            print(f"  {h:<32} {v['sampled']:>5} of {v['turns']:>7,}")
        return 0
    res = score_run(args.run, args.labels, n_boot=args.bootstrap, seed=args.seed)
    print("\n".join(summary_lines(res)))
    print(f"wrote {RunDir(args.run).path('audit', 'scores.json')}")
    if refresh_report(args.run):
        print(f"report refreshed: {RunDir(args.run).path('report.html')}")
    return 0
