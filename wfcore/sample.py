"""The bundled demo sample: a small synthetic corpus made by :mod:`wfcore.synth`.

It is the embedded default input (``wildfeedback run`` without ``--input``): ~1,500 synthetic
conversations in WildChat Parquet layout plus a few malformed JSONL records, so a demo shows
quarantine too. Regenerate it with ``python benchmarks/make_sample.py`` (reproducible: fixed seed).
"""

from __future__ import annotations

import os

SAMPLE_SEED = 2408  # arXiv 2408.15549
SAMPLE_CONVERSATIONS = 1500
SAMPLE_MALFORMED_JSONL = 24


def bundled_sample_path() -> str:
    """The folder of the bundled sample (a local path inside the installed package)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sample")


def make_sample(output: str | None = None) -> dict:
    """(Re)generate the bundled sample into ``output`` (default: the bundled folder)."""
    from . import storage, synth

    out = output or bundled_sample_path()
    for name in ("part-00000.parquet", "malformed.jsonl", "_truth.parquet", "_synth.json", "_malformed_truth.parquet"):
        path = os.path.join(out, name)
        if os.path.exists(path):
            os.remove(path)
    summary = synth.generate(SAMPLE_CONVERSATIONS, SAMPLE_SEED, out, "wildchat",
                             shard_rows=SAMPLE_CONVERSATIONS, malformed_share=0.01)
    # A second file in WildChat JSONL layout where every record is malformed (bad JSON lines,
    # invalid UTF-8, wrong types, ...): written to a temp folder, then moved beside the Parquet.
    tmp = os.path.join(out, ".malformed-tmp")
    jsonl = synth.generate_malformed(SAMPLE_MALFORMED_JSONL, SAMPLE_SEED + 1, tmp, "wildchat_jsonl")
    os.replace(jsonl["files"][0], os.path.join(out, "malformed.jsonl"))
    os.replace(jsonl["truth"], os.path.join(out, "_malformed_truth.parquet"))
    storage.delete(tmp)
    return summary
