"""detect: label every candidate turn SAT / DSAT against the rubric.

``detect.engine``: ``lexical`` applies the rule-based detector to every turn (no model);
``vllm`` / ``openai`` ask a model through Ray Data with JSON-schema-constrained output. With
``detect.prefilter: prefilter`` only turns the lexical detector marks as candidates go to the
model; the others get a no-signal row with ``detector = "lexical-prefilter"``.
With ``detect.with_preferences`` the model's answer also carries the turn's preference
statements (column ``preferences``; the preferences stage validates and writes them).
Output ``RUN/feedback/``: exactly one row per candidate turn (error rows included).
"""

from __future__ import annotations

from wfcore import lexical
from wfcore.config import Config
from wfcore.engines import engine_spec
from wfcore.outputs import (
    detect_schema,
    is_quote_of,
    parse_detection,
    parse_detection_with_preferences,
)
from wfcore.prompts import conversation_transcript, extend, layout_version, prompt_version, render
from wfcore.schema import FEEDBACK, TURNS

from . import modelstage
from .context import StageContext
from .modelstage import ModelStage, ShardWork, lineage

LEXICAL = "lexical"
PREFILTER = "lexical-prefilter"
# the prompt addition that asks the detect call for the preference statements too
WITH_PREFERENCES = "detect_preferences"


def fingerprint_parts(cfg: Config) -> dict:
    parts: dict = {"detect": section_parts(cfg, "detect")}
    if not cfg.detect.with_preferences:
        # off is the behaviour from before the key existed: runs committed then still resume
        del parts["detect"]["with_preferences"]
    if cfg.detect.engine == LEXICAL or cfg.detect.prefilter == "prefilter":
        parts["lexical"] = lexical_version()
    if cfg.detect.engine != LEXICAL:
        parts["prompt_version"] = model_prompt_version(cfg)
        parts["prompt_layout"] = layout_version()
        parts["engine"] = engine_parts(cfg, cfg.detect.engine)
    return parts


def model_prompt_version(cfg: Config) -> str:
    """The version of the detect model's prompt: the template's, plus the addition's with
    ``detect.with_preferences``."""
    version = prompt_version("detect")
    return f"{version}+{prompt_version(WITH_PREFERENCES)}" if cfg.detect.with_preferences else version


def section_parts(cfg: Config, section: str) -> dict:
    """A model stage's config section for its fingerprint; the engine appears by kind, not by
    name (its settings come in through ``engine_parts``), so renaming an engine recomputes nothing."""
    parts = getattr(cfg, section).model_dump(mode="json")
    name = cfg.stage_engine(section)
    if name is not None:
        parts["engine"] = engine_spec(cfg, name, check=False).kind
    return parts


def engine_parts(cfg: Config, name: str) -> dict:
    """The settings of engine ``name`` that change model answers (not throughput knobs)."""
    return engine_spec(cfg, name, check=False).fingerprint_parts()


def lexical_version() -> str:
    import hashlib

    with open(lexical.__file__, "rb") as f:
        return hashlib.blake2b(f.read(), digest_size=6).hexdigest()


def previous_user_message(history: list[dict] | None) -> str | None:
    for m in reversed(history or []):
        if m.get("role") == "user":
            return m.get("content")
    return None


def _base(turn: dict) -> dict:
    return {k: turn[k] for k in ("turn_id", "conversation_id", "message_index", "shard")}


def lexical_row(turn: dict, det, detector: str, version: str) -> dict:
    row = _base(turn)
    row.update(
        sat=det.sat, dsat=det.dsat, sat_categories=list(det.sat_categories),
        dsat_categories=list(det.dsat_categories), evidence=det.evidence or "", detector=detector,
    )
    row.update(lineage(LEXICAL, version))
    return row


def detect_messages(turn: dict, max_chars: int, with_preferences: bool = False) -> list[dict]:
    """The detect prompt of a candidate turn: rubric, then the conversation as numbered whole
    messages ending with the judged response and user turn (``wfcore.prompts``: a conversation's
    consecutive turns share all but the closing line, so the prefix cache serves it).
    ``with_preferences`` appends the ``detect_preferences`` instruction to the system message."""
    conversation, response_number, turn_number = conversation_transcript(
        turn.get("history"), turn.get("response"), turn.get("user_message"), max_chars
    )
    messages = render(
        "detect", conversation=conversation, response_number=response_number, turn_number=turn_number
    )
    return extend(messages, WITH_PREFERENCES) if with_preferences else messages


EVIDENCE_NOT_QUOTED = "evidence_not_quoted"
PREFERENCES_WITHOUT_SIGNAL = "preferences_without_signal"


def make_row(req: dict, value: dict | None, lin: dict) -> dict:
    """A feedback row from a model answer. ``evidence`` must quote the user turn: a model's
    paraphrase or invention is cleared (the labels stay) and counted as ``evidence_not_quoted``.
    Preference statements of a turn without a signal (only an endpoint that ignores the
    conditional schema writes them) are cleared too (``preferences_without_signal``)."""
    row = _base(req["turn"])
    notes = []
    if value is None:
        row.update(sat=None, dsat=None, sat_categories=[], dsat_categories=[], evidence=None)
    else:
        row.update(value)
        if row["evidence"] and not is_quote_of(row["evidence"], req["turn"].get("user_message") or ""):
            row["evidence"] = ""
            notes.append(EVIDENCE_NOT_QUOTED)
        if row.get("preferences") and not (row["sat"] or row["dsat"]):
            row["preferences"] = []
            notes.append(PREFERENCES_WITHOUT_SIGNAL)
    if notes:
        row[modelstage.NOTES] = notes
    row["detector"] = lin["model"]
    row.update(lin)
    return row


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.detect
    turns = ctx.run.table("turns")
    shard_files = modelstage.input_shards(turns)
    spec = None if cfg.engine == LEXICAL else engine_spec(ctx.cfg, cfg.engine)
    lex_version = f"lexical-{lexical_version()}"

    def plan(shard: int) -> ShardWork:
        rows = modelstage.conversation_order(modelstage.read_shard(shard_files[shard], TURNS))
        work = ShardWork(shard=shard, rows_in=len(rows))
        for turn in rows:
            if spec is None or cfg.prefilter == "prefilter":
                det = lexical.classify(
                    turn["user_message"] or "", previous_user_message(turn["history"]), turn["response"],
                    threshold=cfg.prefilter_threshold,
                )
                if spec is None:
                    work.fixed_rows.append(lexical_row(turn, det, LEXICAL, lex_version))
                    continue
                if not det.candidate:
                    work.fixed_rows.append(lexical_row(turn, lexical.Detection(), PREFILTER, lex_version))
                    continue
            messages = detect_messages(turn, cfg.max_context_chars, cfg.with_preferences)
            work.requests.append({"key": turn["turn_id"], "messages": messages, "turn": turn})
        return work

    stage = ModelStage(
        name="detect", output="feedback", schema=FEEDBACK,
        prompt_version=model_prompt_version(ctx.cfg) if spec else lex_version,
        # a hosted OpenAI endpoint refuses the conditional (root anyOf) schema in strict mode
        json_schema=detect_schema(cfg.with_preferences, conditional=spec is None or spec.kind == "vllm"),
        parse=parse_detection_with_preferences if cfg.with_preferences else parse_detection,
        make_row=make_row, sampling=cfg.sampling, max_retries=cfg.max_retries,
    )
    modelstage.run_sharded(ctx, stage, spec, list(shard_files), plan)
    ctx.record["prefilter"] = cfg.prefilter if spec else None
    ctx.record["with_preferences"] = cfg.with_preferences
