"""The single source of truth for every table's columns.

Each table of a run directory (``RUN/<table>/``) has one Arrow schema here. Stages build rows as
plain dicts and call :func:`to_table` so that a missing or mistyped column fails loudly at the
point where it is produced, not three stages later.
"""

from __future__ import annotations

import pyarrow as pa

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
STRINGS = pa.list_(pa.string())

ROLES = ("system", "user", "assistant")

# Model-call bookkeeping carried by every model-stage row (design: "each output row records
# model, prompt version and sampling settings").
_LINEAGE = [
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    ("sampling", pa.string()),  # JSON of the sampling settings
    ("tokens_in", pa.int64()),
    ("tokens_out", pa.int64()),
    ("error", pa.string()),  # null when the row is valid
    ("raw_output", pa.string()),  # kept for error rows (truncated)
]

CONVERSATIONS = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("source", pa.string()),  # adapter name: wildchat, lmsys, sharegpt, openai, wildfeedback, ...
        ("messages", MESSAGES),
        ("language", pa.string()),
        ("model", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("moderation_flagged", pa.bool_()),  # any OpenAI-moderation flag set (null: unknown)
        ("toxic", pa.bool_()),  # source's toxicity flag (null: unknown)
        ("redacted", pa.bool_()),  # source says PII was redacted (null: unknown)
        ("locator", pa.string()),  # file:line (or file:row) the record came from
        ("metadata", pa.string()),  # JSON of the source's other fields
        ("empty_messages", pa.int32()),  # messages kept with empty or blank content (see is_empty)
    ]
)

REJECTS = pa.schema(
    [
        ("stage", pa.string()),
        ("source", pa.string()),
        ("locator", pa.string()),
        ("reason_code", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.string()),  # the raw record, truncated
    ]
)

# prepare: conversations kept after filters and dedup, PII-scrubbed, with their near-dup cluster.
PREPARED = pa.schema(
    list(CONVERSATIONS)
    + [
        ("cluster_id", pa.string()),  # near-duplicate cluster (representative's conversation_id)
        ("shard", pa.int32()),
    ]
)

# prepare: why a conversation did not go on (one row per dropped conversation).
DROPPED = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("reason", pa.string()),  # filter or dedup step
        ("detail", pa.string()),
        ("kept_as", pa.string()),  # for duplicates: the representative kept instead
    ]
)

# prepare: candidate feedback turns. A user message at index k >= 2 following an assistant one.
TURNS = pa.schema(
    [
        ("turn_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),  # 0-based index of the user message in `messages`
        ("history", MESSAGES),  # messages before the assistant response
        ("response", pa.string()),  # the assistant response the user reacts to
        ("user_message", pa.string()),  # the user message (candidate feedback)
        ("source", pa.string()),
        ("language", pa.string()),
        ("model", pa.string()),
        ("cluster_id", pa.string()),
        ("moderation_flagged", pa.bool_()),
        ("shard", pa.int32()),
    ]
)

FEEDBACK = pa.schema(
    [
        ("turn_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),
        ("sat", pa.bool_()),
        ("dsat", pa.bool_()),
        ("sat_categories", STRINGS),
        ("dsat_categories", STRINGS),
        ("evidence", pa.string()),
        ("detector", pa.string()),  # "lexical" or the model id
        # detect.with_preferences: the statements of the detect answer, as written (checked by the
        # preferences stage); null when detect was not asked for them
        ("preferences", STRINGS),
        ("shard", pa.int32()),
    ]
    + _LINEAGE
)

PREFERENCES = pa.schema(
    [
        ("turn_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),
        ("signal", pa.string()),  # SAT / DSAT
        ("preferences", STRINGS),  # 1-5 short, checkable statements (also the checklist)
        ("shard", pa.int32()),
    ]
    + _LINEAGE
)

RESPONSES = pa.schema(
    [
        ("turn_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),
        ("variant", pa.string()),  # "preferred" (with preferences) or "unconditioned" (on-policy rejected)
        ("response", pa.string()),
        ("finish_reason", pa.string()),
        ("shard", pa.int32()),
    ]
    + _LINEAGE
)

PAIRS = pa.schema(
    [
        ("pair_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),  # of the feedback turn
        ("source", pa.string()),
        ("cluster_id", pa.string()),
        ("prompt", MESSAGES),  # ends with a user message
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("pair_type", pa.string()),  # generated, harvested, on_policy, sat_on_policy
        ("signal", pa.string()),  # SAT / DSAT
        ("categories", STRINGS),
        ("preferences", STRINGS),
        ("split", pa.string()),  # train / test
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("detector", pa.string()),
        ("prompt_versions", pa.string()),  # JSON {stage: version}
        ("tokens", pa.string()),  # JSON {stage: {in, out}}
        ("judge", pa.string()),  # JSON {model, prompt_version, verdicts: {AB, BA}} (assemble.judge_on_policy)
    ]
)

# assemble: responses users were satisfied with (SAT turns), as SFT examples.
SFT = pa.schema(
    [
        ("sft_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),  # of the SAT feedback turn
        ("source", pa.string()),
        ("cluster_id", pa.string()),
        ("prompt", MESSAGES),  # ends with a user message
        ("response", pa.string()),  # the response the user was satisfied with
        ("categories", STRINGS),
        ("split", pa.string()),
        ("model", pa.string()),
        ("detector", pa.string()),
    ]
)

# evaluate: each candidate's response per held-out prompt (RUN/eval/candidates/).
EVAL_CANDIDATES = pa.schema(
    [
        ("heldout_id", pa.string()),
        ("candidate", pa.string()),  # "A" or "B"
        ("name", pa.string()),  # chosen, rejected, the engine's model id, or the JSONL file
        ("response", pa.string()),
    ]
    + _LINEAGE
)

# evaluate: one judge answer per held-out prompt and order (RUN/eval/verdicts/).
EVAL_VERDICTS = pa.schema(
    [
        ("heldout_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),
        ("category", pa.string()),
        ("order", pa.string()),  # "AB": candidate A shown first; "BA": candidate B shown first
        ("verdict", pa.string()),  # as judged: first shown vs second shown (A>>B ... B>>A)
        ("verdict_ab", pa.string()),  # the same in candidate terms: candidate A vs candidate B
        ("checklist", STRINGS),
        ("items_a", STRINGS),  # candidate A's response per checklist item: yes/partly/no/unknown
        ("items_b", STRINGS),
        ("rationale", pa.string()),
        ("judge_output", pa.string()),  # the judge's raw answer (truncated)
    ]
    + _LINEAGE
)


def is_empty(content: str | None) -> bool:
    """An empty message: null or whitespace-only content (what a model that failed to answer leaves).

    Ingest keeps such messages (a conversation is not thrown away for them) and counts them in
    ``empty_messages``; a candidate feedback turn needs a user message that is not empty, and a
    pair or SFT example never has an empty side.
    """
    return content is None or not content.strip()


# assemble: the held-out evaluation set (wfcore.heldout); its conversations and near-dup clusters
# are in no pair, SFT example or export.
HELDOUT = pa.schema(
    [
        ("heldout_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),  # of the feedback turn
        ("turn_id", pa.string()),
        ("prompt", MESSAGES),  # the history up to the judged response, ends with the user's request
        ("checklist", STRINGS),  # the user's preference statements
        ("category", pa.string()),  # primary rubric category
        ("categories", STRINGS),
        ("signal", pa.string()),  # SAT / DSAT
        ("cluster", pa.int32()),  # k-means cluster of the item's embedding
        ("centroid_distance", pa.float64()),  # cosine distance to that cluster's centroid
        ("chosen", pa.string()),  # the pair's chosen (SAT without a pair: the judged response; else null)
        ("rejected", pa.string()),  # the pair's rejected (DSAT without a pair: the judged response; else null)
        ("pair_type", pa.string()),  # the pair chosen/rejected come from (null: none)
        ("source", pa.string()),
        ("cluster_id", pa.string()),  # prepare's near-dup cluster
    ]
)

TABLES: dict[str, pa.Schema] = {
    "conversations": CONVERSATIONS,
    "rejects": REJECTS,
    "prepared": PREPARED,
    "dropped": DROPPED,
    "turns": TURNS,
    "feedback": FEEDBACK,
    "preferences": PREFERENCES,
    "responses": RESPONSES,
    "pairs": PAIRS,
    "sft": SFT,
    "eval/candidates": EVAL_CANDIDATES,
    "eval/verdicts": EVAL_VERDICTS,
    "heldout": HELDOUT,
}


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Build a table from row dicts, strictly: unknown keys are an error, missing keys are null."""
    names = set(schema.names)
    for row in rows[:1]:
        extra = set(row) - names
        if extra:
            raise ValueError(f"columns not in schema: {sorted(extra)}")
    return pa.Table.from_pylist(rows, schema=schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast ``table``'s columns to ``schema`` (missing columns become nulls)."""
    cols = []
    for field in schema:
        if field.name in table.column_names:
            cols.append(table.column(field.name).cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(cols, schema=schema)
