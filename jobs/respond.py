"""respond: write the preferred response for turns with a selected signal.

The model sees the history up to the rejected response, with the user's preferences and a
safety instruction in the system prompt. ``respond.mode``: ``off_policy`` writes one
``preferred`` row per turn (a strong model writes chosen); ``on_policy`` also writes an
``unconditioned`` row (the policy model without the preferences: the rejected side).
``respond.engine: none`` commits an empty dataset (pairs are then harvested).
Output ``RUN/responses/``; rows_in/rows_out count turns, ``output_rows`` counts responses.
"""

from __future__ import annotations

from wfcore.config import Config
from wfcore.engines import engine_spec
from wfcore.outputs import parse_response
from wfcore.prompts import prompt_version, render, truncate_history
from wfcore.schema import PREFERENCES, RESPONSES, TURNS

from . import modelstage
from .context import StageContext
from .detect import engine_parts, section_parts
from .modelstage import ModelStage, ShardWork

VARIANTS = {"preferred": "respond", "unconditioned": "respond_unconditioned"}


def fingerprint_parts(cfg: Config) -> dict:
    parts = {"respond": section_parts(cfg, "respond")}
    if cfg.respond.engine != "none":
        parts["prompt_version"] = {v: prompt_version(t) for v, t in VARIANTS.items()}
        parts["engine"] = engine_parts(cfg, cfg.respond.engine)
    return parts


def respond_messages(turn: dict, variant: str, preferences: list[str], max_chars: int) -> list[dict]:
    history = truncate_history(turn.get("history"), max_chars)
    bullets = "\n".join(f"- {p}" for p in preferences) or "- (none stated)"
    return render(VARIANTS[variant], history=history, preferences=bullets)


def make_row(req: dict, value: str | None, lin: dict) -> dict:
    pref = req["pref"]
    res = req["result"]
    row = {k: pref[k] for k in ("turn_id", "conversation_id", "message_index", "shard")}
    max_tokens = (res.get("sampling") or {}).get("max_tokens")
    finish = res.get("finish_reason") or ""
    if not finish and value is not None:
        finish = "length" if max_tokens and res.get("tokens_out", 0) >= max_tokens else "stop"
    row.update(variant=req["variant"], response=value, finish_reason=finish or None)
    row.update(lin)
    row["prompt_version"] = req["prompt_version"]
    return row


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.respond
    out = ctx.run.table("responses")
    if cfg.engine == "none":
        out.write(RESPONSES.empty_table(), ctx.fingerprint, extra={"shards": {}})
        ctx.record.update(rows_in=0, rows_out=0, output_rows=0, engine="none", note="respond.engine is none: nothing generated")
        return
    spec = engine_spec(ctx.cfg, cfg.engine)
    pref_files = modelstage.input_shards(ctx.run.table("preferences"))
    turn_files = modelstage.input_shards(ctx.run.table("turns"))
    variants = ["preferred"] + (["unconditioned"] if cfg.mode == "on_policy" else [])
    versions = {v: prompt_version(VARIANTS[v]) for v in variants}

    def plan(shard: int) -> ShardWork:
        prefs = modelstage.conversation_order(modelstage.read_shard(pref_files[shard], PREFERENCES))
        work = ShardWork(shard=shard, rows_in=len(prefs))
        turns = {t["turn_id"]: t for t in modelstage.read_shard(turn_files[shard], TURNS)} if prefs else {}
        for pref in prefs:
            turn = turns.get(pref["turn_id"])
            reason = (
                "preferences_error" if pref.get("error")
                else "signal_not_selected" if pref.get("signal") not in cfg.signals
                else "turn_missing" if turn is None
                else None
            )
            if reason:
                work.rejected[reason] = work.rejected.get(reason, 0) + 1
                continue
            for v in variants:
                work.requests.append({
                    "key": f"{pref['turn_id']}:{v}", "pref": pref, "variant": v, "prompt_version": versions[v],
                    "messages": respond_messages(turn, v, list(pref.get("preferences") or []), cfg.max_context_chars),
                })
        return work

    stage = ModelStage(
        name="respond", output="responses", schema=RESPONSES, prompt_version=",".join(versions.values()),
        json_schema=None, parse=parse_response, make_row=make_row,
        sampling=cfg.sampling, max_retries=cfg.max_retries,
    )
    modelstage.run_sharded(ctx, stage, spec, list(pref_files), plan)
    ctx.record["mode"] = cfg.mode
