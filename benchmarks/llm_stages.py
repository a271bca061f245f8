"""Detect stage through Ray Data + vLLM vs raw ``vllm.LLM.chat``; prefix-cache hit rate by input order.

    .venv/bin/python benchmarks/llm_stages.py --conversations 60 [--hidden 512 --layers 8 --vocab 8000]
        [--max-tokens 48] [--batch-size 32] [--json OUT]

1. Builds a random Llama model (tests/tinymodel.py; default hidden 512, 8 layers, vocab ~8k:
   tens of millions of parameters, so model compute dominates as on a GPU) and candidate turns
   from synthetic conversations (``wfcore.synth.base_conversation``: one turn per user message
   after the first, history growing, as prepare writes them).
2. Runs the detect stage (engine ``vllm``, prefilter off, no retries so both sides do the same
   work) the way the pipeline does (``jobs.pipeline`` accounting, Parquet commit per shard),
   timing everything the user pays for: Ray start, engine start inside Ray, generation, parsing,
   writing. Engine start-up is reported separately as the time from starting a plan to its first
   result (``engine_first_result_s`` in the stage record: actor start, model load, first batch).
3. Runs the same rendered prompts with the same sampling and JSON-schema structured output
   through ``vllm.LLM.chat`` in this process (same engine arguments, same env), conversation-
   ordered, then with the prefix cache reset and the prompts shuffled. The hit rate is
   ``sum(num_cached_tokens) / sum(prompt tokens)`` over the requests (vLLM's RequestOutput
   field, the same count that feeds the ``vllm:prefix_cache_hits`` / ``queries`` counters).

Prints tables; ``--json OUT`` writes every figure. Load averages are printed before and after:
the machine is shared, so compare ratios, not absolute tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def synth_turns(conversations: int, seed: int = 7, max_turns: int = 6) -> list[dict]:
    """Candidate turns (TURNS rows) from synthetic conversations, conversation-ordered."""
    from wfcore.ids import turn_id
    from wfcore.synth import base_conversation

    rows: list[dict] = []
    for i in range(conversations):
        conv = base_conversation(seed, i)
        msgs = [{"role": m["role"], "content": m["content"]} for m in conv.messages]
        cid = f"bench-{i:05d}"
        n = 0
        for idx in range(2, len(msgs)):
            if msgs[idx]["role"] != "user" or msgs[idx - 1]["role"] != "assistant" or n >= max_turns:
                continue
            n += 1
            rows.append({
                "turn_id": turn_id(cid, idx), "conversation_id": cid, "message_index": idx,
                "history": msgs[: idx - 1], "response": msgs[idx - 1]["content"],
                "user_message": msgs[idx]["content"], "source": "bench", "language": conv.language,
                "model": conv.model, "cluster_id": cid, "moderation_flagged": False, "shard": i % 4,
            })
    return rows


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_ray_detect(work: str, model: str, rows: list[dict], args) -> dict:
    import pathlib

    from tests.modelstage_fixtures import make_run, run_stage
    from wfcore.config import Config
    from wfcore.schema import FEEDBACK

    run = make_run(pathlib.Path(work) / "ray", rows)
    cfg = Config.model_validate({
        "run": run.uri,
        "vllm": {"model": model, "max_model_len": args.max_model_len, "batch_size": args.batch_size,
                 "device": "cpu", "tokenize_stages": args.tokenize_stages, "shards_per_plan": args.shards_per_plan,
                 "engine_kwargs": {"enforce_eager": True, "dtype": "float32"}},
        "ray": {"num_cpus": 4},
        "detect": {"engine": "vllm", "prefilter": "off", "max_retries": 0,
                   "sampling": {"max_tokens": args.max_tokens}},
    })
    from jobs.rayrt import init_ray

    t0 = time.time()
    init_ray(cfg.ray)
    ray_init = time.time() - t0
    t1 = time.time()
    rec = run_stage("detect", run, cfg)
    stage_wall = time.time() - t1
    fb = run.table("feedback").read(FEEDBACK)
    import ray

    ray.shutdown()
    return {
        "ray_init_s": ray_init, "stage_s": stage_wall, "wall_s": ray_init + stage_wall,
        "tokens_in": rec["tokens_in"], "tokens_out": rec["tokens_out"], "error_rows": rec["error_rows"],
        "rows": fb.num_rows, "first_result_s": rec.get("engine_first_result_s"), "plans": rec.get("engine_plans"),
        "prefix_cache_hit_rate": rec.get("prefix_cache_hit_rate"), "cfg": cfg,
    }


def run_raw(model: str, rows: list[dict], cfg, seed: int, kv_cache_tokens: int, prefix_cache: bool = True) -> dict:
    t0 = time.time()
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from jobs.detect import detect_messages
    from wfcore.engine import sampling_dict
    from wfcore.outputs import detect_schema

    import_s = time.time() - t0
    llm = LLM(model=model, enforce_eager=True, dtype="float32", max_model_len=cfg.vllm.max_model_len,
              enable_prefix_caching=True,
              structured_outputs_config={"backend": cfg.vllm.structured_output_backend, "disable_any_whitespace": True})
    load = time.time() - t0
    sp = SamplingParams(**sampling_dict(cfg.detect.sampling),
                        structured_outputs=StructuredOutputsParams(json=detect_schema()))
    msgs = [detect_messages(t, cfg.detect.max_context_chars) for t in rows]

    def one(llm, sp, order: list[int]) -> dict:
        llm.reset_prefix_cache()
        t = time.time()
        outs = llm.chat([msgs[i] for i in order], sp, use_tqdm=False)
        gen = time.time() - t
        prompt = sum(len(o.prompt_token_ids) for o in outs)
        cached = sum(int(o.num_cached_tokens or 0) for o in outs)
        return {"generate_s": gen, "tokens_out": sum(len(o.outputs[0].token_ids) for o in outs),
                "tokens_in": prompt, "cached_tokens": cached, "prefix_cache_hit_rate": cached / max(prompt, 1)}

    ordered = one(llm, sp, list(range(len(msgs))))
    block_size = int(llm.llm_engine.vllm_config.cache_config.block_size)
    del llm
    import gc

    gc.collect()
    if not prefix_cache:
        return {"load_s": load, "import_s": import_s, "ordered": ordered, "prefix_cache": None,
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    # Prefix-cache hit rate by input order: a separate engine whose KV cache holds only
    # ``kv_cache_tokens`` (a GPU serving a real corpus never holds it all), prefill only
    # (max_tokens=1; the hit rate does not depend on decoding).
    llm = LLM(model=model, enforce_eager=True, dtype="float32", max_model_len=cfg.vllm.max_model_len,
              enable_prefix_caching=True, num_gpu_blocks_override=max(kv_cache_tokens // block_size, 1),
              structured_outputs_config={"backend": cfg.vllm.structured_output_backend, "disable_any_whitespace": True})
    sp = SamplingParams(**{**sampling_dict(cfg.detect.sampling), "max_tokens": 1})
    order = list(range(len(msgs)))
    cache = {"kv_cache_tokens": max(kv_cache_tokens // block_size, 1) * block_size, "block_size": block_size,
             "ordered": one(llm, sp, order)}
    random.Random(seed).shuffle(order)
    cache["shuffled"] = one(llm, sp, order)
    del llm
    gc.collect()
    return {"load_s": load, "import_s": import_s, "ordered": ordered, "prefix_cache": cache,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def run_raw_in_ray(model: str, rows: list[dict], cfg, seed: int, kv_cache_tokens: int, prefix_cache: bool = True) -> dict:
    """``run_raw`` in a Ray worker holding the engine actor's CPU reservation (same process setup:
    Ray sets OMP_NUM_THREADS from the reservation, which decides the CPU kernels' threads)."""
    import ray

    from jobs.rayrt import init_ray

    init_ray(cfg.ray)
    fn = ray.remote(num_cpus=cfg.vllm.tensor_parallel_size)(run_raw)  # engine_kwargs bundles: 1 CPU each
    try:
        return ray.get(fn.remote(model, rows, cfg, seed, kv_cache_tokens, prefix_cache))
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=60)
    ap.add_argument("--max-turns", type=int, default=6, help="candidate turns per conversation at most")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shards-per-plan", type=int, default=8)
    ap.add_argument("--tokenize-stages", action="store_true", help="separate Ray Data tokenize/detokenize stages")
    ap.add_argument("--kv-cache-tokens", type=int, default=8192, help="KV cache size of the prefix-cache engine")
    ap.add_argument("--raw-in-driver", action="store_true",
                    help="run raw vLLM in this process (default: in a Ray worker with the engine actor's CPUs)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--no-prefix-cache", action="store_true", help="skip the prefix-cache hit-rate runs (throughput only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()

    from tests.tinymodel import apply_engine_env, build_tiny_model

    apply_engine_env()
    load_before = _load()
    work = tempfile.mkdtemp(prefix="wf-llmbench-")
    t = time.time()
    model = build_tiny_model(os.path.join(work, "model"), hidden_size=args.hidden, num_layers=args.layers,
                             num_heads=max(2, args.hidden // 64), vocab_size=args.vocab)
    build_s = time.time() - t
    from transformers import AutoConfig

    mc = AutoConfig.from_pretrained(model)
    h, L, V, inter = mc.hidden_size, mc.num_hidden_layers, mc.vocab_size, mc.intermediate_size
    params = V * h + L * (4 * h * h + 3 * h * inter + 2 * h) + h
    rows = synth_turns(args.conversations, max_turns=args.max_turns)
    print(f"model: hidden={h} layers={L} vocab={V} ~{params / 1e6:.1f}M params (built in {build_s:.1f}s); "
          f"turns={len(rows)} from {args.conversations} conversations; max_tokens={args.max_tokens}; "
          f"load avg before {load_before}", flush=True)

    result: dict = {"model": {"hidden": h, "layers": L, "vocab": V, "params": params}, "turns": len(rows),
                    "args": vars(args), "load_before": load_before}
    rd = None
    if not args.skip_ray:
        rd = run_ray_detect(work, model, rows, args)
        cfg = rd.pop("cfg")
        result["ray_data"] = rd
        print(f"ray data done: {rd['wall_s']:.1f}s, load avg {_load()}", flush=True)
    else:
        from wfcore.config import Config

        cfg = Config.model_validate({"vllm": {"model": model, "max_model_len": args.max_model_len},
                                     "ray": {"num_cpus": 4},
                                     "detect": {"engine": "vllm", "sampling": {"max_tokens": args.max_tokens}}})
    raw = (run_raw if args.raw_in_driver else run_raw_in_ray)(model, rows, cfg, args.seed, args.kv_cache_tokens,
                                                              not args.no_prefix_cache)
    result["raw"] = raw
    result["load_after"] = _load()

    o, pc = raw["ordered"], raw["prefix_cache"]
    raw["load_s"] += raw["import_s"]  # the user pays for importing vLLM too (the Ray path does, in its actor)
    raw_e2e = o["tokens_out"] / (raw["load_s"] + o["generate_s"])
    raw_gen = o["tokens_out"] / o["generate_s"]
    print()
    print(f"{'path':<44}{'wall s':>9}{'tokens out':>12}{'tok/s':>9}")
    if rd:
        print(f"{'detect via Ray Data + vLLM (ray init+stage)':<44}{rd['wall_s']:>9.1f}{rd['tokens_out']:>12}"
              f"{rd['tokens_out'] / rd['wall_s']:>9.1f}")
        print(f"{'  of which ray.init':<44}{rd['ray_init_s']:>9.1f}")
        if rd.get("first_result_s") is not None:
            print(f"{'  of which to first result (engine start)':<44}{rd['first_result_s']:>9.1f}   plans={rd['plans']}")
    print(f"{'raw LLM.chat incl. engine load':<44}{raw['load_s'] + o['generate_s']:>9.1f}{o['tokens_out']:>12}{raw_e2e:>9.1f}")
    print(f"{'  of which vLLM import + engine load':<44}{raw['load_s']:>9.1f}   OMP_NUM_THREADS={raw['omp_num_threads']}")
    print(f"{'raw LLM.chat generate only':<44}{o['generate_s']:>9.1f}{o['tokens_out']:>12}{raw_gen:>9.1f}")
    if rd:
        ratio = (rd["tokens_out"] / rd["wall_s"]) / raw_e2e
        ratio_stage = (rd["tokens_out"] / rd["stage_s"]) / raw_e2e
        result["ratio_incl_ray_init"] = ratio
        result["ratio_stage"] = ratio_stage
        print(f"ratio Ray Data / raw, tok/s, both incl. engine load: {ratio:.2f} "
              f"(excluding ray.init: {ratio_stage:.2f}; target >= 0.85)")
        print(f"error rows (Ray Data): {rd['error_rows']} of {rd['rows']}; tokens in Ray {rd['tokens_in']} raw {o['tokens_in']}")
    if pc is None:
        print(f"load avg before {load_before} after {result['load_after']}")
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(result, f, indent=2, default=str)
        return
    print()
    print(f"prefix cache, raw LLM.chat prefill only, KV cache {pc['kv_cache_tokens']} tokens (block {pc['block_size']})")
    print(f"{'input order':<30}{'prompt tok':>12}{'cached tok':>12}{'hit rate':>10}{'wall s':>8}")
    for name, r in (("conversation-ordered", pc["ordered"]), ("shuffled", pc["shuffled"])):
        print(f"{name:<30}{r['tokens_in']:>12}{r['cached_tokens']:>12}{r['prefix_cache_hit_rate']:>10.3f}{r['generate_s']:>8.1f}")
    print(f"{'(throughput run, full cache)':<30}{o['tokens_in']:>12}{o['cached_tokens']:>12}{o['prefix_cache_hit_rate']:>10.3f}")
    if rd and rd.get("prefix_cache_hit_rate") is not None:
        print(f"{'Ray Data path (ordered)':<30}{'':>12}{'':>12}{rd['prefix_cache_hit_rate']:>10.3f}")
    print(f"load avg before {load_before} after {result['load_after']}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2, default=str)


if __name__ == "__main__":
    main()
