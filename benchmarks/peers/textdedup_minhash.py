"""text-dedup's MinHash (``text_dedup.minhash.main``) on the same files (run by benchmarks/dedup_peers.py).

Runs in the separate Python 3.12 environment that dedup_peers.py creates (text-dedup 0.4.1
requires Python >= 3.12; it is not a project dependency); imports nothing from this project.
text-dedup reads its configuration from a TOML file only, so this writes one: the Parquet files
of ``--input`` (columns ``id``, ``text``), MinHash with the given permutations, bands x rows,
n-gram size and threshold, candidates verified with the exact Jaccard
(``check_false_positive``). Runs the steps of ``text_dedup.minhash.main`` up to the verified
clusters (load, MinHash, cluster, verify; not the final filter and save). Prints one JSON line:
seconds per step and (after the timed part) the path of an ``id -> cluster`` file.

    python textdedup_minhash.py --input DIR --work DIR --workers 2 --n-grams 5 --num-perm 128 --bands 16 --rows 8 --threshold 0.8
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-grams", type=int, default=5)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--bands", type=int, default=16)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(args.work, "hf-cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import pyarrow.parquet as pq
    from text_dedup import minhash
    from text_dedup.config.base import load_config_from_toml

    files = sorted(glob.glob(os.path.join(args.input, "*.parquet")))
    out_dir = os.path.join(args.work, "output")
    toml = os.path.join(args.work, "config.toml")
    with open(toml, "w") as f:
        f.write(
            '[input]\ninput_type = "local_files"\nfile_type = "parquet"\n'
            '[input.read_arguments]\npath = "parquet"\nsplit = "train"\n'
            f"data_files = {json.dumps(files)}\n"
            '[algorithm]\nalgorithm_name = "minhash"\ntext_column = "text"\n'
            f"num_perm = {args.num_perm}\nbands = {args.bands}\nrows = {args.rows}\n"
            f"ngram_size = {args.n_grams}\nthreshold = {args.threshold}\nseed = {args.seed}\n"
            f"num_proc = {args.workers}\ncheck_false_positive = true\n"
            f"[output]\noutput_dir = {json.dumps(out_dir)}\nsave_clusters = true\n"
            "[debug]\nlogging_level = 20\n"
        )
    config = load_config_from_toml(toml)
    # text_dedup.minhash.main's steps, timed one by one, up to the verified clusters; its last two
    # steps (filter the duplicates out, save the dataset) are left out: the other tools are timed
    # to their drop list too
    seconds = {}
    t = time.perf_counter()
    ds, _, _ = minhash.load_and_preprocess(config)
    seconds["load"], t = time.perf_counter() - t, time.perf_counter()
    embedded = minhash.fingerprint(config, ds)
    seconds["minhash"], t = time.perf_counter() - t, time.perf_counter()
    assignment = minhash.cluster(config, embedded)
    ds = minhash.assign(config, ds, assignment)
    seconds["cluster"], t = time.perf_counter() - t, time.perf_counter()
    ds, parents = minhash.check_false_positives(config, ds)
    seconds["verify"] = time.perf_counter() - t

    # not timed: text-dedup's clusters (row index -> cluster row index) back to ids
    ids: list[str] = []
    for path in files:
        ids.extend(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    clusters = {ids[int(i)]: int(c) for i, c in parents.items()}
    out = os.path.join(args.work, "clusters.json")
    with open(out, "w") as f:
        json.dump(clusters, f)
    print(json.dumps({"seconds": seconds, "docs": len(ids), "clusters_file": out}))


if __name__ == "__main__":
    main()
