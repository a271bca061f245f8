"""evaluate: checklist-guided pairwise evaluation of two candidates on the held-out set.

The method's steps, as in the paper (WildFeedback, section 5):

1. **load** the held-out prompts (``RUN/heldout/``: ``heldout_id, conversation_id,
   message_index, prompt, checklist, category, cluster, chosen, rejected``);
2. **candidates**: A and B each answer every prompt: the set's own ``chosen`` / ``rejected``, a
   configured engine (generated through Ray Data, retried, error rows kept), or a JSONL file of
   ``{heldout_id, response}``;
3. **judge** every prompt in both orders (A first, then B first) with the checklist; the two
   requests of a prompt are sent next to each other so the engine's prefix cache serves the
   second one's shared prefix (conversation and checklist); answers are parsed, validated and
   retried like every model stage (:mod:`jobs.modelstage`);
4. **score** (:mod:`wfcore.checklist`): wins/ties/losses with a bootstrap interval over prompts.

Outputs: ``RUN/eval/candidates/`` and ``RUN/eval/verdicts/`` (Parquet; one verdict row per prompt
and order, with the judge's raw answer and its error), ``RUN/eval/summary.json``, and the
``evaluate`` record of the manifest (rows in = held-out prompts = prompts scored + prompts
excluded by reason). ``evaluate`` is not part of ``wildfeedback run``; it runs on a finished run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time

from wfcore import storage
from wfcore.checklist import (
    ORDERS,
    OrderVerdict,
    PromptJudgment,
    candidate_level,
    outcome_of,
    score,
)
from wfcore.config import Config, ConfigError, candidate_kind
from wfcore.engine import EngineSpec, engine_spec
from wfcore.ids import content_id
from wfcore.judge import (
    MAX_CHECKLIST_ITEMS,
    judge_messages,
    judge_schema,
    lexical_judgment,
    parse_judgment,
    template_name,
)
from wfcore.outputs import parse_response
from wfcore.prompts import prompt_version, render, truncate_history
from wfcore.run import RunDir, code_version, now
from wfcore.schema import EVAL_CANDIDATES, EVAL_VERDICTS, to_table

from .context import StageContext
from .detect import engine_parts
from .modelstage import RAW_OUTPUT_MAX_CHARS, ModelStage, generate_with_retries, lineage

log = logging.getLogger(__name__)

STAGE = "evaluate"
HELDOUT = "heldout"
SIDES = ("A", "B")
LEXICAL = "lexical"
HELDOUT_COLUMNS = (
    "heldout_id",
    "conversation_id",
    "message_index",
    "prompt",
    "checklist",
    "category",
    "chosen",
    "rejected",
)


# ---------------------------------------------------------------- configuration and fingerprint


def _judge_version(cfg: Config) -> str:
    if cfg.evaluate.judge == LEXICAL:
        import wfcore.judge as judge_module

        with open(judge_module.__file__, "rb") as f:
            return "lexical-judge-" + hashlib.blake2b(f.read(), digest_size=6).hexdigest()
    return prompt_version(template_name(cfg.evaluate.checklist))


def _file_fingerprint(uri: str) -> list:
    fs, path = storage.filesystem(uri)
    info = fs.get_file_info(path)
    return [uri, info.size, str(getattr(info, "mtime_ns", None) or info.mtime)]


def resolve_engines(cfg: Config) -> dict[str, EngineSpec]:
    """The engines evaluate uses (judge, engine candidates) by config key; fails fast with a
    ``ConfigError`` naming the key when one is not configured."""
    e = cfg.evaluate
    wanted = [("evaluate.judge", e.judge)] if e.judge != LEXICAL else []
    wanted += [
        (f"evaluate.{k}", c) for k, c in (("a", e.a), ("b", e.b)) if candidate_kind(c) == "engine"
    ]
    out = {}
    for key, name in wanted:
        try:
            out[key] = engine_spec(cfg, name)
        except ConfigError as err:
            raise ConfigError(f"config key '{key}' ({name!r}): {err}") from None
    return out


def fingerprint_parts(cfg: Config, heldout_commit: dict | None) -> dict:
    e = cfg.evaluate
    parts: dict = {
        "evaluate": e.model_dump(mode="json"),
        "judge_version": _judge_version(cfg),
        "heldout": heldout_commit,
    }
    if e.judge != LEXICAL:
        parts["judge_engine"] = engine_parts(cfg, e.judge)
    for side, cand in zip(SIDES, (e.a, e.b), strict=True):
        if candidate_kind(cand) == "engine":
            parts[f"candidate_{side}"] = {
                "engine": engine_parts(cfg, cand),
                "prompt_version": prompt_version("candidate"),
            }
        elif candidate_kind(cand) == "file":
            parts[f"candidate_{side}"] = {"file": _file_fingerprint(cand)}
    return parts


def judge_fingerprint_parts(cfg: Config) -> dict:
    """What changes the judge's verdicts (assemble's fingerprint with ``judge_on_policy``)."""
    e = cfg.evaluate
    parts: dict = {
        "judge": e.judge,
        "checklist": e.checklist,
        "version": _judge_version(cfg),
        "sampling": e.sampling.model_dump(mode="json"),
        "max_retries": e.max_retries,
        "max_context_chars": e.max_context_chars,
        "max_response_chars": e.max_response_chars,
    }
    if e.judge != LEXICAL:
        parts["engine"] = engine_parts(cfg, e.judge)
    return parts


# ---------------------------------------------------------------- step 1: load


def load_heldout(rd: RunDir) -> list[dict]:
    ds = rd.table(HELDOUT)
    if not ds.is_committed():
        raise FileNotFoundError(
            f"no held-out set at {ds.uri}: assemble writes RUN/heldout/ (run `wildfeedback assemble --run {rd.uri}`)"
        )
    table = ds.read()
    missing = [c for c in HELDOUT_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{ds.uri}: held-out set lacks columns {missing}")
    rows = table.select(list(HELDOUT_COLUMNS)).to_pylist()
    return sorted(rows, key=lambda r: r["heldout_id"])


def usable(row: dict, checklist: bool) -> str | None:
    """Why a held-out row cannot be evaluated, or None."""
    prompt = row.get("prompt") or []
    if (
        not prompt
        or prompt[-1].get("role") != "user"
        or not (prompt[-1].get("content") or "").strip()
    ):
        return "invalid_prompt"
    if checklist and not [c for c in row.get("checklist") or [] if (c or "").strip()]:
        return "no_checklist"
    return None


# ---------------------------------------------------------------- step 2: candidates


def _read_candidate_file(uri: str) -> tuple[dict[str, str], int]:
    """heldout_id -> response from a JSONL file; returns it and the number of unusable lines."""
    out: dict[str, str] = {}
    bad = 0
    with storage.open_stream(uri, "rt") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                hid, resp = obj["heldout_id"], obj["response"]
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if isinstance(hid, str) and isinstance(resp, str):
                out[hid] = resp
            else:
                bad += 1
    if bad:
        log.warning(
            "%s: %d lines are not {heldout_id, response} objects and were skipped", uri, bad
        )
    return out, bad


def candidate_messages(row: dict, max_chars: int) -> list[dict]:
    return render("candidate", history=truncate_history(row["prompt"], max_chars))


def _candidate_row(hid: str, side: str, name: str, response: str | None, lin: dict) -> dict:
    return {"heldout_id": hid, "candidate": side, "name": name, "response": response, **lin}


def generate_candidates(ctx: StageContext, rows: list[dict]) -> tuple[list[dict], dict]:
    """Every candidate's response for every row: (candidate table rows, info per side)."""
    e = ctx.cfg.evaluate
    out: list[dict] = []
    info: dict[str, dict] = {}
    engine_sides: dict[str, list[str]] = {}
    for side, cand in zip(SIDES, (e.a, e.b), strict=True):
        if candidate_kind(cand) == "builtin":
            info[side] = {"name": cand, "source": "heldout", "model": None}
            lin = lineage(f"heldout:{cand}", "heldout")
            out += [_candidate_row(r["heldout_id"], side, cand, r[cand], lin) for r in rows]
        elif candidate_kind(cand) == "engine":
            engine_sides.setdefault(cand, []).append(side)
        else:
            responses, bad = _read_candidate_file(cand)
            name = cand.rsplit("/", 1)[-1]
            info[side] = {
                "name": name,
                "source": "file",
                "uri": cand,
                "model": None,
                "unusable_lines": bad,
            }
            lin = lineage(f"file:{name}", "file")
            out += [
                _candidate_row(r["heldout_id"], side, name, responses.get(r["heldout_id"]), lin)
                for r in rows
            ]
    version = prompt_version("candidate")
    for name, sides in engine_sides.items():
        spec = engine_spec(ctx.cfg, name)
        for side in sides:
            info[side] = {
                "name": spec.model_id,
                "source": "engine",
                "engine": name,
                "model": spec.model_id,
            }
        stage = ModelStage(
            name=f"{STAGE}:candidates",
            output="eval/candidates",
            schema=EVAL_CANDIDATES,
            prompt_version=version,
            json_schema=None,
            parse=parse_response,
            make_row=lambda req, value, lin: {},
            sampling=e.candidate_sampling,
            max_retries=e.max_retries,
        )
        # one plan for both sides when both use this engine (one engine start)
        requests = [
            {
                "key": f"{r['heldout_id']}:{side}",
                "messages": candidate_messages(r, e.max_context_chars),
            }
            for r in rows
            for side in sides
        ]
        results = _generate(ctx, spec, stage, requests)
        for r in rows:
            for side in sides:
                res = results.get(f"{r['heldout_id']}:{side}") or {"error": "missing_result"}
                lin = lineage(
                    spec.model_id,
                    version,
                    res.get("sampling"),
                    res.get("tokens_in", 0),
                    res.get("tokens_out", 0),
                    res.get("error"),
                    res.get("text"),
                )
                out.append(
                    _candidate_row(r["heldout_id"], side, spec.model_id, res.get("value"), lin)
                )
    return out, info


def _generate(
    ctx: StageContext, spec: EngineSpec, stage: ModelStage, requests: list[dict]
) -> dict[str, dict]:
    if not requests:
        return {}
    from jobs.rayrt import init_ray

    init_ray(ctx.cfg.ray)
    t0 = time.monotonic()
    results = generate_with_retries(spec, stage, requests)
    ctx.record.setdefault("engine_seconds", {})[stage.name] = round(time.monotonic() - t0, 2)
    ctx.record["model_requests"] = ctx.record.get("model_requests", 0) + len(requests)
    ctx.record["tokens_cached"] = ctx.record.get("tokens_cached", 0) + sum(
        int(r.get("tokens_cached") or 0) for r in results.values()
    )
    return results


# ---------------------------------------------------------------- step 3: judge


def _value_from_answer(obj: dict) -> dict:
    items = obj.get("items") or []
    return {
        "verdict": obj["verdict"],
        "items_first": [i["a"] for i in items],
        "items_second": [i["b"] for i in items],
        "rationale": obj.get("rationale", ""),
    }


def judge_requests(
    rows: list[dict], responses: dict[tuple[str, str], str], cfg: Config
) -> list[dict]:
    """Both orders of every row, adjacent (the second order reuses the first one's cached prefix)."""
    e = cfg.evaluate
    reqs = []
    for r in rows:
        checklist = list(r["checklist"] or []) if e.checklist else None
        a, b = responses[(r["heldout_id"], "A")], responses[(r["heldout_id"], "B")]
        for order in ORDERS:
            first, second = (a, b) if order == "AB" else (b, a)
            reqs.append(
                {
                    "key": f"{r['heldout_id']}:{order}",
                    "row": r,
                    "order": order,
                    "checklist": checklist,
                    "messages": judge_messages(
                        r["prompt"],
                        checklist,
                        first,
                        second,
                        e.max_context_chars,
                        e.max_response_chars,
                    ),
                    "first": first,
                    "second": second,
                }
            )
    return reqs


def run_judge(
    ctx: StageContext, requests: list[dict], spec: EngineSpec | None, version: str
) -> dict[str, dict]:
    """key -> result ``{value, error, text, sampling, tokens_in, tokens_out}`` for every request."""
    if spec is None:
        out = {}
        for req in requests:
            answer = lexical_judgment(req["checklist"] or [], req["first"], req["second"])
            out[req["key"]] = {
                "value": _value_from_answer(answer),
                "error": None,
                "text": json.dumps(answer),
                "sampling": {},
                "tokens_in": 0,
                "tokens_out": 0,
            }
        return out
    e = ctx.cfg.evaluate

    def parse(text: str, req: dict):
        return parse_judgment(text, len(req["checklist"]) if req["checklist"] is not None else None)

    stage = ModelStage(
        name=f"{STAGE}:judge",
        output="eval/verdicts",
        schema=EVAL_VERDICTS,
        prompt_version=version,
        json_schema=judge_schema(e.checklist),
        parse=lambda t: parse_judgment(t),
        make_row=lambda req, value, lin: {},
        sampling=e.sampling,
        max_retries=e.max_retries,
        parse_request=parse,
    )
    return _generate(ctx, spec, stage, requests)


def verdict_row(req: dict, res: dict, model: str, version: str) -> dict:
    r, order = req["row"], req["order"]
    value = res.get("value")
    checklist = list(req["checklist"] or [])[:MAX_CHECKLIST_ITEMS]
    row = {
        "heldout_id": r["heldout_id"],
        "conversation_id": r["conversation_id"],
        "message_index": r["message_index"],
        "category": r.get("category"),
        "order": order,
        "checklist": checklist,
        "verdict": None,
        "verdict_ab": None,
        "items_a": [],
        "items_b": [],
        "rationale": None,
        "judge_output": (res.get("text") or "")[:RAW_OUTPUT_MAX_CHARS] or None,
    }
    if value is not None:
        first, second = value["items_first"], value["items_second"]
        row.update(
            verdict=value["verdict"],
            verdict_ab=candidate_level(value["verdict"], order),
            items_a=first if order == "AB" else second,
            items_b=second if order == "AB" else first,
            rationale=value["rationale"],
        )
    row.update(
        lineage(
            model,
            version,
            res.get("sampling"),
            res.get("tokens_in", 0),
            res.get("tokens_out", 0),
            res.get("error") or (None if value is not None else "missing_result"),
            res.get("text"),
        )
    )
    return row


# ---------------------------------------------------------------- self-preference


def self_preference_warnings(
    cfg: Config, rd: RunDir, judge_model: str | None, cands: dict
) -> list[str]:
    """Warnings when the judge is the model that wrote a candidate (judges favour their own text)."""
    if not judge_model:
        return []
    warnings = []
    saved = rd.manifest().get("config") or {}
    respond = saved.get("respond") or {}
    engine = respond.get("engine")
    named = (saved.get("engines") or {}).get(engine) if isinstance(engine, str) else None
    writer = (named or saved.get(engine) or {}).get("model") if isinstance(engine, str) else None
    for side, c in cands.items():
        same = c.get("model") == judge_model or (c["name"] == "chosen" and writer == judge_model)
        if same:
            warnings.append(
                f"self-preference bias: the judge ({judge_model}) also wrote candidate {side} ({c['name']}); "
                "judges tend to prefer their own responses, so use a different judge model for this comparison"
            )
    for w in warnings:
        log.warning("[%s] %s", STAGE, w)
    return warnings


# ---------------------------------------------------------------- the stage


def run(ctx: StageContext) -> dict:
    """Steps 1-4 (module docstring); fills ``ctx.record``; returns the summary."""
    cfg, rd, rec = ctx.cfg, ctx.run, ctx.record
    e = cfg.evaluate
    heldout = load_heldout(rd)
    rec["rows_in"] = len(heldout)
    rows = heldout[: e.limit] if e.limit else heldout
    ctx.reject("beyond_limit", len(heldout) - len(rows))
    kept = []
    for r in rows:
        reason = usable(r, e.checklist)
        if reason:
            ctx.reject(reason)
        else:
            kept.append(r)

    cand_rows, cands = generate_candidates(ctx, kept)
    storage_uri = rd.path("eval")
    responses = {(c["heldout_id"], c["candidate"]): c["response"] for c in cand_rows}
    cand_err = {(c["heldout_id"], c["candidate"]): c["error"] for c in cand_rows}
    judged = []
    for r in kept:
        hid = r["heldout_id"]
        bad = [s for s in SIDES if not (responses.get((hid, s)) or "").strip()]
        if bad:
            ctx.reject(
                "candidate_error"
                if any(cand_err.get((hid, s)) for s in bad)
                else "candidate_missing"
            )
        else:
            judged.append(r)

    spec = None if e.judge == LEXICAL else engine_spec(cfg, e.judge)
    judge_model = spec.model_id if spec else LEXICAL
    version = _judge_version(cfg)
    warnings = self_preference_warnings(cfg, rd, spec.model_id if spec else None, cands)
    requests = judge_requests(judged, responses, cfg)
    results = run_judge(ctx, requests, spec, version)
    verdicts = [
        verdict_row(req, results.get(req["key"]) or {}, judge_model, version) for req in requests
    ]

    by_prompt: dict[str, dict[str, dict]] = {}
    for v in verdicts:
        by_prompt.setdefault(v["heldout_id"], {})[v["order"]] = v
    judgments = []
    for r in judged:
        vs = by_prompt.get(r["heldout_id"], {})
        if any(vs.get(o) is None or vs[o]["error"] for o in ORDERS):
            ctx.reject("judge_error")
            continue
        a, b = responses[(r["heldout_id"], "A")], responses[(r["heldout_id"], "B")]
        judgments.append(
            PromptJudgment(
                r["heldout_id"],
                *(
                    OrderVerdict(
                        vs[o]["verdict_ab"], tuple(vs[o]["items_a"]), tuple(vs[o]["items_b"])
                    )
                    for o in ORDERS
                ),
                category=r.get("category"),
                length_a=len(a),
                length_b=len(b),
            )
        )
    summary = score(judgments, e.bootstrap_resamples, e.seed)

    rd.table("eval/candidates").write(to_table(cand_rows, EVAL_CANDIDATES), ctx.fingerprint)
    rd.table("eval/verdicts").write(to_table(verdicts, EVAL_VERDICTS), ctx.fingerprint)
    summary.update(
        n_heldout=len(heldout),
        excluded_by_reason=dict(rec.get("rejected_by_reason", {})),
        judge={"kind": e.judge, "model": judge_model, "prompt_version": version},
        checklist=e.checklist,
        candidates=cands,
        warnings=warnings,
        judge_error_rows=sum(1 for v in verdicts if v["error"]),
        created_at=now(),
        code_version=code_version(),
        fingerprint=ctx.fingerprint,
    )
    storage.write_json_atomic(storage.join(storage_uri, "summary.json"), summary)
    rec["rows_out"] = len(judgments)
    rec.update(
        error_rows=summary["judge_error_rows"] + sum(1 for c in cand_rows if c["error"]),
        verdict_rows=len(verdicts),
        judge=judge_model,
        prompt_version=version,
        tokens_in=sum(int(v["tokens_in"] or 0) for v in verdicts + cand_rows),
        tokens_out=sum(int(v["tokens_out"] or 0) for v in verdicts + cand_rows),
        win_rate=summary["win_rate"],
        ci=[summary["ci_low"], summary["ci_high"]],
    )
    return summary


def summary_path(rd: RunDir) -> str:
    return rd.path("eval", "summary.json")


def run_evaluate(cfg: Config, force: bool = False) -> dict:
    """Run (or skip, when committed with the same fingerprint) the evaluate stage; the summary."""
    from .pipeline import _check_accounting

    rd = RunDir(cfg.run)
    resolve_engines(cfg)
    parts = fingerprint_parts(cfg, rd.table(HELDOUT).commit_info())
    fp = content_id(STAGE, parts)
    prior = rd.stage(STAGE)
    if not force and prior.get("status") == "done" and prior.get("fingerprint") == fp:
        summary = storage.read_json(summary_path(rd))
        if (
            summary
            and summary.get("fingerprint") == fp
            and rd.table("eval/verdicts").is_committed()
        ):
            print(f"[{STAGE}] committed with the same inputs and config: skipped", file=sys.stderr)
            return summary
    ctx = StageContext(name=STAGE, run=rd, cfg=cfg, fingerprint=fp)
    with rd.stage_run(STAGE, fp, config=parts) as record:
        ctx.record = record
        t0 = time.time()
        summary = run(ctx)
        record.setdefault("wall_seconds", round(time.time() - t0, 3))
        _check_accounting(STAGE, record)
    print(
        f"[{STAGE}] done: {record['rows_in']:,} held-out prompts -> {record['rows_out']:,} judged in both orders, "
        f"{record['rows_rejected']:,} excluded; win rate of A {_fmt(summary['win_rate'])} "
        f"[{_fmt(summary['ci_low'])}, {_fmt(summary['ci_high'])}]",
        file=sys.stderr,
    )
    return summary


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def summary_table(summary: dict) -> str:
    """The summary as a Markdown table (overall, then per category)."""
    head = "| category | N | W | T | L | win rate [95% CI] | consistency | satisfaction A / B | length A / B |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |"]

    def line(name: str, s: dict) -> str:
        sat, ln = s["satisfaction"], s["mean_length"]
        return (
            f"| {name} | {s['n_prompts']} | {s['wins']} | {s['ties']} | {s['losses']} | "
            f"{_fmt(s['win_rate'])} [{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}] | {_fmt(s['position_consistency'])} | "
            f"{_fmt(sat['A'])} / {_fmt(sat['B'])} | {_fmt(ln['A'], 0)} / {_fmt(ln['B'], 0)} |"
        )

    lines.append(line("**all**", summary))
    for cat, s in summary.get("per_category", {}).items():
        lines.append(line(cat, s))
    return "\n".join(lines)


# ---------------------------------------------------------------- judge-filtered on-policy pairs

R_JUDGE_NOT_PREFERRED = "judge_not_preferred"
R_JUDGE_ERROR = "judge_error"


def judge_pairs(ctx: StageContext, pairs: list[dict]) -> dict[str, dict]:
    """The evaluate judge on pairs (chosen as A, rejected as B, preferences as the checklist), in
    both orders: pair_id -> ``{"reason": None | judge_not_preferred | judge_error, "judge": JSON}``.

    A pair is kept (reason None) only when chosen wins in both orders (``assemble.judge_on_policy``;
    the paper keeps an on-policy pair only when the checklist judge prefers its chosen response).
    ``judge`` (the pair's lineage) holds the judge model, prompt version and both orders' verdicts.
    """
    if not pairs:
        return {}
    cfg = ctx.cfg
    rows = [
        {
            "heldout_id": p["pair_id"],
            "conversation_id": p["conversation_id"],
            "message_index": p["message_index"],
            "prompt": p["prompt"],
            "checklist": list(p.get("preferences") or []),
            "category": (p.get("categories") or [None])[0],
        }
        for p in pairs
    ]
    responses = {}
    for p in pairs:
        responses[(p["pair_id"], "A")], responses[(p["pair_id"], "B")] = p["chosen"], p["rejected"]
    spec = None if cfg.evaluate.judge == LEXICAL else engine_spec(cfg, cfg.evaluate.judge)
    model = spec.model_id if spec else LEXICAL
    version = _judge_version(cfg)
    requests = judge_requests(rows, responses, cfg)
    results = run_judge(ctx, requests, spec, version)
    verdicts: dict[str, dict[str, dict]] = {}
    for req in requests:
        v = verdict_row(req, results.get(req["key"]) or {}, model, version)
        verdicts.setdefault(v["heldout_id"], {})[req["order"]] = v
    out = {}
    for pid, vs in verdicts.items():
        levels = {o: vs[o]["verdict_ab"] for o in ORDERS}
        if any(vs[o]["error"] for o in ORDERS):
            reason = R_JUDGE_ERROR
        elif all(outcome_of(levels[o]) == "win" for o in ORDERS):
            reason = None
        else:
            reason = R_JUDGE_NOT_PREFERRED
        lin = {
            "model": model,
            "prompt_version": version,
            "verdicts": levels,
            "checklist": cfg.evaluate.checklist,
            "errors": {o: vs[o]["error"] for o in ORDERS if vs[o]["error"]},
        }
        out[pid] = {"reason": reason, "judge": json.dumps(lin, sort_keys=True)}
    return out


def judge_on_policy_candidates(ctx: StageContext, spark, cands, pair_types: tuple[str, ...]):
    """assemble's hook: mark live on-policy candidate pairs the judge does not prefer (Spark in,
    Spark out; the judged pairs are collected to the driver, they are few) and record counts."""
    from .spark import functions

    F = functions(spark)

    live = cands.where(
        (F.col("kind") == "pair")
        & F.col("reject_reason").isNull()
        & F.col("pair_type").isin(*pair_types)
    )
    cols = [
        "pair_id",
        "conversation_id",
        "message_index",
        "prompt",
        "preferences",
        "categories",
        "chosen",
        "rejected",
    ]
    pairs = [r.asDict(recursive=True) for r in live.select(*cols).collect()]
    t0 = time.monotonic()
    decisions = judge_pairs(ctx, pairs)
    reasons: dict[str, int] = {}
    for d in decisions.values():
        key = d["reason"] or "kept"
        reasons[key] = reasons.get(key, 0) + 1
    ctx.record["judge_on_policy"] = {
        "judged": len(decisions),
        **reasons,
        "judge": ctx.cfg.evaluate.judge,
        "seconds": round(time.monotonic() - t0, 2),
    }
    if not decisions:
        return cands
    dec = spark.createDataFrame(
        [(pid, d["reason"], d["judge"]) for pid, d in sorted(decisions.items())],
        "pair_id string, _judge_reason string, _judge string",
    )
    is_pair = F.col("kind") == "pair"
    joined = cands.join(F.broadcast(dec), "pair_id", "left")
    return joined.select(
        *[
            F.when(is_pair, F.coalesce("reject_reason", "_judge_reason"))
            .otherwise(F.col("reject_reason"))
            .alias(c)
            if c == "reject_reason"
            else F.coalesce("_judge", "judge").alias(c)
            if c == "judge"
            else F.col(c)
            for c in cands.columns
        ]
    )
