"""Exports of a run's committed pairs: what people train on and what they read first.

    RUN/export/trl/{train,test}.jsonl       TRL DPO, conversational: prompt/chosen/rejected as
                                            message lists (chosen/rejected: one assistant message)
    RUN/export/wildfeedback.json            the WildFeedback release layout: conversations with
                                            ``from: human|gpt``, chosen and rejected as {from, value}
    RUN/export/hf/data/<split>-*.parquet    a folder ``datasets.load_dataset`` reads (TRL columns +
                                            lineage)
    RUN/export/parquet/<split>.parquet      every PAIRS column (full lineage)
    RUN/export/sft.jsonl                    SAT-judged responses as ``messages`` examples
    RUN/export/README.md                    the dataset card

Pure pyarrow + json, streaming over the committed Parquet parts batch by batch. Everything is
written to a staging folder first and then moved into place, so a reader sees the old export or
the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import schema, storage

SPLITS = ("train", "test")
ROLE_TO_FROM = {"user": "human", "assistant": "gpt", "system": "system"}

HF_SCHEMA = pa.schema(
    [
        ("prompt", schema.MESSAGES),
        ("chosen", schema.MESSAGES),
        ("rejected", schema.MESSAGES),
        ("pair_id", pa.string()),
        ("conversation_id", pa.string()),
        ("message_index", pa.int32()),
        ("source", pa.string()),
        ("pair_type", pa.string()),
        ("signal", pa.string()),
        ("categories", schema.STRINGS),
        ("preferences", schema.STRINGS),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
    ]
)


def iter_rows(files: list[str], table_schema: pa.Schema, batch_size: int = 2_000) -> Iterator[dict]:
    """Rows of committed Parquet parts, a batch at a time (never the whole table in memory)."""
    for f in files:
        fs, path = storage.filesystem(f)
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            for batch in pf.iter_batches(batch_size=batch_size):
                yield from schema.conform(pa.Table.from_batches([batch]), table_schema).to_pylist()


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def trl_record(pair: dict) -> dict:
    """TRL DPO conversational preference record."""
    return {
        "prompt": [{"role": m["role"], "content": m["content"]} for m in pair["prompt"]],
        "chosen": _assistant(pair["chosen"]),
        "rejected": _assistant(pair["rejected"]),
    }


def wildfeedback_record(pair: dict) -> dict:
    """The WildFeedback release record: the prompt as ``conversations``, then chosen/rejected."""
    return {
        "conversations": [{"from": ROLE_TO_FROM.get(m["role"], m["role"]), "value": m["content"]} for m in pair["prompt"]],
        "chosen": {"from": "gpt", "value": pair["chosen"]},
        "rejected": {"from": "gpt", "value": pair["rejected"]},
    }


def hf_record(pair: dict) -> dict:
    rec = trl_record(pair)
    for name in HF_SCHEMA.names[3:]:
        rec[name] = pair.get(name)
    return rec


def sft_record(row: dict) -> dict:
    return {"messages": [*row["prompt"], {"role": "assistant", "content": row["response"]}]}


class _Stats:
    def __init__(self) -> None:
        self.total = 0
        self.by: dict[str, Counter] = {k: Counter() for k in ("split", "signal", "pair_type", "category", "source", "split_pair_type")}

    def add(self, p: dict) -> None:
        self.total += 1
        self.by["split"][p["split"]] += 1
        self.by["signal"][p["signal"]] += 1
        self.by["pair_type"][p["pair_type"]] += 1
        self.by["source"][p.get("source") or "unknown"] += 1
        self.by["split_pair_type"][f"{p['split']} / {p['pair_type']}"] += 1
        for c in p.get("categories") or ["(none)"]:
            self.by["category"][c] += 1

    def as_dict(self) -> dict:
        return {"pairs": self.total, **{k: dict(sorted(v.items())) for k, v in self.by.items()}}


class _Writers:
    """Lazily opened per-split output files inside the staging folder."""

    def __init__(self, root: str):
        self.root = root
        self.files: dict[str, Any] = {}

    def jsonl(self, rel: str):
        if rel not in self.files:
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.files[rel] = open(path, "w", encoding="utf-8")
        return self.files[rel]

    def parquet(self, rel: str, table_schema: pa.Schema) -> pq.ParquetWriter:
        if rel not in self.files:
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.files[rel] = pq.ParquetWriter(path, table_schema, compression="zstd")
        return self.files[rel]

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def build_exports(pair_files: list[str], out_dir: str, formats: list[str], sft_files: list[str] | None = None,
                  batch_size: int = 2_000) -> dict:
    """Write every export of the given pairs (and SFT examples) into local folder ``out_dir``."""
    stats = _Stats()
    w = _Writers(out_dir)
    wf = None
    buffers: dict[str, list[dict]] = {}
    try:
        if "trl" in formats:
            for split in SPLITS:
                w.jsonl(f"trl/{split}.jsonl")
        if "wildfeedback" in formats:
            wf = open(os.path.join(out_dir, "wildfeedback.json"), "w", encoding="utf-8")
            wf.write("[")
        first = True
        for p in iter_rows(pair_files, schema.PAIRS, batch_size):
            stats.add(p)
            split = p["split"]
            if "trl" in formats:
                w.jsonl(f"trl/{split}.jsonl").write(_line(trl_record(p)))
            if wf is not None:
                wf.write(("\n" if first else ",\n") + json.dumps(wildfeedback_record(p), ensure_ascii=False))
                first = False
            for fmt, rel, sch, rec in (
                ("hf", f"hf/data/{split}-00000-of-00001.parquet", HF_SCHEMA, hf_record),
                ("parquet", f"parquet/{split}.parquet", schema.PAIRS, dict),
            ):
                if fmt in formats:
                    buf = buffers.setdefault(rel, [])
                    buf.append(rec(p))
                    if len(buf) >= batch_size:
                        w.parquet(rel, sch).write_table(pa.Table.from_pylist(buf, schema=sch))
                        buf.clear()
        for rel, buf in buffers.items():
            sch = HF_SCHEMA if rel.startswith("hf/") else schema.PAIRS
            if buf:
                w.parquet(rel, sch).write_table(pa.Table.from_pylist(buf, schema=sch))
        for fmt, rel, sch in (("hf", "hf/data/train-00000-of-00001.parquet", HF_SCHEMA),
                              ("parquet", "parquet/train.parquet", schema.PAIRS)):
            if fmt in formats and rel not in w.files:
                w.parquet(rel, sch)  # an empty train split still loads
        if wf is not None:
            wf.write("\n]\n")
        sft_n = 0
        if sft_files is not None:
            out = w.jsonl("sft.jsonl")
            for row in iter_rows(sft_files, schema.SFT, batch_size):
                out.write(_line(sft_record(row)))
                sft_n += 1
    finally:
        w.close()
        if wf is not None:
            wf.close()
    result = stats.as_dict()
    result["sft_examples"] = sft_n
    result["files"] = sorted(
        os.path.relpath(os.path.join(d, f), out_dir) for d, _, fs in os.walk(out_dir) for f in fs
    )
    return result


def _table(title: str, counts: dict[str, int]) -> list[str]:
    lines = [f"| {title} | pairs |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,} |" for k, v in counts.items()]
    return lines + [""]


def dataset_card(stats: dict, build: dict, data_prefix: str = "hf/data") -> str:
    """README.md: datasets config header, counts by split, signal, category and pair type, and how
    the data was built (pipeline settings, filters and what they dropped)."""
    splits = [s for s in SPLITS if stats.get("split", {}).get(s)] or ["train"]
    head = ["---", "configs:", "- config_name: default", "  data_files:"]
    for s in splits:
        head += [f"  - split: {s}", f"    path: {data_prefix}/{s}-*"]
    head += ["tags:", "- dpo", "- preference", "- wildfeedback", "---", ""]
    body = [
        "# WildFeedback-style preference pairs",
        "",
        "Preference pairs mined from users' in-situ feedback in real chat logs, after WildFeedback",
        "(Shi et al., arXiv 2408.15549). Each pair has a prompt (the conversation up to the",
        "response the user reacted to, ending with a user message), a chosen and a rejected",
        "assistant response, the user's signal (SAT/DSAT), the rubric categories and the user's",
        "preferences.",
        "",
        f"**{stats.get('pairs', 0):,} pairs**, {stats.get('sft_examples', 0):,} SFT examples.",
        "",
        "## Counts",
        "",
    ]
    for key, title in (("split", "split"), ("signal", "signal"), ("pair_type", "pair type"),
                       ("split_pair_type", "split / pair type"), ("category", "rubric category"),
                       ("source", "source")):
        body += _table(title, stats.get(key, {}))
    body += [
        "A pair can carry several categories, so the category counts add up to more than the pairs.",
        "",
        "## How it was built",
        "",
        "- **Candidate turns**: every user message at index k >= 2 that follows an assistant message,",
        "  in conversations kept after language, moderation and length filters, exact and near-duplicate",
        "  removal (MinHash-LSH) and PII scrubbing.",
        f"- **Detection**: `{build.get('detect_engine', '?')}` labelled each turn SAT / DSAT with the",
        "  SPUR-derived rubric (9 SAT and 9 DSAT categories). A turn with both is treated as DSAT.",
        "- **Pair types**:",
        "  - `generated`: DSAT turn; rejected = the response the user reacted to, chosen = a response",
        "    written by a model that saw the history and the user's preferences.",
        "  - `on_policy`: DSAT turn; chosen and rejected both from the policy model, with and",
        "    without the preferences.",
        "  - `sat_on_policy`: SAT turn; chosen = the original response the user was satisfied with,",
        "    rejected = the policy model's response written without preferences. We keep the",
        "    user-approved original as chosen because the user's approval is the only evidence of",
        "    quality we have; a second generation with preferences would be unverified.",
        "  - `harvested` (no model): a DSAT turn, then the assistant's revision, then the user",
        f"    accepts it (`{build.get('harvest_accept', '?')}`: `sat` = the next user turn is SAT,",
        "    `no_dsat` = it carries no DSAT or the conversation ends). chosen = the revision,",
        "    rejected = the original, prompt = the history before the original.",
        "- **SFT**: responses of SAT turns, as `sft.jsonl` (when enabled).",
        "- **Filters** (each counted below): empty sides, truncated generations, chosen equal to",
        "  rejected after normalisation (case, whitespace, Unicode NFKC), prompts not ending with a",
        "  user message, prompts over the size budget, the source's moderation flag and an optional",
        "  safety classifier on chosen, duplicate pair ids and duplicate (prompt, chosen, rejected),",
        "  and balancing caps per signal and per primary category.",
        "- **Splits**: by near-duplicate cluster (a seeded hash of the cluster id; test fraction",
        f"  {build.get('test_fraction')}, seed {build.get('split_seed')}), so no conversation or any of",
        "  its near-duplicates is in both splits.",
        "",
        "| candidate pairs | kept | dropped |",
        "| ---: | ---: | ---: |",
        f"| {build.get('rows_in') or 0:,} | {build.get('rows_out') or 0:,} | {build.get('rows_rejected') or 0:,} |",
        "",
    ]
    body += _table("dropped because", build.get("rejected_by_reason") or {})
    if build.get("harvest_skipped"):
        body += ["DSAT turns that gave no harvested pair:", ""]
        body += _table("reason", build["harvest_skipped"])
    body += [
        "## Files",
        "",
        "- `trl/train.jsonl`, `trl/test.jsonl`: TRL DPO conversational format (`prompt`, `chosen`, `rejected`).",
        "- `wildfeedback.json`: the WildFeedback release layout (`conversations`, `chosen`, `rejected`).",
        f"- `{data_prefix}/`: Parquet per split for `datasets.load_dataset`, with lineage columns.",
        "- `parquet/`: every column of the pairs table (source, ids, models, prompt versions, tokens).",
        "- `sft.jsonl`: SFT examples from SAT turns.",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(build.get("config", {}), indent=2, sort_keys=True),
        "```",
        "",
        f"Built by wildfeedback {build.get('code_version', '')}.",
        "",
    ]
    return "\n".join(head + body)


def _publish(staging: str, target_uri: str) -> None:
    """Move the staged export into place (local: rename; object storage: upload each file)."""
    if storage.is_remote(target_uri):
        if storage.exists(target_uri):
            storage.delete(target_uri)
        for d, _, fs in os.walk(staging):
            for f in fs:
                src = os.path.join(d, f)
                with open(src, "rb") as fh:
                    storage.write_bytes_atomic(storage.join(target_uri, os.path.relpath(src, staging)), fh.read())
        return
    old = f"{target_uri}.old-{uuid.uuid4().hex[:8]}"
    if os.path.exists(target_uri):
        os.replace(target_uri, old)
    shutil.move(staging, target_uri)
    shutil.rmtree(old, ignore_errors=True)


def write_exports(run: Any, cfg: Any, record: dict | None = None) -> dict:
    """All configured exports of ``run``'s committed pairs into ``RUN/export/``; returns counts.

    ``run`` is a :class:`wfcore.run.RunDir`, ``cfg`` a :class:`wfcore.config.Config`, ``record``
    the assemble stage's manifest record (filter counts for the card).
    """
    from .run import code_version

    a = cfg.assemble
    record = record or run.stage("assemble")
    pair_files = run.table("pairs").files()
    sft_ds = run.table("sft")
    sft_files = sft_ds.files() if a.sat_sft and sft_ds.is_committed() else None
    target = run.path("export")
    parent = None if storage.is_remote(target) else os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        stats = build_exports(pair_files, staging, list(a.exports), sft_files)
        build = {
            "detect_engine": cfg.detect.engine,
            "harvest_accept": a.harvest_accept,
            "test_fraction": a.split.test_fraction,
            "split_seed": a.split.seed,
            "config": {"assemble": a.model_dump(mode="json"), "detect": {"engine": cfg.detect.engine},
                       "preferences": {"engine": cfg.preferences.engine},
                       "respond": {"engine": cfg.respond.engine, "mode": cfg.respond.mode}},
            "code_version": code_version(),
            **{k: record.get(k) for k in ("rows_in", "rows_out", "rows_rejected", "rejected_by_reason", "harvest_skipped")},
        }
        with open(os.path.join(staging, "README.md"), "w", encoding="utf-8") as f:
            f.write(dataset_card(stats, build))
        if "hf" in a.exports:
            with open(os.path.join(staging, "hf", "README.md"), "w", encoding="utf-8") as f:
                f.write(dataset_card(stats, build, data_prefix="data"))
        stats["files"] = sorted(stats["files"] + ["README.md"] + (["hf/README.md"] if "hf" in a.exports else []))
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stats
