"""Near-dedup against peers in one run: prepare's MinHash-LSH beside datatrove's (and text-dedup's).

One synthetic corpus per size (the dedup_quality generator: Zipf-like words spelled with
letters, planted near-duplicate families whose exact Jaccard spreads over [0.5, 1.0]) is
written twice, as a run's ``conversations`` table and as Parquet files of ``id, text`` (the
user turns that near dedup compares, ``wfcore.dedup.user_text``), with the same number of files.
Then, on the same machine and cores (``--cores``):

- **wildfeedback near-dedup**: prepare's own code path in Spark ``local[cores]``: the annotate
  ``mapInArrow`` (which also computes the filters and exact fingerprints, as in prepare), the
  band self-join with exact-Jaccard verification, connected components
  (``jobs.prepare.annotate_batches`` / ``near_duplicate_edges`` / ``connected_components``),
  up to the collected drop list. Spark start-up is excluded (printed apart).
- **wildfeedback whole prepare** (unless ``--skip-prepare``): ``jobs.prepare.prepare`` on the run,
  every phase (filters, exact + near dedup, PII scrub, turns, sharded writes); more work than
  the peers do, shown for context with its near-dedup phases.
- **datatrove** 0.10.1 MinHash with its own four pipeline blocks on ``LocalPipelineExecutor``
  (``benchmarks/peers/datatrove_minhash.py``), in a virtualenv this script creates under
  ``--venvs`` (never in the project's environment), once with datatrove's English tokenizer
  (spaCy) and once with a whitespace-split tokenizer (its cheapest: the reference for ratios).
- **text-dedup** 0.4.1 MinHash (``benchmarks/peers/textdedup_minhash.py``) in a Python 3.12
  virtualenv (0.4.1 requires Python >= 3.12), when such an interpreter exists.

Equal parameters: word ``--shingle-size``-grams, ``--num-perm`` permutations cut into the same
bands x rows (prepare's choice for the threshold unless given), the same threshold. Quality is
scored against brute force: the exact Jaccard of every pair of conversations that share a
shingle (all other pairs have Jaccard 0, so this covers all pairs), over this project's
shingles held as 64-bit hashes; truth clusters are the connected components of the pairs at or
above the threshold. Each tool is scored on the pairs it puts in one cluster (datatrove writes
bucket-neighbour pairs, not all candidate pairs, so clusters are the level every tool shares);
wildfeedback's verified edges are also scored against the true pairs.

    python benchmarks/dedup_peers.py [--sizes 100000] [--cores 2] [--peers datatrove,datatrove-split,text-dedup]
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from dedup_quality import prf  # noqa: E402  (benchmarks/ on the path above)

PART_ROWS = 50_000
DATATROVE_REQS = [
    "datatrove==0.10.1",
    "xxhash==3.8.2",
    "regex==2026.11.19",
    "orjson==3.13.0",
    "pyarrow==26.0.1",
    "spacy==3.8.18",  # datatrove's English word tokenizer
    "tokenizers==0.23.3",  # imported by datatrove.pipeline.dedup's package __init__
]
TEXTDEDUP_REQS = ["text-dedup==0.4.1"]


# ---------------------------------------------------------------- peer environments


def find_python312() -> str | None:
    """A Python >= 3.12 interpreter for text-dedup 0.4.1 (on PATH or under pyenv), or None."""
    cands = [shutil.which(c) for c in ("python3.13", "python3.12")]
    cands += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python")))
    for p in filter(None, cands):
        ok = subprocess.run(
            [p, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True
        )
        if ok.returncode == 0:
            return p
    return None


def ensure_venv(path: str, python: str, reqs: list[str]) -> str:
    """A virtualenv at ``path`` with exactly ``reqs`` installed (reused when its marker matches)."""
    marker = os.path.join(path, "bench-requirements.txt")
    want = "\n".join(reqs) + "\n"
    py = os.path.join(path, "bin", "python")
    if os.path.exists(py) and os.path.exists(marker) and open(marker).read() == want:
        return py
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.time()
    subprocess.run([python, "-m", "venv", path], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", *reqs], check=True)
    with open(marker, "w") as f:
        f.write(want)
    print(f"created {path} ({' '.join(reqs)}) in {time.time() - t0:.0f}s", flush=True)
    return py


def run_peer(py: str, script: str, args: list[str], log_path: str) -> tuple[dict, float]:
    """Run a peer script in its venv; its JSON result line and the subprocess wall seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(
            [py, os.path.join(HERE, "peers", script), *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}); see {log_path}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


# ---------------------------------------------------------------- corpus


def write_corpus(tmp: str, n: int, cores: int) -> tuple[str, list[str], list[str], float]:
    """Commit ``n`` conversations as a run's table and write the peers' ``id, text`` files.

    Returns the run dir, the ids, the user texts (what near dedup compares), generation seconds.
    Both sides get the same number of files (at least ``cores``, at most ``PART_ROWS`` rows
    each), so each tool's first stage can use every core.
    """
    import pyarrow as pa
    from dedup_quality import make_corpus

    from wfcore import dedup
    from wfcore import schema as S
    from wfcore.run import RunDir
    from wfcore.storage import write_parquet_atomic

    t0 = time.time()
    run_dir = os.path.join(tmp, "run")
    peer_dir = os.path.join(tmp, "peer-input")
    os.makedirs(peer_dir)
    ds = RunDir(run_dir).table("conversations")
    attempt = ds.new_attempt()
    n_files = max(cores, math.ceil(n / PART_ROWS))
    per_file = math.ceil(n / n_files)
    files, ids, texts = [], [], []
    for k, start in enumerate(range(0, n, per_file)):
        convs = make_corpus(min(per_file, n - start), seed=k, alpha=True)
        for c in convs:
            c["conversation_id"] = f"p{k:04d}-{c['conversation_id']}"
        rel = f"{attempt}/part-{k:05d}.parquet"
        write_parquet_atomic(os.path.join(ds.uri, rel), S.to_table(convs, S.CONVERSATIONS))
        files.append(rel)
        part_ids = [c["conversation_id"] for c in convs]
        part_texts = [dedup.user_text(c["messages"]) for c in convs]
        write_parquet_atomic(
            os.path.join(peer_dir, f"part-{k:05d}.parquet"),
            pa.table({"id": part_ids, "text": part_texts}),
        )
        ids.extend(part_ids)
        texts.extend(part_texts)
    ds.commit(files, n)
    return run_dir, ids, texts, time.time() - t0


# ---------------------------------------------------------------- brute-force truth


def shingle_hashes64(text: str, k: int) -> np.ndarray:
    """Unique 64-bit hashes of this project's word ``k``-grams of ``text`` (``wfcore.dedup.shingles``).

    Words are hashed with xxh64 and mixed with bijective steps, so two different k-grams share a
    hash only by a 64-bit coincidence (expected collisions among 10^8 shingles: ~3e-4).
    """
    import xxhash

    from wfcore import dedup

    w = dedup.words(dedup.normalise(text))
    if not w:
        return np.empty(0, dtype=np.uint64)
    wh = np.fromiter(
        (xxhash.xxh64_intdigest(t.encode("utf-8")) for t in w), dtype=np.uint64, count=len(w)
    )
    n = max(len(w) - k + 1, 1)
    h = np.full(n, np.uint64(0x9E3779B97F4A7C15))
    with np.errstate(over="ignore"):
        for j in range(min(k, len(w))):
            h = (h ^ wh[j : j + n]) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    return np.unique(h)


def true_pairs(texts: list[str], k: int, threshold: float) -> tuple[np.ndarray, int]:
    """Index pairs (a < b) with exact Jaccard >= threshold, and the number of pairs sharing a shingle.

    Inverted index in numpy: (shingle, doc) rows sorted by shingle; every group of docs sharing a
    shingle yields its pairs; a pair's count of shared shingles is its intersection.
    """
    sets = [shingle_hashes64(t, k) for t in texts]
    sizes = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    h = np.concatenate(sets) if sets else np.empty(0, np.uint64)
    d = np.repeat(np.arange(len(sets), dtype=np.int64), sizes)
    del sets
    order = np.argsort(h, kind="stable")
    h, d = h[order], d[order]
    del order
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    glen = np.diff(np.r_[starts, len(h)])
    keys = []
    n = np.int64(len(texts))
    for g in np.unique(glen[glen > 1]):
        s = starts[glen == g]
        members = d[
            s[:, None] + np.arange(g)
        ]  # (groups, g); docs within a group are ascending (stable sort)
        for i, j in itertools.combinations(range(int(g)), 2):
            keys.append(members[:, i] * n + members[:, j])
    if not keys:
        return np.empty((0, 2), np.int64), 0
    pair_keys, inter = np.unique(np.concatenate(keys), return_counts=True)
    a, b = pair_keys // n, pair_keys % n
    jac = inter / (sizes[a] + sizes[b] - inter)
    keep = jac >= threshold
    return np.stack([a[keep], b[keep]], axis=1), len(pair_keys)


# ---------------------------------------------------------------- scoring


def components(pairs) -> dict:
    """node -> smallest member of its connected component (``wfcore.dedup.connected_components``)."""
    from wfcore.dedup import connected_components

    nodes = sorted({x for p in pairs for x in p})
    pos = {x: i for i, x in enumerate(nodes)}
    roots = connected_components(len(nodes), [(pos[a], pos[b]) for a, b in pairs])
    return {x: nodes[r] for x, r in zip(nodes, roots, strict=True)}


def cluster_pairs(labels: dict) -> set:
    """Every pair (a < b) of nodes with the same label."""
    groups: dict = {}
    for x, c in labels.items():
        groups.setdefault(c, []).append(x)
    return {p for g in groups.values() if len(g) > 1 for p in itertools.combinations(sorted(g), 2)}


def dropped_count(labels: dict) -> int:
    """Conversations a tool drops: cluster members minus one kept per cluster."""
    groups: dict = {}
    for x, c in labels.items():
        groups.setdefault(c, set()).add(x)
    return sum(len(g) - 1 for g in groups.values())


# ---------------------------------------------------------------- wildfeedback


def prepare_config(cores: int, n: int, args):
    from wfcore.config import PrepareConfig, SparkConfig

    cfg = PrepareConfig(
        spark=SparkConfig(
            master=f"local[{cores}]",
            shuffle_partitions=max(4, min(400, n // 25_000)),
            conf={"spark.ui.showConsoleProgress": "false"},
        )
    )
    if args.threshold is not None:
        cfg.near_dedup.threshold = args.threshold
    if args.num_perm is not None:
        cfg.near_dedup.num_perm = args.num_perm
    if args.shingle_size is not None:
        cfg.near_dedup.shingle_size = args.shingle_size
    if args.bands and args.rows:
        cfg.near_dedup.bands, cfg.near_dedup.rows = args.bands, args.rows
    return cfg


def run_ours(run_dir: str, cfg) -> dict:
    """prepare's near-dedup code path (annotate, verified band join, components) to the drop list."""
    from jobs import prepare
    from jobs.spark import get_spark
    from wfcore import schema as S
    from wfcore.run import RunDir

    t0 = time.perf_counter()
    spark = get_spark(cfg.spark, "dedup-peers")
    spark.range(1).count()
    startup = time.perf_counter() - t0
    paths = RunDir(run_dir).table("conversations").files()
    nd = cfg.near_dedup
    phases = {}
    t0 = t = time.perf_counter()
    conv = spark.read.schema(prepare.spark_ddl(S.CONVERSATIONS)).parquet(*paths)
    ann = (
        conv.select(*prepare._FILTER_INPUT)
        .mapInArrow(
            prepare.annotate_batches(cfg.model_dump(mode="json")),
            prepare.spark_ddl(prepare.ANNOTATED),
        )
        .localCheckpoint()
    )
    n_ann = ann.count()
    phases["annotate"], t = time.perf_counter() - t, time.perf_counter()
    edges = prepare.near_duplicate_edges(
        ann.where("reason is null"), nd.threshold
    ).localCheckpoint()
    n_edges = edges.count()
    phases["edges"], t = time.perf_counter() - t, time.perf_counter()
    labels = {}
    rounds = 0
    if n_edges:
        lab, rounds, _ = prepare.connected_components(edges)
        labels = {r["id"]: r["label"] for r in lab.collect()}
    phases["components"] = time.perf_counter() - t
    wall = time.perf_counter() - t0
    edge_pairs = {
        (r["a"], r["b"]) for r in edges.select("a", "b").collect()
    }  # not timed: for scoring
    spark.stop()
    return {
        "wall": wall,
        "phases": phases,
        "startup": startup,
        "labels": labels,
        "edges": edge_pairs,
        "rows": n_ann,
        "rounds": rounds,
    }


def run_whole_prepare(run_dir: str, cfg) -> dict:
    """The whole prepare stage on the run; clusters read back from its ``dropped`` table."""
    import pyarrow.compute as pc

    from jobs import prepare
    from jobs.spark import get_spark
    from wfcore.run import RunDir

    spark = get_spark(cfg.spark, "dedup-peers-prepare")
    spark.range(1).count()
    rd = RunDir(run_dir)
    out = {t: rd.table(t) for t in ("prepared", "dropped", "turns")}
    t0 = time.perf_counter()
    res = prepare.prepare(spark, rd.table("conversations").files(), cfg, out, "bench")
    wall = time.perf_counter() - t0
    spark.stop()
    dropped = out["dropped"].read(columns=["conversation_id", "reason", "kept_as"])
    near = dropped.filter(pc.equal(dropped.column("reason"), "near_duplicate"))
    labels = dict(
        zip(
            near.column("conversation_id").to_pylist(),
            near.column("kept_as").to_pylist(),
            strict=True,
        )
    )
    for rep in set(labels.values()):
        labels[rep] = rep
    return {"wall": wall, "phases": res["phase_seconds"], "labels": labels, "res": res}


# ---------------------------------------------------------------- main


def load_note(before: float) -> str:
    return (
        f"; load average {before:.1f} -> {os.getloadavg()[0]:.1f} (machine shared with other jobs)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000", help="comma-separated corpus sizes")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores for every tool")
    ap.add_argument("--peers", default="datatrove,datatrove-split,text-dedup")
    ap.add_argument(
        "--skip-prepare", action="store_true", help="do not run the whole prepare stage"
    )
    ap.add_argument("--threshold", type=float, default=None, help="default: the config default")
    ap.add_argument("--num-perm", type=int, default=None)
    ap.add_argument("--shingle-size", type=int, default=None)
    ap.add_argument("--bands", type=int, default=None)
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument(
        "--venvs",
        default=os.path.join(ROOT, ".bench-venvs"),
        help="where the peers' virtualenvs live",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    peers = [p for p in args.peers.split(",") if p]

    from wfcore import dedup

    cfg0 = prepare_config(args.cores, sizes[0], args)
    nd = cfg0.near_dedup
    bands, rows = dedup.resolve_bands_rows(nd.threshold, nd.num_perm, nd.bands, nd.rows)
    k, t, seed = nd.shingle_size, nd.threshold, nd.seed
    notes = []

    envs = {}
    if any(p.startswith("datatrove") for p in peers):
        envs["datatrove"] = ensure_venv(
            os.path.join(args.venvs, "datatrove"), sys.executable, DATATROVE_REQS
        )
    if "text-dedup" in peers:
        py312 = find_python312()
        if py312 is None:
            peers.remove("text-dedup")
            notes.append(
                "text-dedup not run: 0.4.1 requires Python >= 3.12 and none was found on this machine"
            )
        else:
            try:
                envs["text-dedup"] = ensure_venv(
                    os.path.join(args.venvs, "textdedup"), py312, TEXTDEDUP_REQS
                )
            except subprocess.CalledProcessError as e:
                peers.remove("text-dedup")
                notes.append(f"text-dedup not run: its install failed ({e})")

    print(
        f"parameters: word {k}-grams, {nd.num_perm} permutations = {bands} bands x {rows} rows, threshold {t}, "
        f"seed {seed}; {args.cores} cores for every tool (machine: {os.cpu_count()})",
        flush=True,
    )
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("WF_BENCH_TMP")) as tmp:
            run_dir, ids, texts, t_gen = write_corpus(tmp, n, args.cores)
            t0 = time.time()
            tp, sharing = true_pairs(texts, k, t)
            truth_edges = {(ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]) for a, b in tp}
            truth_labels = components(truth_edges)
            truth_clusters = cluster_pairs(truth_labels)
            truth_dropped = dropped_count(truth_labels)
            t_truth = time.time() - t0
            del texts
            print(
                f"n={n:,}: generated in {t_gen:.0f}s; brute force {t_truth:.0f}s: {sharing:,} pairs share a shingle, "
                f"{len(truth_edges):,} have Jaccard >= {t}, {len(truth_clusters):,} pairs in true clusters, "
                f"{truth_dropped:,} conversations to drop",
                flush=True,
            )
            cfg = prepare_config(args.cores, n, args)
            rows_out = []

            l0 = os.getloadavg()[0]
            ours = run_ours(run_dir, cfg)
            ep, er, ef = prf(ours["edges"], truth_edges)
            rows_out.append(
                (
                    "wildfeedback near-dedup (prepare's code path)",
                    ours["wall"],
                    ours["labels"],
                    f"annotate {ours['phases']['annotate']:.1f} s (MinHash + filters + fingerprints), "
                    f"band join + verification {ours['phases']['edges']:.1f} s, "
                    f"components {ours['phases']['components']:.1f} s ({ours['rounds']} rounds); "
                    f"Spark start-up {ours['startup']:.1f} s not counted; verified edges vs true pairs: "
                    f"P {ep:.4f} R {er:.4f} F1 {ef:.4f}" + load_note(l0),
                )
            )
            print(f"  wildfeedback near-dedup {ours['wall']:.1f}s {ours['phases']}", flush=True)
            if not args.skip_prepare:
                l0 = os.getloadavg()[0]
                whole = run_whole_prepare(run_dir, cfg)
                ph = whole["phases"]
                rows_out.append(
                    (
                        "wildfeedback whole prepare (all phases; more work)",
                        whole["wall"],
                        whole["labels"],
                        "phases "
                        + ", ".join(f"{p} {s:.1f}" for p, s in ph.items())
                        + f" s; near-dedup inside it (annotate + near_dedup) "
                        f"{ph.get('annotate', 0) + ph.get('near_dedup', 0):.1f} s" + load_note(l0),
                    )
                )
                print(f"  whole prepare {whole['wall']:.1f}s {ph}", flush=True)
            peer_args = [
                "--input",
                os.path.join(tmp, "peer-input"),
                "--workers",
                str(args.cores),
                "--n-grams",
                str(k),
                "--rows",
                str(rows),
                "--seed",
                str(seed),
            ]
            for peer in peers:
                work = os.path.join(tmp, f"work-{peer}")
                os.makedirs(work)
                l0 = os.getloadavg()[0]
                if peer.startswith("datatrove"):
                    tok = "split" if peer == "datatrove-split" else "default"
                    res, sub_wall = run_peer(
                        envs["datatrove"],
                        "datatrove_minhash.py",
                        [*peer_args, "--work", work, "--buckets", str(bands), "--tokenizer", tok],
                        os.path.join(tmp, f"{peer}.log"),
                    )
                    s = res["seconds"]
                    wall = s["signatures"] + s["buckets"] + s["cluster"]
                    name = (
                        "datatrove 0.10.1 MinHash, spaCy English tokenizer (its default)"
                        if tok == "default"
                        else "datatrove 0.10.1 MinHash, whitespace-split tokenizer"
                    )
                    detail = (
                        ", ".join(f"{p} {v:.1f}" for p, v in s.items())
                        + f" s; wall = stages 1-3 (signatures, buckets, clusters); stage 4 (filter + write) "
                        f"{s['filter']:.1f} s not counted; subprocess {sub_wall:.1f} s"
                    )
                else:
                    res, sub_wall = run_peer(
                        envs["text-dedup"],
                        "textdedup_minhash.py",
                        [
                            *peer_args,
                            "--work",
                            work,
                            "--bands",
                            str(bands),
                            "--num-perm",
                            str(nd.num_perm),
                            "--threshold",
                            str(t),
                        ],
                        os.path.join(tmp, f"{peer}.log"),
                    )
                    wall = sum(res["seconds"].values())
                    name = "text-dedup 0.4.1 MinHash (exact-Jaccard check of candidates on)"
                    detail = (
                        ", ".join(f"{p} {v:.1f}" for p, v in res["seconds"].items())
                        + f" s (text_dedup.minhash.main's steps to the verified clusters; its filter + save "
                        f"not counted); subprocess {sub_wall:.1f} s"
                    )
                if res["docs"] != n:
                    raise RuntimeError(f"{peer} wrote {res['docs']} documents, expected {n}")
                with open(res["clusters_file"]) as f:
                    labels = json.load(f)
                rows_out.append((name, wall, labels, detail + load_note(l0)))
                print(f"  {peer} {wall:.1f}s {res['seconds']}", flush=True)
            results.append((n, rows_out, truth_clusters, truth_dropped))

    print()
    print(
        f"Near dedup, {args.cores} cores each; word {k}-grams, {nd.num_perm} permutations, {bands} x {rows} bands, "
        f"threshold {t}. Pair scores: pairs placed in one cluster vs pairs in one true cluster (exact Jaccard, "
        f"brute force over every pair sharing a shingle)"
    )
    print()
    print(
        "| tool | conversations | wall s | conversations/s | ratio to datatrove | dropped (true) | "
        "pair precision | pair recall | pair F1 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, rows_out, truth_clusters, truth_dropped in results:
        ref = [w for name, w, _, _ in rows_out if name.startswith("datatrove")]
        ref_rate = n / min(ref) if ref else None
        for name, wall, labels, _ in rows_out:
            p, r, f = prf(cluster_pairs(labels), truth_clusters)
            rate = n / wall
            ratio = f"{rate / ref_rate:.2f}x" if ref_rate else "-"
            print(
                f"| {name} | {n:,} | {wall:.1f} | {rate:,.0f} | {ratio} | {dropped_count(labels):,} "
                f"({truth_dropped:,}) | {p:.4f} | {r:.4f} | {f:.4f} |"
            )
    print()
    print("ratio to datatrove = conversations/s over the faster datatrove row of the same size")
    for n, rows_out, _, _ in results:
        for name, _, _, detail in rows_out:
            print(f"- n={n:,} {name}: {detail}")
    print(
        f"- S-curve of {bands} x {rows}: P(candidate) at J=0.6/0.7/0.8/0.9 = "
        + "/".join(
            f"{dedup.candidate_probability(s, bands, rows):.3f}" for s in (0.6, 0.7, 0.8, 0.9)
        )
        + "; datatrove keeps every band collision (it has no threshold and no verification step), "
        "wildfeedback and text-dedup keep a candidate only if its exact Jaccard reaches the threshold"
    )
    print(
        "- tokenisation: wildfeedback casefolds and takes \\w+ words; datatrove lowercases, maps digit runs "
        "to 0, turns punctuation into spaces, strips diacritics, then tokenises (spaCy English by default); "
        "text-dedup lowercases and splits on \\W. The corpus spells words with letters, so all three see the "
        "same words; a text with fewer words than the n-gram size gets no shingle in datatrove (one in "
        "wildfeedback); the peers read the user turns as plain text, wildfeedback the conversations"
    )
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
