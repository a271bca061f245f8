"""prepare (Spark): filter, exact dedup, near dedup, PII scrub, candidate feedback turns.

The method, step by step (pure logic in wfcore.filters, wfcore.dedup, wfcore.pii, wfcore.turns):

1. annotate  one Arrow pass per conversation: filter reason, exact fingerprint, sorted shingle-hash
             set and MinHash LSH band hashes of the user turns (vectorised numpy inside ``mapInArrow``);
2. filter    conversations failing a filter go to ``dropped`` with the filter's reason;
3. exact     per fingerprint keep the smallest conversation_id (``exact_duplicate``);
4. near      band rows exploded, self-join on (band, hash) gives candidate pairs, pairs whose
             EXACT Jaccard of shingle-hash sets reaches the threshold are edges, connected
             components by iterative min-label propagation with Spark joins; the component's
             smallest id is kept, the rest dropped (``near_duplicate``, ``kept_as`` the
             representative);
5. scrub     PII in kept conversations replaced by typed placeholders (counts per type);
6. turns     each kept conversation exploded into candidate feedback turns;
7. layout    shard = xxhash64(conversation_id) mod ceil(turns / shard_turns): a conversation
             never spans shards; one Parquet file per shard (``shard-00007.parquet``), turns in
             (conversation_id, message_index) order; the commit lists ``shards: {n: file}``.

Spark runs ``local[*]`` by default, or a cluster master / Spark Connect (``sc://``) from config.
Inputs and outputs go through ``jobs.spark.ObjectStorageBridge``: for an ``s3://`` run directory
and a Spark without the hadoop-aws (s3a) jars, inputs are staged to local scratch and outputs
written there, renamed into shards, then uploaded; with s3a (cluster images) paths pass through.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from wfcore import schema as S
from wfcore.config import PrepareConfig
from wfcore.storage import Dataset

from .context import StageContext
from .spark import (
    ObjectStorageBridge,
    PhaseTimer,
    commit_sharded,
    functions,
    get_spark,
    write_plain,
    write_sharded,
)
from .spark import spark_schema as spark_ddl

ANNOTATED = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("fingerprint", pa.string()),
        ("bands", pa.list_(pa.int64())),
        ("shingles", pa.list_(pa.int32())),
    ]
)
_FILTER_INPUT = ["conversation_id", "messages", "language", "moderation_flagged", "toxic", "redacted"]


# ---------------------------------------------------------------- Arrow <-> Spark schemas


def _cast_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Arrow batch with ``schema``'s field names and types (Spark's timestamp unit/zone, etc.)."""
    cols = [batch.column(f.name).cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


# ---------------------------------------------------------------- Arrow UDF bodies (run on executors)


def annotate_batches(cfg_json: dict) -> Any:
    """``mapInArrow`` body: filter reason, exact fingerprint, LSH bands and shingle-hash set per conversation."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import numpy as np

        from wfcore import dedup, filters

        cfg = PrepareConfig.model_validate(cfg_json)
        nd = cfg.near_dedup
        bands, rows = dedup.resolve_bands_rows(nd.threshold, nd.num_perm, nd.bands, nd.rows)
        for batch in batches:
            convs = batch.to_pylist()
            reasons, details, fps, hashes, passing = [], [], [], [], []
            for i, c in enumerate(convs):
                r = filters.filter_reason(c, cfg)
                reasons.append(r[0] if r else None)
                details.append(r[1] if r else None)
                msgs = c.get("messages") or []
                fps.append(dedup.exact_fingerprint(msgs) if r is None else None)
                if r is None and nd.enabled:
                    hashes.append(dedup.shingle_hashes(dedup.user_text(msgs), nd.shingle_size))
                    passing.append(i)
            shingle_col: list = [None] * len(convs)
            band_col: list = [None] * len(convs)
            if passing:
                sigs = dedup.signatures(hashes, nd.num_perm, nd.seed)
                bh = dedup.band_hashes(sigs, bands, rows)
                nonempty = np.array([len(h) > 0 for h in hashes])
                for k, i in enumerate(passing):
                    if nonempty[k]:
                        band_col[i] = bh[k]
                        shingle_col[i] = dedup.shingle_set(hashes[k])
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column("conversation_id"),
                    pa.array(reasons, pa.string()),
                    pa.array(details, pa.string()),
                    pa.array(fps, pa.string()),
                    pa.array(band_col, pa.list_(pa.int64())),
                    pa.array(shingle_col, pa.list_(pa.int32())),
                ],
                schema=ANNOTATED,
            )

    return fn


def _scrubbed_schema(pii_types: list[str]) -> pa.Schema:
    fields = [f for f in S.PREPARED if f.name != "shard"] + [pa.field("n_turns", pa.int32())]
    return pa.schema(fields + [pa.field(f"pii_{t}", pa.int32()) for t in pii_types])


def scrub_batches(cfg_json: dict) -> Any:
    """``mapInArrow`` body: PII-scrubbed messages, candidate-turn count, PII counts per type."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from wfcore import pii, turns

        cfg = PrepareConfig.model_validate(cfg_json)
        types = list(cfg.pii.types) if cfg.pii.enabled else []
        out_schema = _scrubbed_schema(list(cfg.pii.types))
        for batch in batches:
            msgs_in = batch.column("messages").to_pylist()
            msgs_out, n_turns = [], []
            counts = {t: [] for t in cfg.pii.types}
            for msgs in msgs_in:
                msgs = msgs or []
                clean, c = pii.scrub_messages(msgs, types) if types else (msgs, {})
                msgs_out.append(clean)
                n_turns.append(len(turns.candidate_indices(clean)))
                for t in counts:
                    counts[t].append(c.get(t, 0))
            cols = {name: batch.column(name) for name in batch.schema.names}
            cols["messages"] = pa.array(msgs_out, S.MESSAGES)
            cols["n_turns"] = pa.array(n_turns, pa.int32())
            for t, v in counts.items():
                cols[f"pii_{t}"] = pa.array(v, pa.int32())
            yield pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in out_schema], schema=out_schema)

    return fn


def explode_batches() -> Any:
    """``mapInArrow`` body: candidate feedback turns of each prepared conversation."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from wfcore import turns

        for batch in batches:
            rows = []
            for conv in batch.to_pylist():
                for row in turns.explode(conv):
                    row["shard"] = conv["shard"]
                    rows.append(row)
            yield pa.RecordBatch.from_pylist(rows, schema=S.TURNS)

    return fn


# ---------------------------------------------------------------- dedup with Spark operations


def near_duplicate_edges(candidates_df, threshold: float):
    """Verified near-duplicate edges (a < b, jaccard) among ``candidates_df`` (conversation_id, bands, shingles).

    Band rows are exploded and self-joined on (band, hash); each distinct candidate pair whose
    set sizes allow the threshold (``wfcore.dedup.jaccard_upper_bound``) is verified with the
    exact Jaccard of its shingle-hash sets (``wfcore.dedup.set_jaccard``, here as Spark SQL
    ``array_intersect`` on the JVM, so no Python round trip).
    """
    F = functions(candidates_df)
    cands = candidates_df.where(F.col("bands").isNotNull()).select(
        "conversation_id", "bands", "shingles", F.size("shingles").alias("n")
    )
    rows = cands.select("conversation_id", "n", F.posexplode("bands").alias("band", "h"))
    left = rows.select(F.col("conversation_id").alias("a"), F.col("n").alias("na"), "band", "h")
    right = rows.select(F.col("conversation_id").alias("b"), F.col("n").alias("nb"), "band", "h")
    t = F.lit(float(threshold))
    pairs = (
        left.join(right, ["band", "h"])
        .where((F.col("a") < F.col("b")) & (F.least("na", "nb") >= t * F.greatest("na", "nb")))
        .select("a", "b")
        .distinct()
    )
    sets = cands.select("conversation_id", "shingles")
    sa = sets.select(F.col("conversation_id").alias("a"), F.col("shingles").alias("sh_a"))
    sb = sets.select(F.col("conversation_id").alias("b"), F.col("shingles").alias("sh_b"))
    inter = F.size(F.array_intersect("sh_a", "sh_b"))
    return (
        pairs.join(sa, "a")
        .join(sb, "b")
        .withColumn("jaccard", inter / (F.size("sh_a") + F.size("sh_b") - inter))
        .where(F.col("jaccard") >= t)
        .select("a", "b", "jaccard")
    )


def connected_components(edges_df, max_iterations: int = 100) -> tuple[Any, int, int]:
    """(labels, rounds, clusters): (id, label) for every node of ``edges_df`` (a, b), label =
    smallest id of its component; the number of rounds; the number of components.

    Iterative min-label propagation with Spark joins: each round every node takes the smallest
    label among itself and its neighbours, then jumps to its label's label (pointer jumping),
    until no label changes. Each round checkpoints the new labels (which also keeps the plan
    shallow: Spark Connect rejects deep plans) and one aggregation over the checkpoint counts
    both the changed labels and the roots. The graph never leaves the cluster.
    """
    F = functions(edges_df)
    e = edges_df.select(F.col("a").alias("src"), F.col("b").alias("dst"))
    e = e.unionByName(e.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
    labels = (
        e.groupBy("src")
        .agg(F.min("dst").alias("m"))
        .select(F.col("src").alias("id"), F.least("src", "m").alias("label"))
    )
    for rounds in range(1, max_iterations + 1):
        msgs = e.join(labels.withColumnRenamed("id", "src"), "src").select(
            F.col("dst").alias("id"), "label", F.lit(None).cast("string").alias("old")
        )
        best = (
            labels.select("id", "label", F.col("label").alias("old"))
            .unionByName(msgs)
            .groupBy("id")
            .agg(F.min("label").alias("label"), F.max("old").alias("old"))
        )
        jump = best.select(F.col("id").alias("label"), F.col("label").alias("label2"))
        new = (
            best.join(jump, "label", "left")
            .select("id", F.least("label", F.coalesce("label2", "label")).alias("label"), "old")
            .localCheckpoint()
        )
        tally = new.agg(
            F.sum(F.when(F.col("label") != F.col("old"), 1).otherwise(0)).alias("changed"),
            F.sum(F.when(F.col("label") == F.col("id"), 1).otherwise(0)).alias("roots"),
        ).collect()[0]
        labels = new.select("id", "label")
        if int(tally["changed"] or 0) == 0:
            return labels, rounds, int(tally["roots"] or 0)
    raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")


# ---------------------------------------------------------------- the stage


def prepare(spark, conversation_files: list[str], cfg: PrepareConfig, out: dict[str, Dataset], fingerprint: str) -> dict:
    """Run the prepare plan on ``spark``; commit ``out['prepared'|'dropped'|'turns']``; return counts.

    Inputs are read and outputs written through ``jobs.spark.ObjectStorageBridge``, so an
    ``s3://`` run directory works even when Spark has no s3a support.
    """
    with ObjectStorageBridge(spark, out["turns"].uri) as bridge:
        return _prepare(spark, bridge.inputs(list(conversation_files)), cfg, out, fingerprint, bridge)


def _prepare(spark, paths: list[str], cfg: PrepareConfig, out: dict[str, Dataset], fingerprint: str, bridge) -> dict:
    """The plan. Spark actions: annotate checkpoint + one tally (filter and exact-dup counts),
    edge checkpoint + count, per component round a checkpoint + one tally, scrub checkpoint + one
    tally (kept, turns, PII, hence near dups), three writes. The dropped table is never counted
    with Spark: its rows are read from the written Parquet footers and checked against the tallies."""
    from wfcore import dedup

    F = functions(spark)
    timer = PhaseTimer()
    lap = timer.lap

    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    cfg_json = cfg.model_dump(mode="json")
    nd = cfg.near_dedup
    bands, rows = dedup.resolve_bands_rows(nd.threshold, nd.num_perm, nd.bands, nd.rows)
    conv = spark.read.schema(spark_ddl(S.CONVERSATIONS)).parquet(*paths)

    # 1-2. annotate (checkpointed: the filters, both dedups and the dropped table reuse it), filter.
    # One tally gives the filter counts and, through the distinct fingerprints, the exact dups.
    ann = conv.select(*_FILTER_INPUT).mapInArrow(annotate_batches(cfg_json), spark_ddl(ANNOTATED)).localCheckpoint()
    tally = ann.groupBy("reason").agg(
        F.count(F.lit(1)).alias("n"), F.count_distinct("fingerprint").alias("fingerprints")
    ).collect()
    by_reason = {r["reason"]: int(r["n"]) for r in tally if r["reason"] is not None}
    n_passed = sum(int(r["n"]) for r in tally if r["reason"] is None)
    n_unique = sum(int(r["fingerprints"]) for r in tally if r["reason"] is None) if cfg.dedup_exact else n_passed
    n_in = n_passed + sum(by_reason.values())
    by_reason["exact_duplicate"] = n_passed - n_unique
    lap("annotate")
    filtered = ann.where(F.col("reason").isNotNull()).select(
        "conversation_id", "reason", "detail", F.lit(None).cast("string").alias("kept_as")
    )
    passed = ann.where(F.col("reason").isNull())

    # 3. exact dedup: the smallest id per fingerprint is the representative
    if cfg.dedup_exact:
        reps = passed.groupBy("fingerprint").agg(F.min("conversation_id").alias("rep"))
        passed = passed.join(reps, "fingerprint")
        exact = passed.where(F.col("conversation_id") != F.col("rep")).select("conversation_id", "rep")
        uniq = passed.where(F.col("conversation_id") == F.col("rep")).drop("rep")
    else:
        exact = passed.select("conversation_id", F.col("conversation_id").alias("rep")).limit(0)
        uniq = passed

    # 4. near dedup (no component rounds when no edge survives verification)
    stats: dict[str, Any] = {"bands": bands, "rows": rows, "threshold": nd.threshold, "num_perm": nd.num_perm}
    stats.update(edges=0, cc_rounds=0, clusters=0)
    labels = spark.createDataFrame([], "id string, label string")
    if nd.enabled:
        edges = near_duplicate_edges(uniq, nd.threshold).localCheckpoint()
        stats["edges"] = edges.count()
        if stats["edges"]:
            labels, stats["cc_rounds"], stats["clusters"] = connected_components(edges)
    lap("near_dedup")
    near = labels.where(F.col("id") != F.col("label")).select(
        F.col("id").alias("conversation_id"),
        F.lit("near_duplicate").alias("reason"),
        F.lit(None).cast("string").alias("detail"),
        F.col("label").alias("kept_as"),
    )
    exact_rows = exact.join(labels.withColumnRenamed("id", "rep"), "rep", "left").select(
        "conversation_id",
        F.lit("exact_duplicate").alias("reason"),
        F.lit(None).cast("string").alias("detail"),
        F.coalesce("label", "rep").alias("kept_as"),
    )
    dropped = filtered.unionByName(exact_rows).unionByName(near)
    kept = uniq.select("conversation_id").join(near.select("conversation_id"), "conversation_id", "left_anti")

    # 5. PII scrub of kept conversations (checkpointed: both sharded writes read it)
    pii_types = list(cfg.pii.types)
    scrubbed = (
        conv.join(kept, "conversation_id")
        .withColumn("cluster_id", F.col("conversation_id"))
        .select(*S.PREPARED.names[:-1])
        .mapInArrow(scrub_batches(cfg_json), spark_ddl(_scrubbed_schema(pii_types)))
        .localCheckpoint()
    )
    aggs = [F.count(F.lit(1)).alias("n"), F.sum("n_turns").alias("turns")] + [
        F.sum(f"pii_{t}").alias(t) for t in pii_types
    ]
    tot = scrubbed.agg(*aggs).collect()[0]
    n_kept, n_turns = int(tot["n"]), int(tot["turns"] or 0)
    by_reason["near_duplicate"] = n_unique - n_kept
    pii_counts = {t: int(tot[t] or 0) for t in pii_types} if cfg.pii.enabled else {}
    num_shards = max(1, math.ceil(n_turns / cfg.shard_turns))
    lap("scrub")

    # 6-7. shard, explode, write
    prepared = scrubbed.withColumn(
        "shard", F.pmod(F.xxhash64("conversation_id"), F.lit(num_shards)).cast("int")
    ).select(*S.PREPARED.names)
    written_prep = write_sharded(prepared, out["prepared"], ["conversation_id"], num_shards, bridge)
    turns_df = prepared.mapInArrow(explode_batches(), spark_ddl(S.TURNS))
    written_turns = write_sharded(turns_df, out["turns"], ["conversation_id", "message_index"], num_shards, bridge)
    lap("write_sharded")

    dropped_files, n_dropped = write_plain(dropped.coalesce(1), out["dropped"], bridge)
    by_reason = {r: n for r, n in by_reason.items() if n}
    if n_dropped != sum(by_reason.values()):
        raise RuntimeError(f"prepare wrote {n_dropped} dropped rows, counted {by_reason}")
    if dropped_files:
        out["dropped"].commit(dropped_files, n_dropped, fingerprint)
    else:
        out["dropped"].write(S.DROPPED.empty_table(), fingerprint)
    rows_prep = commit_sharded(out["prepared"], written_prep, fingerprint, num_shards)
    rows_turns = commit_sharded(out["turns"], written_turns, fingerprint, num_shards)
    lap("write_dropped")
    if rows_prep != n_kept or rows_turns != n_turns:
        raise RuntimeError(f"prepare wrote {rows_prep} prepared / {rows_turns} turns, expected {n_kept} / {n_turns}")
    return {
        "rows_in": n_in,
        "rows_out": n_kept,
        "dropped_by_reason": by_reason,
        "turns": n_turns,
        "shards": num_shards,
        "turn_shards_written": len(written_turns),
        "pii": pii_counts,
        "near_dedup": stats,
        "phase_seconds": timer.phases,
    }


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.prepare
    files = ctx.run.table("conversations").files()
    out = {name: ctx.run.table(name) for name in ("prepared", "dropped", "turns")}
    progress = ctx.progress(total=1, unit="plans")
    spark = get_spark(cfg.spark, "wildfeedback-prepare")
    res = prepare(spark, files, cfg, out, ctx.fingerprint)
    progress.advance(1, rows=res["rows_in"], force=True)
    ctx.record["rows_in"] = res["rows_in"]
    ctx.record["rows_out"] = res["rows_out"]
    for reason, n in sorted(res["dropped_by_reason"].items()):
        ctx.reject(reason, n)
    for key in ("turns", "shards", "pii", "near_dedup", "phase_seconds"):
        ctx.record[key] = res[key]
