"""assemble (Spark): join turns, feedback, preferences and responses; build, filter, split and
balance preference pairs; commit ``RUN/pairs/`` and ``RUN/sft/``; write the exports.

The plan, in the order of the method:
1. join    labelled turns = turns + feedback + preferences + responses (pivoted by variant), on
           turn_id; keep the turns with a signal; group them per conversation and join the
           prepared conversation's messages (harvesting needs the revision and what follows).
2. build   ``mapInArrow`` runs :func:`wfcore.pairs.conversation_candidates` per conversation:
           candidate pairs with their per-pair filter verdict, SFT examples, harvest statistics.
3. filter  duplicates (pair_id, then normalised prompt/chosen/rejected) and balancing caps with
           window functions, same rules as :func:`wfcore.pairs.corpus_filters`.
4. write   kept pairs and SFT examples to attempt folders, committed; counts to the manifest.
5. export  TRL JSONL, WildFeedback layout, datasets folder, SFT JSONL, dataset card
           (:mod:`wfcore.export`, streaming over the committed pairs).
"""

from __future__ import annotations

import pyarrow as pa

from wfcore import pairs as P
from wfcore import schema, storage

from . import heldout
from .context import StageContext
from .spark import (
    ObjectStorageBridge,
    PhaseTimer,
    functions,
    get_spark,
    local_path,
    spark_schema,
    window,
    write_committed,
)

KIND_PAIR, KIND_SFT, KIND_SKIP = "pair", "sft", "skip"

# What the build UDF returns: a pair row, an SFT row or a harvest statistic, in one schema.
CANDIDATES = pa.schema(
    list(schema.PAIRS)
    + [
        ("kind", pa.string()),
        ("reject_reason", pa.string()),
        ("dedup_key", pa.string()),
        ("balance_key", pa.string()),
        ("type_rank", pa.int32()),
        ("count", pa.int64()),  # for harvest statistics
    ]
)

_GEN = "struct<response:string,finish_reason:string,model:string,prompt_version:string,tokens_in:bigint,tokens_out:bigint>"


def fingerprint_parts(cfg) -> dict:
    parts = cfg.assemble.model_dump(mode="json")
    if cfg.assemble.judge_on_policy:
        from .evaluate import judge_fingerprint_parts

        parts["judge"] = judge_fingerprint_parts(cfg)
    return parts


def _read(spark, ds: storage.Dataset, bridge=None):
    if not ds.is_committed():
        return None
    files = ds.files()
    if not files:
        return None
    paths = bridge.inputs(files) if bridge is not None else [local_path(f) for f in files]
    return spark.read.parquet(*paths)


def labelled_turns(spark, run, bridge=None):
    """Turns with a SAT or DSAT signal, joined with their feedback, preferences and responses."""
    F = functions(spark)

    turns = _read(spark, run.table("turns"), bridge)
    feedback = _read(spark, run.table("feedback"), bridge)
    if turns is None or feedback is None:
        raise FileNotFoundError("assemble needs committed RUN/turns and RUN/feedback")
    # detect writes one row per turn (a duplicate would surface as a counted duplicate pair)
    fb = feedback.where(F.col("error").isNull() & (F.col("sat") | F.col("dsat"))).select(
        "turn_id", "sat", "dsat", "sat_categories", "dsat_categories", "detector",
        F.col("prompt_version").alias("fb_prompt_version"),
        F.col("tokens_in").alias("fb_tokens_in"),
        F.col("tokens_out").alias("fb_tokens_out"),
    )
    t = turns.select(
        "turn_id", "conversation_id", "message_index", "history", "response", "user_message",
        "source", "model", "cluster_id", "moderation_flagged",
    ).join(fb, "turn_id", "inner")

    prefs = _read(spark, run.table("preferences"), bridge)
    if prefs is not None:
        pf = prefs.where(F.col("error").isNull() & (F.size("preferences") > 0)).select(
            "turn_id", "preferences",
            F.col("prompt_version").alias("pref_prompt_version"),
            F.col("tokens_in").alias("pref_tokens_in"),
            F.col("tokens_out").alias("pref_tokens_out"),
        )
        t = t.join(pf, "turn_id", "left")
    else:
        t = (
            t.withColumn("preferences", F.lit(None).cast("array<string>"))
            .withColumn("pref_prompt_version", F.lit(None).cast("string"))
            .withColumn("pref_tokens_in", F.lit(None).cast("bigint"))
            .withColumn("pref_tokens_out", F.lit(None).cast("bigint"))
        )

    resp = _read(spark, run.table("responses"), bridge)
    if resp is not None:
        side = F.struct("response", "finish_reason", "model", "prompt_version", "tokens_in", "tokens_out")
        rs = (
            resp.where(F.col("error").isNull() & F.col("response").isNotNull())
            .groupBy("turn_id")
            .agg(
                F.min(F.when(F.col("variant") == "preferred", side)).alias("preferred"),
                F.min(F.when(F.col("variant") == "unconditioned", side)).alias("unconditioned"),
            )
        )
        t = t.join(rs, "turn_id", "left")
    else:
        t = t.withColumn("preferred", F.lit(None).cast(_GEN)).withColumn("unconditioned", F.lit(None).cast(_GEN))
    return t


def conversations_with_turns(spark, run, turns, harvest: bool, bridge=None):
    """One row per conversation with a signal turn: its turns, and its messages when harvesting."""
    F = functions(spark)

    grouped = turns.groupBy("conversation_id").agg(
        F.collect_list(F.struct(*[c for c in turns.columns if c != "conversation_id"])).alias("turns"),
        F.first("source").alias("t_source"),
        F.first("cluster_id").alias("t_cluster"),
        F.max("moderation_flagged").alias("t_flagged"),
        F.first("model").alias("t_model"),
    )
    prepared = _read(spark, run.table("prepared"), bridge) if harvest else None
    if prepared is None:
        return grouped.select(
            "conversation_id", "turns", F.col("t_source").alias("source"), F.col("t_cluster").alias("cluster_id"),
            F.col("t_flagged").alias("moderation_flagged"), F.col("t_model").alias("model"),
            F.lit(None).cast("array<struct<role:string,content:string>>").alias("messages"),
        )
    conv = prepared.select("conversation_id", "messages", "source", "cluster_id", "moderation_flagged", "model")
    return grouped.join(conv, "conversation_id", "left").select(
        "conversation_id", "turns", "messages",
        F.coalesce("source", "t_source").alias("source"),
        F.coalesce("cluster_id", "t_cluster").alias("cluster_id"),
        (F.coalesce("moderation_flagged", F.lit(False)) | F.coalesce("t_flagged", F.lit(False))).alias("moderation_flagged"),
        F.coalesce("model", "t_model").alias("model"),
    )


def build_candidates_fn(opts: P.PairOptions):
    """The mapInArrow function: conversations in, candidate / SFT / statistic rows out."""

    def build(batches):
        names = CANDIDATES.names
        for batch in batches:
            rows = []
            for conv in batch.to_pylist():
                pairs, sft, skipped = P.conversation_candidates(conv, opts)
                for p in pairs:
                    p["kind"] = KIND_PAIR
                    p["type_rank"] = P.TYPE_RANK.get(p["pair_type"], 9)
                    rows.append(p)
                for s in sft:
                    rows.append({
                        "kind": KIND_SFT, "pair_id": s["sft_id"], "conversation_id": s["conversation_id"],
                        "message_index": s["message_index"], "source": s["source"], "cluster_id": s["cluster_id"],
                        "prompt": s["prompt"], "chosen": s["response"], "signal": "SAT",
                        "categories": s["categories"], "split": s["split"], "chosen_model": s["model"],
                        "detector": s["detector"], "reject_reason": s["reject_reason"],
                    })
                for reason, n in skipped.items():
                    rows.append({"kind": KIND_SKIP, "reject_reason": reason, "count": n,
                                 "conversation_id": conv["conversation_id"]})
            if rows:
                yield pa.RecordBatch.from_pylist([{k: r.get(k) for k in names} for r in rows], schema=CANDIDATES)

    return build


def corpus_filters(cands, balance):
    """Duplicates and balancing caps with windows (the rules of wfcore.pairs.corpus_filters)."""
    F, Window = functions(cands), window(cands)

    reason = F.col("reject_reason")
    live = reason.isNull() & (F.col("kind") == KIND_PAIR)

    def cap_col(caps: dict, col: str):
        expr = None
        for k, v in caps.items():
            cond = F.col(col) == k
            expr = F.when(cond, F.lit(int(v))) if expr is None else expr.when(cond, F.lit(int(v)))
        return expr if expr is not None else F.lit(None).cast("int")

    def mark(df, part: list[str], order: list[str], name: str, cap):
        # rejected rows sit in their own window partition so they take no place under a cap
        df = df.withColumn("_live", live.cast("int"))
        w = Window.partitionBy("_live", *part).orderBy(*order)
        limit = cap_col(cap, part[0]) if isinstance(cap, dict) else F.lit(int(cap))
        over = F.row_number().over(w) > F.coalesce(limit, F.lit(1 << 62))
        return df.withColumn("reject_reason", F.when(live & over, F.lit(name)).otherwise(reason)).drop("_live")

    # one window for both duplicate rules: equal pair ids imply equal (prompt, chosen, rejected)
    order_dup = ["type_rank", "pair_id", "conversation_id", "message_index"]
    w = Window.partitionBy(live.cast("int"), "dedup_key").orderBy(*order_dup)
    first = F.row_number().over(w) == 1
    same_id = F.lag("pair_id").over(w) == F.col("pair_id")
    cands = cands.withColumn(
        "reject_reason",
        F.when(~live | first, reason).when(same_id, F.lit(P.R_DUP_ID)).otherwise(F.lit(P.R_DUP_PAIR)),
    )
    if balance.max_per_signal:
        cands = mark(cands, ["signal"], ["balance_key"], P.R_CAP_SIGNAL, dict(balance.max_per_signal))
    if balance.max_per_category is not None:
        cands = cands.withColumn("_cat", F.coalesce(F.element_at("categories", 1), F.lit("")))
        cands = mark(cands, ["_cat"], ["balance_key"], P.R_CAP_CATEGORY, int(balance.max_per_category)).drop("_cat")
    return cands


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg.assemble
    opts = P.PairOptions.from_config(cfg)
    P.load_hook(opts.safety_classifier)  # fail fast on a wrong hook, before any work
    import time

    t0 = time.time()
    spark = get_spark(cfg.spark or ctx.cfg.prepare.spark, app_name="wildfeedback-assemble")
    ctx.record["phase_seconds"] = {"spark_session": round(time.time() - t0, 3)}
    prog = ctx.progress(total=4, unit="steps")

    with ObjectStorageBridge(spark, ctx.run.uri) as bridge:
        _assemble(ctx, spark, bridge, opts, prog)


def _assemble(ctx: StageContext, spark, bridge, opts, prog) -> None:
    import time

    from pyspark import StorageLevel

    F = functions(spark)
    cfg = ctx.cfg.assemble
    lap = PhaseTimer(ctx.record.setdefault("phase_seconds", {})).lap

    turns = labelled_turns(spark, ctx.run, bridge)
    convs = conversations_with_turns(spark, ctx.run, turns, opts.harvest, bridge)
    held = heldout.build(ctx, spark, turns, convs, opts)  # before the split: training never sees it
    lap("heldout")
    cands = convs.mapInArrow(build_candidates_fn(opts), spark_schema(CANDIDATES))
    cands = heldout.exclude(cands, held, (KIND_PAIR, KIND_SFT))
    if cfg.judge_on_policy:  # before the corpus filters, so caps count only the pairs kept
        from .evaluate import judge_on_policy_candidates

        cands = cands.persist(StorageLevel.MEMORY_AND_DISK)
        cands = judge_on_policy_candidates(ctx, spark, cands, (P.ON_POLICY, P.SAT_ON_POLICY))
    cands = corpus_filters(cands, cfg.balance).persist(StorageLevel.MEMORY_AND_DISK)
    summary = cands.groupBy("kind", "pair_type", "reject_reason").agg(
        F.sum(F.coalesce("count", F.lit(1))).alias("n")
    ).collect()
    counts = {(r["pair_type"], r["reject_reason"]): int(r["n"]) for r in summary if r["kind"] == KIND_PAIR}
    stats = {r["reject_reason"]: int(r["n"]) for r in summary if r["kind"] == KIND_SKIP}
    sft_rows = sum(int(r["n"]) for r in summary if r["kind"] == KIND_SFT and r["reject_reason"] is None)
    sft_rejected = {r["reject_reason"]: int(r["n"]) for r in summary if r["kind"] == KIND_SFT and r["reject_reason"]}
    rows_out = sum(n for (_, r), n in counts.items() if r is None)
    lap("candidates")
    prog.advance(2)

    parts = max(1, (cfg.spark or ctx.cfg.prepare.spark).shuffle_partitions // 4)
    kept = (
        cands.where((F.col("kind") == KIND_PAIR) & F.col("reject_reason").isNull())
        .repartition(parts, "split")
        .sortWithinPartitions("split", "pair_id")
    )
    write_committed(kept, ctx.run.table("pairs"), schema.PAIRS, ctx.fingerprint, rows_out, bridge)
    lap("write_pairs")
    sft = cands.where((F.col("kind") == KIND_SFT) & F.col("reject_reason").isNull()).select(
        F.col("pair_id").alias("sft_id"), "conversation_id", "message_index", "source", "cluster_id", "prompt",
        F.col("chosen").alias("response"), "categories", "split", F.col("chosen_model").alias("model"), "detector",
    )
    write_committed(sft.coalesce(1).sortWithinPartitions("sft_id"), ctx.run.table("sft"), schema.SFT, ctx.fingerprint, sft_rows, bridge)
    lap("write_sft")
    prog.advance(1, rows=rows_out)
    cands.unpersist()

    rec = ctx.record
    rec["rows_in"] = sum(counts.values())
    rec["rows_out"] = rows_out
    for (_, reason), n in sorted(counts.items(), key=lambda kv: (str(kv[0][1]), str(kv[0][0]))):
        if reason is not None:
            ctx.reject(reason, n)
    by_type: dict[str, dict[str, int]] = {}
    for (ptype, reason), n in counts.items():
        d = by_type.setdefault(ptype, {"candidates": 0, "kept": 0})
        d["candidates"] += n
        d["kept"] += n if reason is None else 0
    rec["pairs_by_type"] = by_type
    rec["harvest_opener_removed"] = stats.pop(P.H_OPENER_REMOVED, 0)  # harvested chosen, feedback opener cut
    rec["harvest_skipped"] = stats
    rec["sft_rows"] = sft_rows
    rec["sft_rejected_by_reason"] = dict(sorted(sft_rejected.items()))  # same filter as the pairs
    rec["heldout"]["sft_excluded"] = sft_rejected.get(heldout.R_HELDOUT, 0)

    from wfcore.export import write_exports

    t0 = time.time()
    rec["exports"] = write_exports(ctx.run, ctx.cfg, record=rec)
    rec["export_seconds"] = round(time.time() - t0, 3)
    prog.advance(1, force=True)
