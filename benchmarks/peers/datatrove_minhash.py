"""datatrove's MinHash dedup with its own pipeline blocks (run by benchmarks/dedup_peers.py).

Runs in the separate environment that dedup_peers.py creates (datatrove is not a project
dependency); imports nothing from this project. The four stages are datatrove's
``MinhashDedupSignature`` / ``MinhashDedupBuckets`` / ``MinhashDedupCluster`` /
``MinhashDedupFilter`` on ``LocalPipelineExecutor``s, reading the Parquet files of ``--input``
(columns ``id``, ``text``) and writing the kept and the removed documents as JSONL with
datatrove's ``minhash_cluster_id`` metadata. Prints one JSON line: seconds per stage, then
(after the timed part) the path of an ``id -> cluster`` file built from those outputs.

    python datatrove_minhash.py --input DIR --work DIR --workers 2 --n-grams 5 --buckets 16 --rows 8
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.word_tokenizers import WordTokenizer


class SplitTokenizer(WordTokenizer):
    """Whitespace split (datatrove's text simplification has already removed punctuation).

    datatrove's own English tokenizer is spaCy's; its ``WhitespaceTokenizer`` is spaCy's
    multilingual one. This one is the cheapest tokenizer that datatrove accepts
    (``language=`` takes a ``WordTokenizer``), so the datatrove row with it is its best case.
    """

    def __init__(self):
        super().__init__("split")

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="folder of Parquet files with columns id, text")
    ap.add_argument("--work", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-grams", type=int, default=5)
    ap.add_argument("--buckets", type=int, default=16)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tokenizer", choices=["default", "split"], default="default")
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.input, "*.parquet")))
    cfg = MinhashConfig(
        n_grams=args.n_grams, num_buckets=args.buckets, hashes_per_bucket=args.rows, seed=args.seed
    )
    language = SplitTokenizer() if args.tokenizer == "split" else "en"
    w = args.work
    logs = os.path.join(w, "logs")

    def reader() -> ParquetReader:
        return ParquetReader(args.input, text_key="text", id_key="id", glob_pattern="*.parquet")

    stages = {
        "signatures": LocalPipelineExecutor(
            pipeline=[
                reader(),
                MinhashDedupSignature(output_folder=f"{w}/sigs", config=cfg, language=language),
            ],
            tasks=len(files),
            workers=args.workers,
            logging_dir=f"{logs}/1",
        ),
        "buckets": LocalPipelineExecutor(
            pipeline=[
                MinhashDedupBuckets(
                    input_folder=f"{w}/sigs", output_folder=f"{w}/buckets", config=cfg
                )
            ],
            tasks=cfg.num_buckets,
            workers=args.workers,
            logging_dir=f"{logs}/2",
        ),
        "cluster": LocalPipelineExecutor(
            pipeline=[
                MinhashDedupCluster(
                    input_folder=f"{w}/buckets",
                    output_folder=f"{w}/remove_ids",
                    config=cfg,
                    save_cluster_id=True,
                )
            ],
            tasks=1,
            logging_dir=f"{logs}/3",
        ),
        "filter": LocalPipelineExecutor(
            pipeline=[
                reader(),
                MinhashDedupFilter(
                    input_folder=f"{w}/remove_ids",
                    exclusion_writer=JsonlWriter(f"{w}/removed"),
                    load_cluster_ids=True,
                ),
                JsonlWriter(f"{w}/kept"),
            ],
            tasks=len(files),
            workers=args.workers,
            logging_dir=f"{logs}/4",
        ),
    }
    seconds = {}
    for name, ex in stages.items():
        t0 = time.perf_counter()
        ex.run()
        seconds[name] = time.perf_counter() - t0

    # not timed: read datatrove's outputs back into id -> cluster for the benchmark's scoring
    clusters, docs = {}, 0
    for path in glob.glob(f"{w}/kept/*.jsonl.gz") + glob.glob(f"{w}/removed/*.jsonl.gz"):
        with gzip.open(path, "rt") as f:
            for line in f:
                d = json.loads(line)
                docs += 1
                c = d.get("metadata", {}).get("minhash_cluster_id", -1)
                if c != -1:
                    clusters[d["id"]] = c
    out = os.path.join(w, "clusters.json")
    with open(out, "w") as f:
        json.dump(clusters, f)
    print(
        json.dumps(
            {"seconds": seconds, "docs": docs, "clusters_file": out, "tasks_signatures": len(files)}
        )
    )


if __name__ == "__main__":
    main()
