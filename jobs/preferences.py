"""preferences: for every turn with a signal, 1-5 short, checkable preference statements.

``preferences.engine``: ``extract`` takes them from the feedback turn's own words
(:func:`wfcore.extract.extract_preferences`, no model); ``vllm`` / ``openai`` ask a model with
JSON-schema-constrained output. These statements are also the evaluation checklist.
With ``detect.with_preferences`` the detect answer already carries them: this stage only checks
them (:func:`wfcore.outputs.check_statements`, as for its own answers) and writes them, with no
model call; a turn whose statements fail the check falls back to this stage's own engine
(counted in ``inline_preferences`` of the stage record, by reason).
Output ``RUN/preferences/``: one row per turn with SAT or DSAT (DSAT when both).
Feedback rows without a signal, or whose detection failed, are counted as rejected.
"""

from __future__ import annotations

import json

from wfcore.config import Config
from wfcore.engines import engine_spec
from wfcore.outputs import (
    check_statements,
    parse_preferences,
    preferences_schema,
    statement_error_code,
)
from wfcore.prompts import format_context, prompt_version, render, truncate_oldest
from wfcore.schema import FEEDBACK, PREFERENCES, TURNS

from . import modelstage
from .context import StageContext
from .detect import engine_parts, model_prompt_version, section_parts
from .modelstage import ModelStage, ShardWork, lineage

EXTRACT = "extract"
# counters of the one-call path (ShardWork.counts keys)
FROM_DETECT = "from_detect"
FALLBACK = "fallback:"


def fingerprint_parts(cfg: Config) -> dict:
    parts = {"preferences": section_parts(cfg, "preferences")}
    if cfg.preferences.engine == EXTRACT:
        parts["extract"] = extract_version()
    else:
        parts["prompt_version"] = prompt_version("preferences")
        parts["engine"] = engine_parts(cfg, cfg.preferences.engine)
    if cfg.detect.with_preferences:
        parts["from_detect"] = model_prompt_version(cfg)
    return parts


def extract_version() -> str:
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("wfcore.extract")
    if spec is None or not spec.origin:
        return "missing"
    with open(spec.origin, "rb") as f:
        return "extract-" + hashlib.blake2b(f.read(), digest_size=6).hexdigest()


def signal_of(fb: dict) -> str | None:
    if fb.get("dsat"):
        return "DSAT"
    if fb.get("sat"):
        return "SAT"
    return None


def categories_of(fb: dict, signal: str) -> list[str]:
    return list((fb.get("dsat_categories") if signal == "DSAT" else fb.get("sat_categories")) or [])


def preferences_messages(turn: dict, signal: str, categories: list[str], max_chars: int) -> list[dict]:
    return render(
        "preferences",
        context=format_context(turn.get("history"), max_chars),
        response=truncate_oldest(turn.get("response") or "", max_chars),
        user_message=truncate_oldest(turn.get("user_message") or "", max_chars),
        signal=signal,
        categories=", ".join(categories) or "no category",
    )


def _base(fb: dict, signal: str) -> dict:
    row = {k: fb[k] for k in ("turn_id", "conversation_id", "message_index", "shard")}
    row["signal"] = signal
    return row


def make_row(req: dict, value: list[str] | None, lin: dict) -> dict:
    row = _base(req["feedback"], req["signal"])
    row["preferences"] = value or []
    row.update(lin)
    return row


def inline_row(fb: dict, signal: str) -> tuple[dict | None, str | None]:
    """The preferences row of a one-call detect answer, or (None, why it falls back)."""
    if fb.get("preferences") is None:
        return None, "not_in_detect_answer"
    prefs, err = check_statements(fb["preferences"])
    if err:
        return None, statement_error_code(err)
    row = _base(fb, signal)
    row["preferences"] = prefs
    # the detect call's model, prompt and sampling; its tokens are counted once, by detect
    row.update(lineage(fb.get("model") or "", fb.get("prompt_version") or "", json.loads(fb.get("sampling") or "{}")))
    return row, None


def plan_inputs(ctx: StageContext, work: ShardWork, feedback: list[dict]) -> list[tuple[dict, str]]:
    """Feedback rows with a usable signal; the others are counted as rejected on ``work``."""
    keep = []
    for fb in feedback:
        if fb.get("error"):
            work.rejected["detect_error"] = work.rejected.get("detect_error", 0) + 1
        elif (signal := signal_of(fb)) is None:
            work.rejected["no_signal"] = work.rejected.get("no_signal", 0) + 1
        else:
            keep.append((fb, signal))
    return keep


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.preferences
    fb_files = modelstage.input_shards(ctx.run.table("feedback"))
    turn_files = modelstage.input_shards(ctx.run.table("turns"))
    spec = None if cfg.engine == EXTRACT else engine_spec(ctx.cfg, cfg.engine)
    version = prompt_version("preferences") if spec else extract_version()

    inline = ctx.cfg.detect.with_preferences

    def plan(shard: int) -> ShardWork:
        feedback = modelstage.conversation_order(modelstage.read_shard(fb_files[shard], FEEDBACK))
        work = ShardWork(shard=shard, rows_in=len(feedback))
        selected = plan_inputs(ctx, work, feedback)
        if inline:
            rest = []
            for fb, signal in selected:
                row, why = inline_row(fb, signal)
                if row is not None:
                    work.fixed_rows.append(row)
                    key = FROM_DETECT
                else:
                    rest.append((fb, signal))
                    key = FALLBACK + why
                work.counts[key] = work.counts.get(key, 0) + 1
            selected = rest
        if not selected:
            return work
        turns = {t["turn_id"]: t for t in modelstage.read_shard(turn_files[shard], TURNS)}
        for fb, signal in selected:
            turn = turns.get(fb["turn_id"])
            cats = categories_of(fb, signal)
            if turn is None:
                work.rejected["turn_missing"] = work.rejected.get("turn_missing", 0) + 1
            elif spec is None:
                from wfcore.extract import extract_preferences

                prefs = extract_preferences(turn.get("user_message") or "", cats, signal)
                row = _base(fb, signal)
                row["preferences"] = list(prefs)
                row.update(lineage(EXTRACT, version, error=None if prefs else "no_preferences_extracted"))
                work.fixed_rows.append(row)
            else:
                work.requests.append({
                    "key": fb["turn_id"], "feedback": fb, "signal": signal,
                    "messages": preferences_messages(turn, signal, cats, cfg.max_context_chars),
                })
        return work

    stage = ModelStage(
        name="preferences", output="preferences", schema=PREFERENCES, prompt_version=version,
        json_schema=preferences_schema(), parse=parse_preferences, make_row=make_row,
        sampling=cfg.sampling, max_retries=cfg.max_retries,
    )
    totals = modelstage.run_sharded(ctx, stage, spec, list(fb_files), plan)
    counts = totals.get("counts", {})
    by_reason = {k[len(FALLBACK):]: n for k, n in sorted(counts.items()) if k.startswith(FALLBACK)}
    ctx.record["inline_preferences"] = {
        "enabled": inline,
        FROM_DETECT: counts.get(FROM_DETECT, 0),  # rows written from the detect answer, no model call
        "fallback": sum(by_reason.values()),  # turns sent to this stage's engine (or extract) instead
        "fallback_by_reason": by_reason,
    }
