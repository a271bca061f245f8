"""Near-dup detection quality of the prepare stage's MinHash-LSH against brute-force exact Jaccard.

Builds a synthetic sample (default 20,000 conversations) with planted near-duplicate families
whose exact Jaccard similarities spread over [0.5, 1.0], runs the job's own Spark near-dedup
(signatures in mapInArrow, band self-join, exact-Jaccard verification of the candidates'
shingle-hash sets, connected components), and compares with every pair whose exact Jaccard of user-turn shingles reaches the
threshold (computed exactly with an inverted index over shingles: pairs sharing no shingle have
Jaccard 0). Prints pair-level and cluster-level precision / recall / F1.

    python benchmarks/dedup_quality.py [--n 20000] [--threshold 0.8] [--num-perm 128]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VOCAB_SIZE = 30_000


def letters(i: int) -> str:
    """``i`` written in base 26 with the digits a-z (0 -> "a", 26 -> "ba"): distinct for distinct ``i``."""
    s = ""
    while True:
        i, r = divmod(i, 26)
        s = chr(97 + r) + s
        if i == 0:
            return s


def _spell(prefix: str, i: int, alpha: bool) -> str:
    return prefix + (letters(i) if alpha else str(i))


class _Words:
    """Zipf-like word stream (numpy-sampled in blocks, deterministic per seed).

    Words are ``w`` + the word's rank, in digits (``w17``) or, with ``alpha``, in letters
    (``wr``): peers whose normalisation maps every digit run to ``0`` (datatrove, text-dedup)
    would otherwise see one word.
    """

    def __init__(self, seed: int, block: int = 1 << 20, alpha: bool = False):
        import numpy as np

        self.np_rng = np.random.default_rng(seed)
        weights = 1.0 / (np.arange(VOCAB_SIZE) + 10.0)
        self.cum = np.cumsum(weights / weights.sum())
        self.vocab = np.array([_spell("w", i, alpha) for i in range(VOCAB_SIZE)], dtype=object)
        self.block, self.buf, self.pos = block, [], 0

    def take(self, k: int) -> list[str]:
        if self.pos + k > len(self.buf):
            idx = np.searchsorted(self.cum, self.np_rng.random(self.block)).clip(0, VOCAB_SIZE - 1)
            self.buf, self.pos = self.vocab[idx].tolist(), 0
        out = self.buf[self.pos : self.pos + k]
        self.pos += k
        return out


def make_corpus(
    n: int, seed: int = 0, near_share: float = 0.15, family_max: int = 3, alpha: bool = False
) -> list[dict]:
    """``n`` conversations; about ``near_share`` of them are planted variants of another one.

    Variants replace well-spaced user words so that their exact Jaccard to the original is
    drawn uniformly from [0.5, 1.0]; chains of variants arise (a variant of a variant).
    Words follow a Zipf-like distribution, so unrelated conversations share common shingles.
    ``alpha`` spells words with letters only (same draws, so the same structure).
    """
    rng = random.Random(seed)
    words = _Words(seed, alpha=alpha)
    convs: list[dict] = []
    i = 0
    while len(convs) < n:
        users = [" ".join(words.take(rng.randint(15, 60))) for _ in range(rng.randint(2, 4))]
        family = [users]
        if rng.random() < near_share / (1 - near_share) / 1.5:
            for _ in range(rng.randint(1, family_max)):
                parent = rng.choice(family)
                family.append(_variant(rng, parent, rng.uniform(0.5, 1.0), alpha=alpha))
        for u in family:
            if len(convs) >= n:
                break
            msgs = []
            for text in u:
                msgs.append({"role": "user", "content": text})
                msgs.append({"role": "assistant", "content": " ".join(words.take(20))})
            convs.append(
                {
                    "conversation_id": f"s{i:08d}",
                    "source": "synthetic",
                    "messages": msgs,
                    "language": "English",
                    "model": "synthetic",
                    "moderation_flagged": False,
                    "toxic": False,
                    "redacted": False,
                }
            )
            i += 1
    rng.shuffle(convs)
    return convs


def _variant(
    rng: random.Random, users: list[str], target: float, k: int = 5, alpha: bool = False
) -> list[str]:
    words = [u.split() for u in users]
    total = sum(len(w) for w in words)
    shingles = max(total - k + 1, 1)
    m = max(0, round(shingles * (1 - target) / (k * (1 + target))))
    flat = [(t, j) for t, w in enumerate(words) for j in range(len(w))]
    for t, j in rng.sample(flat, min(m, len(flat))):
        words[t][j] = _spell("v", rng.randrange(10**9), alpha)
    return [" ".join(w) for w in words]


def exact_pairs(convs: list[dict], threshold: float, k: int) -> tuple[set[tuple[str, str]], int]:
    """All pairs with exact Jaccard >= threshold (inverted index; others share no shingle)."""
    from wfcore import dedup

    sets = [dedup.shingles(dedup.user_text(c["messages"]), k) for c in convs]
    ids = [c["conversation_id"] for c in convs]
    index: dict[str, list[int]] = {}
    for d, s in enumerate(sets):
        for sh in s:
            index.setdefault(sh, []).append(d)
    inter: Counter = Counter()
    for docs in index.values():
        if 1 < len(docs) <= 2000:
            for a, b in itertools.combinations(docs, 2):
                inter[(a, b)] += 1
    truth = set()
    for (a, b), c in inter.items():
        j = c / (len(sets[a]) + len(sets[b]) - c)
        if j >= threshold:
            truth.add(tuple(sorted((ids[a], ids[b]))))
    return truth, len(inter)


def cluster_pairs(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair inside the connected components of ``pairs``."""
    from wfcore.dedup import connected_components

    nodes = sorted({x for p in pairs for x in p})
    pos = {x: i for i, x in enumerate(nodes)}
    roots = connected_components(len(nodes), [(pos[a], pos[b]) for a, b in pairs])
    groups: dict[int, list[str]] = {}
    for x, r in zip(nodes, roots, strict=True):
        groups.setdefault(r, []).append(x)
    return {p for g in groups.values() for p in itertools.combinations(sorted(g), 2)}


def prf(pred: set, truth: set) -> tuple[float, float, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--threshold", type=float, default=None, help="default: the config default")
    ap.add_argument("--num-perm", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from jobs import prepare
    from jobs.spark import get_spark
    from wfcore import dedup
    from wfcore import schema as S
    from wfcore.config import PrepareConfig, SparkConfig
    from wfcore.storage import write_parquet_atomic

    cfg = PrepareConfig(
        spark=SparkConfig(shuffle_partitions=4, conf={"spark.ui.showConsoleProgress": "false"})
    )
    if args.threshold is not None:
        cfg.near_dedup.threshold = args.threshold
    if args.num_perm is not None:
        cfg.near_dedup.num_perm = args.num_perm
    nd = cfg.near_dedup
    t0 = time.time()
    convs = make_corpus(args.n, args.seed)
    t_gen = time.time() - t0
    t0 = time.time()
    truth, sharing = exact_pairs(convs, nd.threshold, nd.shingle_size)
    t_truth = time.time() - t0

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "conversations.parquet")
        write_parquet_atomic(path, S.to_table(convs, S.CONVERSATIONS))
        spark = get_spark(cfg.spark, "dedup-quality")
        t0 = time.time()
        conv = spark.read.parquet(path)
        ann = conv.select(*prepare._FILTER_INPUT).mapInArrow(
            prepare.annotate_batches(cfg.model_dump(mode="json")),
            prepare.spark_ddl(prepare.ANNOTATED),
        )
        edges = prepare.near_duplicate_edges(
            ann.where("reason is null"), nd.threshold
        ).localCheckpoint()
        pred = {(r["a"], r["b"]) for r in edges.select("a", "b").collect()}
        labels, rounds, _ = prepare.connected_components(edges) if pred else (None, 0, 0)
        t_spark = time.time() - t0
        spark.stop()

    bands, rows = dedup.resolve_bands_rows(nd.threshold, nd.num_perm, nd.bands, nd.rows)
    p, r, f = prf(pred, truth)
    cp, cr, cf = prf(cluster_pairs(pred), cluster_pairs(truth))
    print(
        f"sample: {args.n:,} conversations (generated in {t_gen:.1f}s), threshold {nd.threshold}, "
        f"num_perm {nd.num_perm}, bands x rows = {bands} x {rows}, shingle {nd.shingle_size}-grams"
    )
    print(
        f"brute force: {sharing:,} pairs share a shingle, {len(truth):,} pairs with exact Jaccard >= "
        f"{nd.threshold} ({t_truth:.1f}s); Spark near-dedup {t_spark:.1f}s, {rounds} component rounds"
    )
    print()
    print("| level | predicted | true | precision | recall | F1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| pairs (verified LSH edges) | {len(pred):,} | {len(truth):,} | {p:.4f} | {r:.4f} | {f:.4f} |"
    )
    cpred, ctruth = cluster_pairs(pred), cluster_pairs(truth)
    print(
        f"| clusters (pairs within a component) | {len(cpred):,} | {len(ctruth):,} | {cp:.4f} | {cr:.4f} | {cf:.4f} |"
    )
    print()
    print(
        "S-curve: P(candidate) at J=0.6/0.7/0.8/0.9 = "
        + "/".join(
            f"{dedup.candidate_probability(s, bands, rows):.3f}" for s in (0.6, 0.7, 0.8, 0.9)
        )
    )
    print(
        f"candidates are verified with the exact Jaccard of their shingle-hash sets; the MinHash estimate "
        f"(s.d. {math.sqrt(nd.threshold * (1 - nd.threshold) / nd.num_perm):.3f} at the threshold) only drives banding, "
        f"so recall is bounded by the S-curve and misses come from LSH, not from verification"
    )


if __name__ == "__main__":
    main()
