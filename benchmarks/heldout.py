"""Held-out set: embedding throughput and the k-means choice, on a finished run's feedback turns.

    python benchmarks/heldout.py --run runs/demo [--repeat 2] [--spark]

Prints (1) the usable items of the run (the same item rules as assemble), (2) embedding
throughput on CPU: in one process (`wfcore.embed.SentenceEmbedder`), and through the Ray Data
actor pool assemble uses (with and without Ray start-up and model load), (3) the same vectors
clustered with `wfcore.heldout.kmeans` (numpy) and, with --spark, Spark MLlib KMeans: seconds,
inertia and whether two runs give the same labels, (4) the selection itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs.heldout import _item  # noqa: E402
from wfcore import heldout as H  # noqa: E402
from wfcore import schema  # noqa: E402
from wfcore.config import Config  # noqa: E402
from wfcore.run import RunDir  # noqa: E402


def load_items(run: str, hopts: H.HeldoutOptions) -> tuple[list[dict], dict[str, int]]:
    rd = RunDir(run)
    turns = {t["turn_id"]: t for t in rd.table("turns").read(schema.TURNS).to_pylist()}
    prefs = {}
    if rd.table("preferences").is_committed():
        for p in rd.table("preferences").read(schema.PREFERENCES).to_pylist():
            if p["error"] is None and p["preferences"]:
                prefs[p["turn_id"]] = p["preferences"]
    items, unusable = [], {}
    for f in rd.table("feedback").read(schema.FEEDBACK).to_pylist():
        if f["error"] is not None or not (f["sat"] or f["dsat"]):
            continue
        t = dict(
            turns[f["turn_id"]],
            **{k: f[k] for k in ("sat", "dsat", "sat_categories", "dsat_categories")},
        )
        t["preferences"] = prefs.get(f["turn_id"])
        it = _item(t, hopts)
        if it["unusable"]:
            unusable[it["unusable"]] = unusable.get(it["unusable"], 0) + 1
            continue
        items.append(
            {
                "turn_id": t["turn_id"],
                "conversation_id": t["conversation_id"],
                "cluster_id": t["cluster_id"] or t["conversation_id"],
                "text": it["text"],
            }
        )
    items.sort(key=lambda r: r["turn_id"])
    return items, unusable


def embed_local(texts: list[str], batch_size: int) -> tuple[np.ndarray, float, float]:
    from wfcore.embed import SentenceEmbedder

    t0 = time.time()
    e = SentenceEmbedder(batch_size=batch_size, num_threads=1)
    load = time.time() - t0
    t0 = time.time()
    v = e.encode(texts)
    return v, load, time.time() - t0


def embed_ray(items: list[dict], cfg) -> tuple[np.ndarray, float, float]:
    """End to end (ray.init, actor start, model load, embedding) and the second pass only."""
    import pyarrow as pa
    import ray

    from jobs.heldout import embed
    from jobs.rayrt import init_ray

    table = pa.Table.from_pylist([{"turn_id": r["turn_id"], "text": r["text"]} for r in items])
    t0 = time.time()
    v, _ = embed(table, cfg.assemble.heldout, cfg.ray)  # starts and stops Ray itself
    total = time.time() - t0
    init_ray(cfg.ray)
    try:
        embed(
            table, cfg.assemble.heldout, cfg.ray
        )  # warm Ray runtime; the actor and model still load
        t0 = time.time()
        embed(table, cfg.assemble.heldout, cfg.ray)
        warm = time.time() - t0
    finally:
        ray.shutdown()
    return v, total, warm


def kmeans_spark(v: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float, float]:
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.linalg import Vectors

    from jobs.spark import get_spark

    spark = get_spark(
        Config().prepare.spark.model_copy(update={"master": "local[2]", "shuffle_partitions": 2})
    )
    df = spark.createDataFrame(
        [(i, Vectors.dense(row.tolist())) for i, row in enumerate(v)], ["i", "features"]
    )
    df = df.repartition(2, "i").sortWithinPartitions("i").cache()
    df.count()
    t0 = time.time()
    model = KMeans(k=k, seed=seed, maxIter=50, tol=1e-6).fit(df)
    labels = np.array(
        [r["prediction"] for r in model.transform(df).orderBy("i").select("prediction").collect()]
    )
    secs = time.time() - t0
    centers = np.array(model.clusterCenters())
    inertia = float(((v - centers[labels]) ** 2).sum())
    return labels, secs, inertia


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument(
        "--spark", action="store_true", help="also time Spark MLlib KMeans on the same vectors"
    )
    ap.add_argument("--ray", action="store_true", help="also time the Ray Data actor-pool path")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = Config(run=args.run)
    hopts = H.HeldoutOptions.from_config(cfg.assemble.heldout, cfg.assemble.max_prompt_chars)
    items, unusable = load_items(args.run, hopts)
    n_feedback = len(items) + sum(unusable.values())
    print(
        f"run {args.run}: {n_feedback:,} feedback turns, {len(items):,} usable, unusable {unusable}"
    )
    texts = [r["text"] for r in items]
    v, load, secs = embed_local(texts, cfg.assemble.heldout.embed.batch_size)
    print(
        "\n| embedding (CPU, 1 torch thread) | items | seconds | items/s |\n| --- | ---: | ---: | ---: |"
    )
    print(f"| in process, model load | | {load:.1f} | |")
    print(f"| in process, encode | {len(texts):,} | {secs:.1f} | {len(texts) / secs:.0f} |")
    if args.ray:
        vr, total, warm = embed_ray(items, cfg)
        print(
            f"| Ray Data actor pool, end to end (ray.init, actor, model load) | {len(texts):,} | {total:.1f} | {len(texts) / total:.0f} |"
        )
        print(
            f"| Ray Data actor pool, Ray running (actor start + model load + encode) | {len(texts):,} | {warm:.1f} | {len(texts) / warm:.0f} |"
        )
        print(f"max |ray - in process| = {float(np.abs(vr - v).max()):.2e}")
    budget, k, per = H.item_budget(n_feedback, len(items), hopts)
    print(f"\nbudget {budget} items, k = {k}, {per} per cluster")
    x = v.astype(np.float64)
    t0 = time.time()
    c1, l1 = H.kmeans(x, k, seed=0)
    t_np = time.time() - t0
    _, l2 = H.kmeans(x, k, seed=0)
    inertia = float(((x - c1[l1]) ** 2).sum())
    print("\n| k-means | seconds | inertia | same labels on rerun |\n| --- | ---: | ---: | --- |")
    print(
        f"| numpy (wfcore.heldout.kmeans) | {t_np:.2f} | {inertia:.1f} | {bool(np.array_equal(l1, l2))} |"
    )
    if args.spark:
        s1, ts, si = kmeans_spark(x, k, 0)
        s2, _, _ = kmeans_spark(x, k, 0)
        print(
            f"| Spark MLlib KMeans (local[2]) | {ts:.2f} | {si:.1f} | {bool(np.array_equal(s1, s2))} |"
        )
    sel = H.select(
        v,
        [r["conversation_id"] for r in items],
        [r["cluster_id"] for r in items],
        n_feedback,
        hopts,
    )
    print(
        f"\nselected {len(sel.chosen)} items from {len(set(sel.cluster.values()))} clusters; dropped {sel.dropped}"
    )


if __name__ == "__main__":
    main()
