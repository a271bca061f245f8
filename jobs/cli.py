"""`wildfeedback`: one CLI for every stage, the whole pipeline, the generator, status, report and audit.

Exit codes: 0 success; 2 configuration or usage error; 1 a stage failed. Failures print one line
starting with `error:` (details and traceback with --verbose).
"""

from __future__ import annotations

import argparse
import json
import sys

from wfcore.run import STAGES

EPILOG = """\
config: --config takes a YAML file or a shipped profile name (default, vllm, openai,
object-storage); --set key=value overrides any key (dotted), e.g. --set detect.engine=lexical.
`wildfeedback config-doc` prints every key with its meaning."""


def _common(p: argparse.ArgumentParser, with_input: bool = False) -> None:
    p.add_argument("--config", "-c", default=None, help="YAML config file or shipped profile name (default: `default`).")
    p.add_argument("--set", "-s", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="Override one config key (repeatable), e.g. --set detect.engine=lexical.")
    p.add_argument("--run", "-r", default=None, help="Run directory or object-storage prefix (config key `run`).")
    if with_input:
        p.add_argument("--input", "-i", default=None,
                       help="Input corpus: file, folder or glob, local or s3:// (config key `input`; default: bundled sample).")
    p.add_argument("--force", action="store_true", help="Recompute even if committed with the same fingerprint.")
    p.add_argument("--verbose", "-v", action="store_true", help="Print tracebacks on failure.")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="wildfeedback",
        description="WildFeedback: turn in-situ user feedback in chat logs into preference pairs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="Run every stage in order (committed stages are skipped).")
    _common(p, with_input=True)
    p.add_argument("--until", choices=STAGES, default=None, help="Stop after this stage.")
    descriptions = {
        "ingest": "Read the input corpus into RUN/conversations (+ RUN/rejects).",
        "prepare": "Spark: filters, exact and near dedup, PII scrub, candidate turns (RUN/turns).",
        "detect": "Label SAT/DSAT per candidate turn (RUN/feedback).",
        "preferences": "Summarise what the user wanted per feedback turn (RUN/preferences).",
        "respond": "Generate preferred responses (RUN/responses).",
        "assemble": "Spark: build, filter and split pairs; exports (RUN/pairs, RUN/export).",
    }
    for s in STAGES:
        p = sub.add_parser(s, help=descriptions[s])
        _common(p, with_input=(s == "ingest"))
    p = sub.add_parser(
        "evaluate",
        help="Checklist-guided pairwise evaluation on the held-out set (RUN/eval/summary.json).",
        description="Judge candidate A against B on RUN/heldout/ in both orders with the checklist; write "
        "RUN/eval/summary.json (win rate of A with its 95% bootstrap interval) and RUN/eval/verdicts/. "
        "Without --config, the run's own saved config is the base (its engines are reused).",
    )
    _common(p)
    p = sub.add_parser("synth", help="Generate a synthetic corpus (WildChat layout by default).", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)
    p = sub.add_parser("status", help="Show each stage's status and counts for a run.")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--json", action="store_true", help="Print the manifest's stage records as JSON.")
    p = sub.add_parser("report", help="Write RUN/report.json and RUN/report.html.")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--config", "-c", default=None)
    p.add_argument("--set", "-s", dest="sets", action="append", default=[])
    p = sub.add_parser("audit", help="Measure the detector on this run against human labels (sample, then score).")
    audit_sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    a = audit_sub.add_parser("sample", help="Write a stratified labelling sheet of candidate turns to RUN/audit/.")
    a.add_argument("--run", "-r", required=True, help="Run directory or object-storage prefix.")
    a.add_argument("--n", type=int, default=200, help="Turns to sample (default 200).")
    a.add_argument("--seed", type=int, default=0, help="Sampling seed (default 0).")
    a.add_argument("--force", action="store_true", help="Replace an existing sample with other settings.")
    a = audit_sub.add_parser("score", help="Score the detector against a filled sheet; writes RUN/audit/scores.json.")
    a.add_argument("--run", "-r", required=True, help="Run directory or object-storage prefix.")
    a.add_argument("--labels", "-l", required=True, help="The filled sheet (CSV or JSONL), local or s3://.")
    a.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap replicates for the 95%% intervals.")
    a.add_argument("--seed", type=int, default=0, help="Bootstrap seed (default 0).")
    p = sub.add_parser("config-doc", help="Print the reference of every config key (Markdown).")
    p = sub.add_parser("check-config", help="Validate a config (and its input) without running anything.")
    _common(p, with_input=True)
    return ap


def _load(args) -> Config:  # noqa: F821
    from wfcore.config import load_config

    sets = list(getattr(args, "sets", []) or [])
    if getattr(args, "run", None):
        sets.append(f"run={args.run}")
    if getattr(args, "input", None):
        sets.append(f"input={args.input}")
    return load_config(args.config or "default", sets)


def preflight(cfg) -> None:
    """Cheap checks that fail before Ray or Spark start: input readable, model paths exist."""
    from wfcore import storage
    from wfcore.config import ConfigError

    from .pipeline import input_uri

    uri = input_uri(cfg)
    try:
        files = storage.expand_inputs(uri)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"input '{uri}' is not readable: {type(e).__name__}: {e}") from None
    if not files:
        raise ConfigError(f"input '{uri}' has no files (config key `input`)")
    from wfcore.engines import engine_spec

    for name in sorted(cfg.model_engines()):
        engine_spec(cfg, name)  # raises ConfigError naming the missing key


def _short(filename: str) -> str:
    """A traceback file name relative to this project or to site-packages."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for base in (root, *(p for p in sys.path if p.endswith("site-packages"))):
        if base and filename.startswith(base + os.sep):
            return os.path.relpath(filename, base)
    return filename


def error_line(e: BaseException) -> str:
    """One line for a failure: type and first message line; when the message is empty, where it
    was raised instead (the innermost frame, and the innermost frame of this project's code)."""
    import traceback

    text = str(e).strip()
    if text:
        return f"{type(e).__name__}: {text.splitlines()[0]}"
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return f"{type(e).__name__} (no message; --verbose for the traceback)"
    last = frames[-1]
    where = f"raised at {_short(last.filename)}:{last.lineno} in {last.name}"
    ours = [f for f in frames if _short(f.filename).startswith(("jobs/", "wfcore/"))]
    if ours and ours[-1] is not last:
        where += f", called from {_short(ours[-1].filename)}:{ours[-1].lineno} in {ours[-1].name}"
    return f"{type(e).__name__} (no message) {where}; --verbose for the traceback"


def _status(run_dir: str, as_json: bool) -> int:
    from wfcore.run import STAGE_OUTPUTS, RunDir

    rd = RunDir(run_dir)
    m = rd.manifest()
    if as_json:
        print(json.dumps(m.get("stages", {}), indent=2, sort_keys=True))
        return 0
    if not m.get("stages"):
        print(f"{rd.uri}: no stages recorded")
        return 0
    print(f"run {rd.uri}  (code {m.get('code_version', '?')})")
    print(f"{'stage':<12} {'status':<8} {'rows_in':>10} {'rows_out':>10} {'rejected':>9} {'seconds':>8}  tables")
    for s in STAGES + (("evaluate",) if "evaluate" in m["stages"] else ()):
        r = m["stages"].get(s)
        if not r:
            print(f"{s:<12} {'-':<8}")
            continue
        tables = ", ".join(
            f"{t}={rd.table(t).num_rows():,}" for t in STAGE_OUTPUTS.get(s, ("eval/verdicts",)) if rd.table(t).is_committed()
        )
        print(
            f"{s:<12} {r.get('status', '?'):<8} {r.get('rows_in', 0):>10,} {r.get('rows_out', 0):>10,} "
            f"{r.get('rows_rejected', 0):>9,} {r.get('wall_seconds', 0):>8.1f}  {tables}"
        )
        if r.get("status") == "failed":
            print(f"{'':<12} error: {r.get('error', '')}")
    return 0


def _evaluate(args) -> int:
    from wfcore.config import load_config
    from wfcore.run import RunDir

    from .evaluate import resolve_engines, run_evaluate, summary_path, summary_table

    if not args.run:
        from wfcore.config import ConfigError

        raise ConfigError("evaluate needs --run RUN (a finished run with RUN/heldout/)")
    sets = list(args.sets) + [f"run={args.run}"]
    if args.config:
        cfg = load_config(args.config, sets)
    else:
        cfg = load_config(None, sets, base=RunDir(args.run).manifest().get("config") or {})
    resolve_engines(cfg)  # fails fast naming the key of an engine that is not configured
    summary = run_evaluate(cfg, force=args.force)
    print(summary_table(summary))
    print(f"summary: {summary_path(RunDir(cfg.run))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "synth":
        from . import synth

        return int(synth.main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    from wfcore.config import ConfigError, config_reference

    verbose = getattr(args, "verbose", False)
    try:
        if args.command == "config-doc":
            print(config_reference())
            return 0
        if args.command == "status":
            return _status(args.run_dir, args.json)
        if args.command == "audit":
            from wfcore.audit import AuditError

            from . import audit

            try:
                return audit.main(args)
            except AuditError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        if args.command == "report":
            from wfcore.config import load_config
            from wfcore.run import RunDir

            from .report import write_report

            rd = RunDir(args.run_dir)
            if args.config or args.sets:
                cfg = load_config(args.config or "default", list(args.sets) + [f"run={args.run_dir}"])
            else:
                saved = rd.manifest().get("config") or {}
                cfg = load_config(None, [f"run={args.run_dir}"], base=saved)
            rep = write_report(rd, cfg)
            print(f"wrote {rd.path('report.json')} and {rd.path('report.html')}")
            print(json.dumps(rep["funnel"], indent=2))
            return 0
        if args.command == "evaluate":
            return _evaluate(args)
        cfg = _load(args)
        preflight(cfg)
        if args.command == "check-config":
            print("config ok")
            return 0
        from . import pipeline

        if args.command == "run":
            stages = list(STAGES)
            if args.until:
                stages = stages[: stages.index(args.until) + 1]
            rep = pipeline.run_all(cfg, stages=stages, force=args.force)
            f = rep["funnel"]
            print(
                f"run {cfg.run}: {f.get('conversations_read', 0):,} conversations -> "
                f"{f.get('candidate_turns', 0):,} candidate turns -> {f.get('feedback_turns', 0):,} feedback turns -> "
                f"{f.get('pairs', 0):,} pairs (train {f.get('train', 0):,}, test {f.get('test', 0):,})"
            )
            print(f"report: {pipeline.RunDir(cfg.run).path('report.html')}")
            return 0
        pipeline.run_stage(args.command, cfg, force=args.force)
        return 0
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (committed work is kept; rerun to resume)", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001
        if verbose:
            import traceback

            traceback.print_exc()
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
