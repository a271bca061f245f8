"""The held-out evaluation set, built inside assemble before the splits (:mod:`wfcore.heldout`).

1. items    Spark: the labelled turns become items (checklist, usability verdict, text to
            embed) in a ``mapInArrow``; unusable ones are counted by reason.
2. embed    Ray Data: ``map_batches`` over the usable items with an actor pool of
            :class:`wfcore.embed.EmbedBatch` (one sentence-embedding model per actor; CPU here,
            ``num_gpus`` on a GPU cluster). Only (turn id, text) travels; vectors come back.
3. select   the driver: k-means and the round-robin selection of :func:`wfcore.heldout.select`
            (the vectors of feedback turns are small: 1.5 kB each, 55 MB for WildChat's
            36k feedback turns).
4. write    the selected turns' prompts and their pairs' chosen/rejected (the pure pair rules on
            just those conversations), committed as ``RUN/heldout/``; counts in the manifest.

:func:`exclude` then marks every candidate pair and SFT example of a held-out conversation or
near-dup cluster with :data:`wfcore.heldout.R_HELDOUT`, before duplicates, caps and the split.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from wfcore import heldout as H
from wfcore import pairs as P
from wfcore import schema

from .spark import functions, spark_schema

log = logging.getLogger(__name__)

R_HELDOUT = H.R_HELDOUT

ITEMS = pa.schema(
    [
        ("turn_id", pa.string()),
        ("conversation_id", pa.string()),
        ("cluster_id", pa.string()),
        ("unusable", pa.string()),
        ("text", pa.string()),
    ]
)


@dataclass
class Heldout:
    """What assemble needs to keep the held-out set out of training: its conversations and
    near-dup clusters."""

    conversations: set[str] = field(default_factory=set)
    clusters: set[str] = field(default_factory=set)


def _item(turn: dict, opts: H.HeldoutOptions) -> dict:
    """One labelled turn as a held-out item (checklist, prompt, usability, embedding text)."""
    signal = P.signal_of(turn.get("sat"), turn.get("dsat"))
    cats = list(turn.get("dsat_categories" if signal == "DSAT" else "sat_categories") or [])
    prefs, _ = P._preferences_for(turn, cats, signal) if signal else ([], None)
    checklist = H.clean_checklist(prefs, opts.min_statement_words)
    prompt = P._messages(turn.get("history"))
    reason = H.unusable_reason(prompt, checklist, signal, turn.get("moderation_flagged"), opts)
    return {
        "signal": signal,
        "categories": cats,
        "checklist": checklist,
        "prompt": prompt,
        "unusable": reason,
        "text": None
        if reason
        else H.embed_text(H.last_request(prompt) or "", checklist, opts.max_request_chars),
    }


def _items_fn(opts: H.HeldoutOptions):
    def build(batches):
        for batch in batches:
            rows = []
            for t in batch.to_pylist():
                it = _item(t, opts)
                rows.append(
                    {
                        "turn_id": t["turn_id"],
                        "conversation_id": t["conversation_id"],
                        "cluster_id": t.get("cluster_id") or t["conversation_id"],
                        "unusable": it["unusable"],
                        "text": it["text"],
                    }
                )
            if rows:
                yield pa.RecordBatch.from_pylist(rows, schema=ITEMS)

    return build


def embed(table: pa.Table, cfg, ray_cfg) -> tuple[np.ndarray, dict]:
    """Embed ``table``'s ``text`` (rows keep their order) with a Ray Data actor pool."""
    from jobs.rayrt import init_ray

    started_here = False
    import ray

    if not ray.is_initialized():
        init_ray(ray_cfg)
        started_here = True
    import ray.data

    e = cfg.embed
    t0 = time.time()
    try:
        n = table.num_rows
        ds = ray.data.from_arrow(table.select(["turn_id", "text"]))
        blocks = max(1, min(64, math.ceil(n / (e.batch_size * 4))))
        if blocks > 1:
            ds = ds.repartition(blocks)
        from wfcore.embed import EmbedBatch

        ds = ds.map_batches(
            EmbedBatch,
            fn_constructor_kwargs={
                "model_path": cfg.embedding_model,
                "device": "auto" if e.num_gpus > 0 else "cpu",
                "batch_size": e.batch_size,
                "num_threads": max(1, math.ceil(e.num_cpus)),
            },
            batch_size=e.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=e.concurrency),
            num_cpus=e.num_cpus,
            num_gpus=e.num_gpus or None,
        )
        vec_of: dict[str, np.ndarray] = {}
        for b in ds.iter_batches(batch_format="numpy", batch_size=None):
            for tid, v in zip(b["turn_id"], b["embedding"], strict=True):
                vec_of[str(tid)] = np.asarray(v, dtype=np.float32)
    finally:
        if started_here:
            ray.shutdown()
    secs = time.time() - t0
    ids = table.column("turn_id").to_pylist()
    missing = [t for t in ids if t not in vec_of]
    if missing:
        raise RuntimeError(f"held-out embedding lost {len(missing)} rows (first: {missing[0]})")
    vectors = np.stack([vec_of[t] for t in ids]) if ids else np.zeros((0, 0), dtype=np.float32)
    return vectors, {
        "embed_seconds": round(secs, 3),
        "items_per_second": round(n / secs, 1) if secs > 0 else None,
    }


def _rows(
    spark,
    turns,
    convs,
    chosen: list[dict],
    sel: H.Selection,
    opts_pairs: P.PairOptions,
    hopts: H.HeldoutOptions,
    idx_of: dict[str, int],
) -> list[dict]:
    """RUN/heldout rows of the selected turns, chosen/rejected from their own pairs."""
    F = functions(turns)

    tids = [c["turn_id"] for c in chosen]
    cids = sorted({c["conversation_id"] for c in chosen})
    turn_rows = {
        t["turn_id"]: t for t in turns.where(F.col("turn_id").isin(tids)).toArrow().to_pylist()
    }
    best: dict[tuple[str, int], dict] = {}
    for conv in convs.where(F.col("conversation_id").isin(cids)).toArrow().to_pylist():
        for p in P.conversation_candidates(conv, opts_pairs)[0]:
            if p["reject_reason"] is not None:
                continue
            key = (p["conversation_id"], p["message_index"])
            if key not in best or (P.TYPE_RANK.get(p["pair_type"], 9), p["pair_id"]) < (
                P.TYPE_RANK.get(best[key]["pair_type"], 9),
                best[key]["pair_id"],
            ):
                best[key] = p
    rows = []
    for c in chosen:
        t = turn_rows[c["turn_id"]]
        it = _item(t, hopts)
        k = int(t["message_index"])
        pair = best.get((t["conversation_id"], k))
        if pair is not None:
            chosen_text, rejected_text, ptype = pair["chosen"], pair["rejected"], pair["pair_type"]
        elif it["signal"] == "SAT":
            chosen_text, rejected_text, ptype = t.get("response"), None, None
        else:
            chosen_text, rejected_text, ptype = None, t.get("response"), None
        i = idx_of[c["turn_id"]]
        rows.append(
            {
                "heldout_id": H.heldout_id(t["conversation_id"], k),
                "conversation_id": t["conversation_id"],
                "message_index": k,
                "turn_id": t["turn_id"],
                "prompt": it["prompt"],
                "checklist": it["checklist"],
                "category": P.primary_category(it["categories"]) or None,
                "categories": it["categories"],
                "signal": it["signal"],
                "cluster": sel.cluster[i],
                "centroid_distance": round(sel.distance[i], 6),
                "chosen": chosen_text,
                "rejected": rejected_text,
                "pair_type": ptype,
                "source": t.get("source"),
                "cluster_id": c["cluster_id"],
            }
        )
    rows.sort(key=lambda r: (r["cluster"], r["centroid_distance"], r["heldout_id"]))
    return rows


def build(ctx, spark, turns, convs, opts_pairs: P.PairOptions) -> Heldout:
    """Select, write and commit ``RUN/heldout/``; return what training must exclude."""
    F = functions(spark)

    a = ctx.cfg.assemble
    cfg = a.heldout
    ds = ctx.run.table("heldout")
    rec: dict = {"enabled": cfg.enabled}
    ctx.record["heldout"] = rec
    if not cfg.enabled:
        ds.write(schema.HELDOUT.empty_table(), ctx.fingerprint)
        return Heldout()
    from wfcore.embed import DEFAULT_MODEL_NAME, resolve_model_path

    resolve_model_path(cfg.embedding_model)  # fail fast, before any Spark or Ray work
    hopts = H.HeldoutOptions.from_config(cfg, a.max_prompt_chars)
    t0 = time.time()
    items = turns.mapInArrow(_items_fn(hopts), spark_schema(ITEMS))
    counts = {
        r["unusable"]: int(r["n"])
        for r in items.groupBy("unusable").count().withColumnRenamed("count", "n").collect()
    }
    usable = items.where(F.col("unusable").isNull()).select(
        "turn_id", "conversation_id", "cluster_id", "text"
    )
    table = usable.toArrow().sort_by("turn_id")
    n_turns = sum(counts.values())
    rec.update(
        {
            "feedback_turns": n_turns,
            "usable": table.num_rows,
            "unusable_by_reason": dict(sorted((k, v) for k, v in counts.items() if k is not None)),
            "embedding_model": cfg.embedding_model or DEFAULT_MODEL_NAME,
        }
    )
    rec["items_seconds"] = round(time.time() - t0, 3)
    budget = H.item_budget(n_turns, table.num_rows, hopts)[0]
    if budget == 0 or table.num_rows == 0:
        vectors = np.zeros((0, 1), dtype=np.float32)
        rec.update({"embedded": 0})
    else:
        vectors, stats = embed(table, cfg, ctx.cfg.ray)
        rec.update({"embedded": table.num_rows, **stats})
    t1 = time.time()
    ids = table.column("turn_id").to_pylist()
    conv_ids = table.column("conversation_id").to_pylist()
    clusters = table.column("cluster_id").to_pylist()
    sel = H.select(vectors, conv_ids, clusters, n_turns, hopts)
    rec["select_seconds"] = round(time.time() - t1, 3)
    chosen = [
        {"turn_id": ids[i], "conversation_id": conv_ids[i], "cluster_id": clusters[i]}
        for i in sel.chosen
    ]
    rows = (
        _rows(
            spark, turns, convs, chosen, sel, opts_pairs, hopts, {t: i for i, t in enumerate(ids)}
        )
        if chosen
        else []
    )
    ds.write(schema.to_table(rows, schema.HELDOUT), ctx.fingerprint)
    rec.update(
        {
            "budget": sel.budget,
            "clusters": sel.clusters,
            "per_cluster": sel.per_cluster,
            "items": len(rows),
            "clusters_used": len({r["cluster"] for r in rows}),
            "dropped_by_reason": dict(sorted(sel.dropped.items())),
            "not_examined": table.num_rows - len(rows) - sum(sel.dropped.values()),
            "items_by_signal": _count(r["signal"] for r in rows),
            "items_with_pair": sum(r["pair_type"] is not None for r in rows),
        }
    )
    log.info(
        "held-out set: %d items from %d usable feedback turns in %d clusters",
        len(rows),
        table.num_rows,
        sel.clusters,
    )
    return Heldout({r["conversation_id"] for r in rows}, {r["cluster_id"] for r in rows})


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def exclude(cands, held: Heldout, pair_kinds: tuple[str, ...]):
    """Mark candidate pairs and SFT rows (``pair_kinds``) of held-out conversations or near-dup
    clusters with :data:`wfcore.heldout.R_HELDOUT` (rows already rejected keep their reason)."""
    if not held.conversations and not held.clusters:
        return cands
    F = functions(cands)

    hit = F.col("conversation_id").isin(sorted(held.conversations)) | F.col("cluster_id").isin(
        sorted(held.clusters)
    )
    live = F.col("kind").isin(list(pair_kinds)) & F.col("reject_reason").isNull()
    return cands.withColumn(
        "reject_reason", F.when(live & hit, F.lit(H.R_HELDOUT)).otherwise(F.col("reject_reason"))
    )
