"""Detect stage through Ray Data + vLLM vs raw ``vllm.LLM.generate`` on the same prompts.

    .venv/bin/python benchmarks/engine_overhead.py --rows 64 [--hidden 64 --layers 2]

Builds a random Llama model (tests/tinymodel.py; pass --hidden 512 --layers 8 for one where
model compute dominates), N candidate turns, runs the detect stage (engine vllm, prefilter off)
and then the same rendered prompts, sampling and JSON schema through ``vllm.LLM.generate`` in
this process. Prints wall times, output tokens/s and the ratio. Ray Data's wall time includes
starting its actors and the engine; the raw column is shown with and without engine load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()

    from tests.tinymodel import apply_engine_env, build_tiny_model

    apply_engine_env()
    work = tempfile.mkdtemp(prefix="wf-bench-")
    model = build_tiny_model(os.path.join(work, "model"), hidden_size=args.hidden, num_layers=args.layers,
                             num_heads=max(2, args.hidden // 64))
    import pathlib

    from tests.modelstage_fixtures import make_run, model_config, run_stage, turn_rows
    from wfcore.schema import FEEDBACK

    rows = turn_rows(n_conversations=max(1, args.rows // 2), oversized=False)[: args.rows]
    run = make_run(pathlib.Path(work), rows)
    cfg = model_config(run, model, detect={"engine": "vllm", "prefilter": "off", "max_retries": 0,
                                           "sampling": {"max_tokens": args.max_tokens}})
    from jobs.rayrt import init_ray

    init_ray(cfg.ray)
    t0 = time.time()
    rec = run_stage("detect", run, cfg)
    ray_wall = time.time() - t0
    fb = run.table("feedback").read(FEEDBACK)
    import ray

    ray.shutdown()

    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from jobs.detect import detect_messages
    from wfcore.engine import sampling_dict
    from wfcore.outputs import detect_schema

    t1 = time.time()
    llm = LLM(model=model, enforce_eager=True, dtype="float32", max_model_len=cfg.vllm.max_model_len,
              enable_prefix_caching=True,
              structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True})
    load = time.time() - t1
    sp = SamplingParams(**sampling_dict(cfg.detect.sampling), structured_outputs=StructuredOutputsParams(json=detect_schema()))
    msgs = [detect_messages(t, cfg.detect.max_context_chars) for t in rows]
    t2 = time.time()
    outs = llm.chat(msgs, sp, use_tqdm=False)
    gen = time.time() - t2
    raw_tokens = sum(len(o.outputs[0].token_ids) for o in outs)

    rd_tokens = rec["tokens_out"]
    print()
    print(f"model: hidden={args.hidden} layers={args.layers}; rows={len(rows)}; max_tokens={args.max_tokens}")
    print(f"{'path':<34}{'wall s':>9}{'tokens out':>12}{'tok/s':>9}")
    print(f"{'detect via Ray Data + vLLM':<34}{ray_wall:>9.1f}{rd_tokens:>12}{rd_tokens / ray_wall:>9.0f}")
    print(f"{'raw LLM.chat incl. engine load':<34}{load + gen:>9.1f}{raw_tokens:>12}{raw_tokens / (load + gen):>9.0f}")
    print(f"{'raw LLM.chat generate only':<34}{gen:>9.1f}{raw_tokens:>12}{raw_tokens / gen:>9.0f}")
    print(f"ratio Ray Data / raw (tok/s, incl. load): {(rd_tokens / ray_wall) / (raw_tokens / (load + gen)):.2f}")
    print(f"error rows: {rec['error_rows']} of {fb.num_rows}")
    print(json.dumps({"ray_wall_s": round(ray_wall, 2), "raw_load_s": round(load, 2), "raw_generate_s": round(gen, 2)}))


if __name__ == "__main__":
    main()
