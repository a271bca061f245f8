"""Run report (report.json + report.html): what a data lead reviews before training on a run.

Sections: funnel; rubric categories; pairs by type; examples (per pair type and per rubric
category, seeded, PII-scrubbed text only); distributions (chosen vs rejected length, prompt
length, turns per conversation, languages); what was lost and why (per stage, by reason, with
an example locator); near-duplicate clusters; the evaluation summary (``RUN/eval/summary.json``)
and the detector audit (``RUN/audit/scores.json``) when they exist; throughput; cost.

The HTML is one self-contained file (inline CSS, SVG and a few lines of script, no network), so
it opens from object storage or as an e-mail attachment.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wfcore import cost, storage
from wfcore import report_data as rdata
from wfcore.config import Config
from wfcore.rubric import DSAT_CATEGORIES, SAT_CATEGORIES
from wfcore.run import STAGES, RunDir, now

log = logging.getLogger(__name__)

MODEL_STAGES = ("detect", "preferences", "respond")
EXAMPLES_PER_GROUP = 2
EXAMPLES_SEED = 0
TEXT_LIMIT = 1200
NO_MODEL_NOTE = (
    "No model was used (lexical detector, preferences extracted from the feedback turn, "
    "harvested pairs): no GPU-hours and no API cost. Nothing is projected: a projection needs "
    "the tokens per turn that a run with model stages measures (for example --config vllm)."
)
COST_NOTE = (
    "Projected from this run's tokens per candidate turn (cached prompt tokens, the prefix-cache "
    "hits the engine reported, cost no prefill compute) and the stated GPU throughput of the "
    "model's size class; prefill and decoding are timed one after the other, so it errs high. "
    "The tokens are this run's model and prompts: another model (or a random test model, which "
    "writes to its token limit) changes them."
)
LEXICAL_JUDGE = "lexical"


def _read(rd: RunDir, table: str, columns: list[str]) -> pa.Table | None:
    """Only ``columns`` of a committed table (the conversations table holds the raw corpus)."""
    ds = rd.table(table)
    if not ds.is_committed():
        return None
    try:
        parts = []
        for f in ds.files():
            fs, path = storage.filesystem(f)
            parts.append(pq.read_table(path, filesystem=fs, columns=columns))
        return pa.concat_tables(parts, promote_options="default") if parts else None
    except Exception:  # noqa: BLE001
        log.warning("report: cannot read %s columns %s", table, columns, exc_info=True)
        return None


def _funnel(rd: RunDir, stages: dict) -> tuple[dict, dict]:
    f: dict = {}
    cats: dict = {"SAT": Counter(), "DSAT": Counter()}
    ing, prep, asm = stages.get("ingest", {}), stages.get("prepare", {}), stages.get("assemble", {})
    f["conversations_read"] = ing.get("rows_in", 0)
    f["conversations_accepted"] = ing.get("rows_out", 0)
    f["conversations_rejected"] = ing.get("rows_rejected", 0)
    f["conversations_kept"] = prep.get("rows_out", 0)
    f["candidate_turns"] = rd.table("turns").num_rows()
    fb = _read(rd, "feedback", ["sat", "dsat", "sat_categories", "dsat_categories", "error"])
    if fb is not None:
        sat = fb.column("sat").fill_null(False)
        dsat = fb.column("dsat").fill_null(False)
        f["sat_turns"] = int(pc.sum(sat).as_py() or 0)
        f["dsat_turns"] = int(pc.sum(dsat).as_py() or 0)
        f["feedback_turns"] = int(pc.sum(pc.or_(sat, dsat)).as_py() or 0)
        f["detect_error_rows"] = int(fb.num_rows - fb.column("error").null_count)
        for col, key in (("sat_categories", "SAT"), ("dsat_categories", "DSAT")):
            flat = pc.list_flatten(fb.column(col))
            for v, n in zip(*pc.value_counts(flat).flatten(), strict=True) if len(flat) else []:
                cats[key][v.as_py()] += n.as_py()
    f["preferences"] = rd.table("preferences").num_rows()
    f["responses"] = rd.table("responses").num_rows()
    f["candidate_pairs"] = asm.get("rows_in", 0)
    f["pairs_dropped_by_filter"] = asm.get("rejected_by_reason", {})
    pairs = _read(rd, "pairs", ["pair_type", "split", "signal"])
    f["pairs"] = pairs.num_rows if pairs is not None else 0
    if pairs is not None:
        f["pairs_by_type"] = dict(Counter(pairs.column("pair_type").to_pylist()))
        f["pairs_by_signal"] = dict(Counter(pairs.column("signal").to_pylist()))
        split = Counter(pairs.column("split").to_pylist())
        f["train"], f["test"] = split.get("train", 0), split.get("test", 0)
    return f, {k: dict(v) for k, v in cats.items()}


# ---------------------------------------------------------------- examples


def _flat_parents(col) -> tuple[pa.Array, np.ndarray]:
    """A list column's flattened values and, for each, the row it belongs to."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return pc.list_flatten(arr), pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)


def _lengths(col) -> np.ndarray:
    return pc.utf8_length(pc.fill_null(col, "")).to_numpy(zero_copy_only=False).astype(np.int64)


def _turn_lookup(rd: RunDir, keys: set[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """Feedback turns (text from the scrubbed turns table, labels from feedback) for ``keys``."""
    out: dict[tuple[str, int], dict] = {}
    if not keys or not rd.table("turns").is_committed():
        return out
    cids = sorted({c for c, _ in keys})
    for f in rd.table("turns").files():
        fs, path = storage.filesystem(f)
        t = pq.read_table(
            path,
            filesystem=fs,
            columns=["turn_id", "conversation_id", "message_index", "response", "user_message"],
            filters=[("conversation_id", "in", cids)],
        )
        for r in t.to_pylist():
            k = (r["conversation_id"], r["message_index"])
            if k in keys:
                out[k] = r
    fb = _read(
        rd, "feedback", ["turn_id", "evidence", "sat_categories", "dsat_categories", "detector"]
    )
    if fb is not None and out:
        ids = {r["turn_id"]: k for k, r in out.items()}
        mask = pc.is_in(fb.column("turn_id"), value_set=pa.array(sorted(ids)))
        for r in fb.filter(mask).to_pylist():
            out[ids[r["turn_id"]]].update(r)
    return out


def _example(p: dict, turn: dict | None) -> dict:
    last_user = next((m["content"] for m in reversed(p["prompt"] or []) if m["role"] == "user"), "")
    return {
        "pair_id": p["pair_id"],
        "locator": f"{p['conversation_id']}:{p['message_index']}",
        "pair_type": p["pair_type"],
        "signal": p["signal"],
        "categories": list(p["categories"] or []),
        "split": p["split"],
        "prompt_turns": len(p["prompt"] or []),
        "prompt_last_user": rdata.clip(rdata.scrubbed(last_user), TEXT_LIMIT),
        "feedback_turn": rdata.clip(rdata.scrubbed((turn or {}).get("user_message")), TEXT_LIMIT),
        "evidence": rdata.scrubbed((turn or {}).get("evidence")),
        "preferences": [rdata.scrubbed(x) for x in (p["preferences"] or [])],
        "chosen": rdata.clip(rdata.scrubbed(p["chosen"]), TEXT_LIMIT),
        "rejected": rdata.clip(rdata.scrubbed(p["rejected"]), TEXT_LIMIT),
        "chosen_model": p.get("chosen_model"),
        "rejected_model": p.get("rejected_model"),
    }


def _pick(idx: np.ndarray, keys: np.ndarray, k: int) -> list[int]:
    """The ``k`` rows of ``idx`` with the smallest seeded keys."""
    return [int(i) for i in idx[np.argsort(keys[idx], kind="stable")[:k]]]


def _examples(
    pairs: pa.Table | None, rd: RunDir, seed: int = EXAMPLES_SEED, k: int = EXAMPLES_PER_GROUP
) -> dict:
    """Per pair type and per rubric category, ``k`` pairs picked by a seeded hash of the pair id
    (:func:`wfcore.report_data.seeded_pick`'s order); only the picked rows become Python."""
    rubric = (*SAT_CATEGORIES, *DSAT_CATEGORIES)
    groups: dict[str, list[int]] = {}
    present: set[str] = set()
    if pairs is not None and pairs.num_rows:
        keys = np.array([rdata.seeded_key(seed, i) for i in pairs.column("pair_id").to_pylist()])
        types = np.array(pairs.column("pair_type").to_pylist(), dtype=object)
        for t in sorted(set(types.tolist()), key=str):
            groups[f"type: {t}"] = _pick(np.flatnonzero(types == t), keys, k)
        flat, parents = _flat_parents(pairs.column("categories"))
        flat_np = np.array(flat.to_pylist(), dtype=object)
        for c in rubric:
            idx = np.unique(parents[flat_np == c])
            if len(idx):
                present.add(c)
                groups[f"category: {c}"] = _pick(idx, keys, k)
    wanted = sorted({i for v in groups.values() for i in v})
    rows = dict(zip(wanted, pairs.take(wanted).to_pylist(), strict=True)) if wanted else {}
    missing = [c for c in rubric if c not in present]
    turn_groups = _category_turns(rd, missing, seed, k)
    keys_ = {(p["conversation_id"], p["message_index"]) for p in rows.values()}
    keys_ |= {(t["conversation_id"], t["message_index"]) for v in turn_groups.values() for t in v}
    turns = _turn_lookup(rd, keys_)
    return {
        "seed": seed,
        "per_group": k,
        "groups": {
            g: [
                _example(rows[i], turns.get((rows[i]["conversation_id"], rows[i]["message_index"])))
                for i in v
            ]
            for g, v in groups.items()
        },
        "categories_without_pairs": missing,
        "turns_without_pairs": {
            c: [
                _turn_example(turns.get((t["conversation_id"], t["message_index"])) or t) for t in v
            ]
            for c, v in turn_groups.items()
        },
    }


def _category_turns(rd: RunDir, categories: list[str], seed: int, k: int) -> dict[str, list[dict]]:
    """For rubric categories no pair carries: ``k`` detected feedback turns of each."""
    fb = _read(
        rd,
        "feedback",
        ["turn_id", "conversation_id", "message_index", "sat_categories", "dsat_categories"],
    )
    if fb is None or not categories or not fb.num_rows:
        return {}
    keys = np.array([rdata.seeded_key(seed, t) for t in fb.column("turn_id").to_pylist()])
    out: dict[str, list[dict]] = {}
    cols = [_flat_parents(fb.column(c)) for c in ("sat_categories", "dsat_categories")]
    for c in categories:
        idx = np.unique(
            np.concatenate(
                [
                    parents[pc.equal(flat, c).to_numpy(zero_copy_only=False)]
                    for flat, parents in cols
                ]
            )
        )
        if len(idx):
            out[c] = fb.take(_pick(idx, keys, k)).to_pylist()
    return out


def _turn_example(t: dict) -> dict:
    return {
        "locator": f"{t['conversation_id']}:{t['message_index']}",
        "categories": list(t.get("sat_categories") or []) + list(t.get("dsat_categories") or []),
        "previous_response": rdata.clip(rdata.scrubbed(t.get("response")), TEXT_LIMIT),
        "feedback_turn": rdata.clip(rdata.scrubbed(t.get("user_message")), TEXT_LIMIT),
        "evidence": rdata.scrubbed(t.get("evidence")),
        "detector": t.get("detector"),
    }


# ---------------------------------------------------------------- distributions


def _user_turns_per_conversation(rd: RunDir) -> list[int]:
    """User messages per kept conversation, reading only the messages' roles."""
    ds = rd.table("prepared")
    if not ds.is_committed():
        return []
    counts: list[int] = []
    for f in ds.files():
        fs, path = storage.filesystem(f)
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            col = None
            for name in ("messages.list.element.role", "messages.list.item.role", "messages"):
                try:
                    col = pf.read(columns=[name]).column(0)
                    break
                except Exception:  # noqa: BLE001
                    continue
        if col is None or not len(col):
            continue
        flat, parents = _flat_parents(col)
        is_user = pc.equal(pc.struct_field(flat, "role"), "user").fill_null(False)
        per = np.bincount(
            parents, weights=is_user.to_numpy(zero_copy_only=False), minlength=len(col)
        )
        counts.extend(int(x) for x in per)
    return counts


def _tokens(pairs: pa.Table) -> tuple[list[int | None], list[int | None]]:
    """Generated sides' token counts per pair (respond / respond_unconditioned tokens_out)."""
    col = pairs.column("tokens")
    has = pc.match_substring(pc.fill_null(col, ""), "respond").to_numpy(zero_copy_only=False)
    chosen: list[int | None] = [None] * pairs.num_rows
    rejected: list[int | None] = [None] * pairs.num_rows
    for i in np.flatnonzero(has):
        try:
            t = json.loads(col[int(i)].as_py() or "{}")
        except json.JSONDecodeError:
            continue
        chosen[i] = (t.get("respond") or {}).get("out") or None
        rejected[i] = (t.get("respond_unconditioned") or {}).get("out") or None
    return chosen, rejected


def _distributions(pairs: pa.Table | None, rd: RunDir) -> dict:
    n = pairs.num_rows if pairs is not None else 0
    if n:
        chosen = _lengths(pairs.column("chosen")).tolist()
        rejected = _lengths(pairs.column("rejected")).tolist()
        flat, parents = _flat_parents(pairs.column("prompt"))
        content = _lengths(pc.struct_field(flat, "content"))
        prompt_chars = np.bincount(parents, weights=content, minlength=n).astype(np.int64).tolist()
        prompt_msgs = (
            pc.list_value_length(pairs.column("prompt"))
            .fill_null(0)
            .to_numpy(zero_copy_only=False)
            .tolist()
        )
        tok_c, tok_r = _tokens(pairs)
        types = pairs.column("pair_type").to_pylist()
        cids = pairs.column("conversation_id")
    else:
        chosen, rejected, prompt_chars, prompt_msgs, tok_c, tok_r, types = (
            [],
            [],
            [],
            [],
            [],
            [],
            [],
        )
        cids = pa.array([], pa.string())
    both = [(c, r) for c, r in zip(tok_c, tok_r, strict=True) if c and r]
    by_type: dict[str, dict] = {}
    for t in sorted(set(types), key=str):
        idx = [i for i, x in enumerate(types) if x == t]
        by_type[str(t)] = rdata.paired([chosen[i] for i in idx], [rejected[i] for i in idx])
    langs = _read(rd, "prepared", ["conversation_id", "language"])
    lang_conv: dict = {}
    lang_pairs: dict = {}
    if langs is not None:
        lang = pc.fill_null(langs.column("language"), "unknown")
        lang_conv = _value_counts(lang)
        pos = pc.index_in(cids, value_set=langs.column("conversation_id").combine_chunks())
        lang_pairs = _value_counts(pc.fill_null(pc.take(lang, pos), "unknown")) if n else {}
    turns_per_conv = _user_turns_per_conversation(rd)
    edges = rdata.nice_edges(chosen + rejected)
    return {
        "chosen_chars": rdata.summary(chosen),
        "rejected_chars": rdata.summary(rejected),
        "chars_paired": rdata.paired(chosen, rejected),
        "chars_paired_by_type": by_type,
        "chars_histogram": {
            "chosen": rdata.histogram(chosen, edges),
            "rejected": rdata.histogram(rejected, edges),
        },
        "chosen_tokens": rdata.summary([c for c in tok_c if c]),
        "rejected_tokens": rdata.summary([r for r in tok_r if r]),
        "tokens_paired": rdata.paired([c for c, _ in both], [r for _, r in both]),
        "tokens_note": "tokens are counted only for generated sides (respond tokens_out); "
        "harvested pairs have none",
        "prompt_chars": rdata.summary(prompt_chars),
        "prompt_chars_histogram": rdata.histogram(prompt_chars, rdata.nice_edges(prompt_chars)),
        "prompt_messages": rdata.summary(prompt_msgs),
        "user_turns_per_conversation": rdata.summary(turns_per_conv),
        "user_turns_histogram": rdata.histogram(turns_per_conv, [0, 1, 2, 3, 4, 5, 6, 8, 10, 15]),
        "languages_conversations": lang_conv,
        "languages_pairs": lang_pairs,
    }


def _value_counts(col) -> dict[str, int]:
    vc = pc.value_counts(col)
    pairs = zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)
    return dict(sorted(pairs, key=lambda kv: (-kv[1], str(kv[0]))))


# ---------------------------------------------------------------- losses and dedup


def _first_per(t: pa.Table | None, key: str, order: str) -> dict[str, dict]:
    """Per value of ``key``: the row with the smallest ``order`` (one example per reason)."""
    if t is None or not t.num_rows:
        return {}
    firsts = t.group_by(key).aggregate([(order, "min")])
    want = pa.Table.from_arrays(
        [firsts.column(key), firsts.column(f"{order}_min")], names=[key, order]
    )
    rows = t.join(want, keys=[key, order], join_type="inner").to_pylist()
    out: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: str(r[order])):
        out.setdefault(str(r[key]), r)
    return out


def _losses(rd: RunDir, stages: dict) -> dict:
    """Per stage: rows lost by reason, each with one example locator where a table keeps one."""
    out: dict = {}
    ex = _first_per(
        _read(rd, "rejects", ["reason_code", "locator", "detail"]), "reason_code", "locator"
    )
    out["ingest"] = [
        {
            "reason": r,
            "rows": n,
            "example": (ex.get(r) or {}).get("locator"),
            "detail": rdata.clip(rdata.scrubbed((ex.get(r) or {}).get("detail")), 120),
        }
        for r, n in _by_count(stages.get("ingest", {}).get("rejected_by_reason", {}))
    ]
    ex = _first_per(
        _read(rd, "dropped", ["conversation_id", "reason", "detail", "kept_as"]),
        "reason",
        "conversation_id",
    )
    loc: dict = {}
    convs = _read(rd, "conversations", ["conversation_id", "locator"])
    want = sorted({r["conversation_id"] for r in ex.values()})
    if convs is not None and want:
        sub = convs.filter(pc.is_in(convs.column("conversation_id"), value_set=pa.array(want)))
        loc = dict(zip(sub.column(0).to_pylist(), sub.column(1).to_pylist(), strict=True))

    def where(r: dict) -> str:
        kept = f" (kept as {r['kept_as']})" if r.get("kept_as") else ""
        return f"{loc.get(r['conversation_id'], r['conversation_id'])}{kept}"

    out["prepare"] = [
        {
            "reason": r,
            "rows": n,
            "example": where(ex[r]) if r in ex else None,
            "detail": rdata.clip((ex.get(r) or {}).get("detail") or "", 120),
        }
        for r, n in _by_count(stages.get("prepare", {}).get("rejected_by_reason", {}))
    ]
    for s, table in (
        ("detect", "feedback"),
        ("preferences", "preferences"),
        ("respond", "responses"),
    ):
        rows = [
            {
                "reason": r,
                "rows": n,
                "example": None,
                "detail": "not a model error: no row to point at",
            }
            for r, n in _by_count(stages.get(s, {}).get("rejected_by_reason", {}))
        ]
        t = _read(rd, table, ["conversation_id", "message_index", "error"])
        errs = t.filter(pc.is_valid(t.column("error"))).to_pylist() if t is not None else []
        kinds: dict[str, list[dict]] = {}
        for e in errs:
            kinds.setdefault(rdata.error_kind(e["error"]), []).append(e)
        for kind, es in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            first = min(es, key=lambda e: (e["conversation_id"], e["message_index"]))
            rows.append(
                {
                    "reason": f"model error: {kind}",
                    "rows": len(es),
                    "example": f"{first['conversation_id']}:{first['message_index']}",
                    "detail": rdata.clip(first["error"], 120),
                }
            )
        out[s] = rows
    asm = stages.get("assemble", {})
    out["assemble"] = [
        {
            "reason": r,
            "rows": n,
            "example": None,
            "detail": "pair filter (assemble keeps counts, not the dropped pairs)",
        }
        for r, n in _by_count(asm.get("rejected_by_reason", {}))
    ] + [
        {
            "reason": r,
            "rows": n,
            "example": None,
            "detail": "harvest skipped",
        }
        for r, n in _by_count(asm.get("harvest_skipped", {}))
    ]
    out["assemble"] += [
        {
            "reason": f"SFT row: {r}",
            "rows": n,
            "example": None,
            "detail": "SFT example dropped by the pair filter",
        }
        for r, n in _by_count(asm.get("sft_rejected_by_reason", {}))
    ]
    return out


def _by_count(d: dict) -> list[tuple[str, int]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))


def _clusters(rd: RunDir, stages: dict) -> dict:
    """Near-duplicate cluster sizes: a kept representative plus the conversations dropped as its
    near duplicates (exact duplicates are counted apart)."""
    dropped = _read(rd, "dropped", ["reason", "kept_as"])
    near: dict = {}
    exact: dict = {}
    if dropped is not None and dropped.num_rows:
        for reason, target in (("near_duplicate", near), ("exact_duplicate", exact)):
            sub = dropped.filter(
                pc.and_(
                    pc.equal(dropped.column("reason"), reason),
                    pc.is_valid(dropped.column("kept_as")),
                )
            )
            if sub.num_rows:
                target.update(_value_counts(sub.column("kept_as")))
    sizes = Counter(v + 1 for v in near.values())
    largest = sorted(near.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "near_dup_clusters": len(near),
        "conversations_in_clusters": sum(v + 1 for v in near.values()),
        "size_counts": {str(k): v for k, v in sorted(sizes.items())},
        "largest": [{"representative": c, "size": v + 1} for c, v in largest],
        "exact_duplicate_groups": len(exact),
        "exact_duplicates_dropped": sum(exact.values()),
        "settings": {
            k: v
            for k, v in (stages.get("prepare", {}).get("near_dedup") or {}).items()
            if k in ("threshold", "num_perm", "bands", "edges", "clusters")
        },
    }


# ---------------------------------------------------------------- projected cost


def _model_stage_tokens(
    stages: dict, funnel: dict, evaluation: dict | None, cfg: Config
) -> tuple[list[cost.StageTokens], dict]:
    """The measured tokens of every stage that ran a model, and the scale-up."""
    read = int(funnel.get("conversations_read") or 0)
    turns = int(funnel.get("candidate_turns") or 0)
    target = cfg.report.cost.conversations
    per_conv = turns / read if read else 0.0
    scale = {
        "conversations": target,
        "run_conversations_read": read,
        "run_candidate_turns": turns,
        "turns_per_conversation": round(per_conv, 4),
        "projected_turns": round(target * per_conv),
    }
    out: list[cost.StageTokens] = []
    if not turns:
        return out, scale
    for s in MODEL_STAGES:
        r = stages.get(s) or {}
        if r.get("engine") in (None, "none") or not int(r.get("model_requests") or 0):
            continue
        out.append(
            cost.StageTokens(
                stage=s,
                model=r.get("model"),
                tokens_in=int(r.get("tokens_in") or 0),
                tokens_cached=int(r.get("tokens_cached") or 0),
                tokens_out=int(r.get("tokens_out") or 0),
                units=turns,
                projected_units=target * per_conv,
                cached_recorded="tokens_cached" in r,
            )
        )
    ev = stages.get("evaluate") or {}
    judged = int(ev.get("verdict_rows") or 0) // 2 or int(ev.get("rows_out") or 0)
    if int(ev.get("model_requests") or 0) and judged:
        model = ev.get("judge") if ev.get("judge") not in (None, LEXICAL_JUDGE) else None
        if model is None:  # a rule judge over model-written candidates
            cands = (evaluation or {}).get("candidates") or {}
            model = next(
                (c.get("model") for c in cands.values() if isinstance(c, dict) and c.get("model")),
                None,
            )
        h = cfg.assemble.heldout
        feedback_share = int(funnel.get("feedback_turns") or 0) / turns
        size = cost.heldout_size(
            feedback_share * target * per_conv,
            h.k,
            h.per_cluster,
            h.max_fraction,
            h.max_items,
            cfg.evaluate.limit,
        )
        scale["projected_heldout_prompts"] = size
        out.append(
            cost.StageTokens(
                stage="evaluate",
                model=model,
                tokens_in=int(ev.get("tokens_in") or 0),
                tokens_cached=int(ev.get("tokens_cached") or 0),
                tokens_out=int(ev.get("tokens_out") or 0),
                units=judged,
                projected_units=size,
                unit="judged held-out prompt",
                cached_recorded="tokens_cached" in ev,
            )
        )
    return out, scale


def _cost(stages: dict, funnel: dict, evaluation: dict | None, cfg: Config) -> dict:
    """Projected GPU-hours and cost of the model stages for ``report.cost.conversations``
    conversations, from this run's tokens (:mod:`wfcore.cost`); nothing when no model ran."""
    c = cfg.report.cost
    measured, scale = _model_stage_tokens(stages, funnel, evaluation, cfg)
    if not measured:
        return {"model_used": False, "projection": None, "note": NO_MODEL_NOTE}
    price = cfg.report.gpu_hour_price
    per_m = cfg.report.price_per_million_tokens
    projected, skipped = [], []
    for t in measured:
        if c.model_size != "auto":
            size, params, known = cost.by_name(c.model_size), None, "config: report.cost.model_size"
        else:
            params, known = cost.model_params(t.model)
            size = cost.size_class(params) if params is not None else None
        if size is None:
            skipped.append({"stage": t.stage, "model": t.model, "reason": f"model size {known}"})
            continue
        p = cost.project_stage(
            t, cost.rates_for(size, c.prompt_tokens_per_s, c.output_tokens_per_s), price
        )
        p["model_params_b"] = round(params, 6) if params is not None else None
        p["model_size_from"] = known
        engine = (stages.get(t.stage) or {}).get("engine")
        if engine == "openai" and (per_m.get("input") or per_m.get("output")):
            tok = p["projected_tokens"]
            p["api_cost"] = round(
                (tok["uncached_prompt"] + tok["cached_prompt"]) / 1e6 * per_m.get("input", 0.0)
                + tok["output"] / 1e6 * per_m.get("output", 0.0),
                2,
            )
        projected.append(p)
    totals = cost.project(projected, price)
    pairs = int(funnel.get("pairs") or 0)
    read = scale["run_conversations_read"]
    projected_pairs = pairs / read * scale["conversations"] if read else 0
    api = [p["api_cost"] for p in projected if "api_cost" in p]
    return {
        "model_used": True,
        "engines": sorted(
            {str((stages.get(t.stage) or {}).get("engine")) for t in measured if t.stage in stages}
        ),
        "projection": {
            **scale,
            **totals,
            "stages": projected,
            "skipped": skipped,
            "projected_pairs": round(projected_pairs),
            "cost_per_1000_pairs": round(totals["cost"] / projected_pairs * 1000, 4)
            if projected_pairs
            else None,
            "api_cost": round(sum(api), 2) if api else None,
            "gpu": "H100 80GB SXM",
        },
        "note": COST_NOTE,
    }


# ---------------------------------------------------------------- report


def build_report(rd: RunDir, cfg: Config) -> dict:
    m = rd.manifest()
    stages = m.get("stages", {})
    funnel, categories = _funnel(rd, stages)
    throughput = {}
    tokens_in = tokens_out = tokens_cached = 0
    for s in (*STAGES, "evaluate"):
        r = stages.get(s)
        if not r:
            continue
        secs = float(r.get("wall_seconds") or 0)
        throughput[s] = {
            "status": r.get("status"),
            "rows_in": r.get("rows_in", 0),
            "rows_out": r.get("rows_out", 0),
            "wall_seconds": secs,
            "rows_per_second": round(r.get("rows_in", 0) / secs, 1) if secs else None,
            "tokens_in": r.get("tokens_in", 0),
            "tokens_cached": r.get("tokens_cached"),
            "tokens_out": r.get("tokens_out", 0),
            "error_rows": r.get("error_rows", 0),
            "shards_computed": r.get("shards_computed"),
            "shards_skipped": r.get("shards_skipped"),
        }
        tokens_in += int(r.get("tokens_in", 0) or 0)
        tokens_out += int(r.get("tokens_out", 0) or 0)
        tokens_cached += int(r.get("tokens_cached", 0) or 0)
    evaluation = storage.read_json(rd.path("eval", "summary.json"))
    pairs = _read(
        rd,
        "pairs",
        [
            "pair_id",
            "conversation_id",
            "message_index",
            "prompt",
            "chosen",
            "rejected",
            "pair_type",
            "signal",
            "categories",
            "preferences",
            "split",
            "chosen_model",
            "rejected_model",
            "tokens",
        ],
    )
    return {
        "run": rd.uri,
        "generated_at": now(),
        "code_version": m.get("code_version"),
        "funnel": funnel,
        "categories": categories,
        "examples": _examples(pairs, rd),
        "distributions": _distributions(pairs, rd),
        "losses": _losses(rd, stages),
        "near_duplicates": _clusters(rd, stages),
        "evaluation": evaluation,
        "audit": storage.read_json(rd.path("audit", "scores.json")),
        "throughput": throughput,
        "tokens": {"input": tokens_in, "cached": tokens_cached, "output": tokens_out},
        "cost": _cost(stages, funnel, evaluation, cfg),
    }


def saved_config(rd: RunDir) -> Config:
    """The config the run was made with (from its manifest), for rewriting its report."""
    from wfcore.config import load_config

    return load_config(None, [f"run={rd.uri}"], base=rd.manifest().get("config") or {})


def write_report(rd: RunDir, cfg: Config) -> dict:
    rep = build_report(rd, cfg)
    storage.write_json_atomic(rd.path("report.json"), rep)
    storage.write_bytes_atomic(rd.path("report.html"), render_html(rep).encode("utf-8"))
    return rep


def render_html(rep: dict) -> str:
    from .report_html import render_html as render

    return render(rep)
