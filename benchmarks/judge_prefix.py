"""How much of the second order's judge prompt the prefix cache serves (raw ``vllm.LLM``).

Builds evaluate's judge requests for a run's held-out set (both orders of every prompt, adjacent,
as ``jobs.evaluate`` sends them), then prefills them with a vLLM engine (``max_tokens=1``; the
hit rate does not depend on decoding) and reports, per order, the share of prompt tokens served
from the prefix cache (``RequestOutput.num_cached_tokens``). Two inputs orders are compared: the
orders of a prompt adjacent (what evaluate does), and all A-first requests before all B-first
ones, with a KV cache too small to hold the whole set (what a careless order would get).

    python benchmarks/judge_prefix.py --run runs/demo --model MODEL_DIR [--kv-cache-tokens 16384]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory with RUN/heldout/")
    ap.add_argument("--model", required=True, help="local model folder vLLM can load")
    ap.add_argument("--kv-cache-tokens", type=int, default=16_384)
    ap.add_argument("--max-model-len", type=int, default=2048)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from jobs.evaluate import judge_requests, load_heldout, usable
    from wfcore.config import load_config
    from wfcore.run import RunDir

    cfg = load_config("default", [f"run={args.run}"])
    rows = [r for r in load_heldout(RunDir(args.run)) if usable(r, True) is None]
    responses = {
        (r["heldout_id"], s): r[c] for r in rows for s, c in (("A", "chosen"), ("B", "rejected"))
    }
    reqs = judge_requests(rows, responses, cfg)

    from vllm import LLM, SamplingParams

    t0 = time.time()
    probe = LLM(
        model=args.model, enforce_eager=True, dtype="float32", max_model_len=args.max_model_len
    )
    block = int(probe.llm_engine.vllm_config.cache_config.block_size)
    del probe
    gc.collect()
    llm = LLM(
        model=args.model,
        enforce_eager=True,
        dtype="float32",
        max_model_len=args.max_model_len,
        enable_prefix_caching=True,
        num_gpu_blocks_override=max(args.kv_cache_tokens // block, 1),
    )
    load = time.time() - t0
    sp = SamplingParams(max_tokens=1, temperature=0.0)

    def prefill(order: list[int]) -> dict[str, list[int]]:
        llm.reset_prefix_cache()
        outs = llm.chat([reqs[i]["messages"] for i in order], sp, use_tqdm=False)
        per: dict[str, list[int]] = {"AB": [0, 0], "BA": [0, 0]}
        for i, o in zip(order, outs, strict=True):
            d = per[reqs[i]["order"]]
            d[0] += len(o.prompt_token_ids)
            d[1] += int(o.num_cached_tokens or 0)
        return per

    adjacent = list(range(len(reqs)))
    apart = [i for i in adjacent if reqs[i]["order"] == "AB"] + [
        i for i in adjacent if reqs[i]["order"] == "BA"
    ]
    print(
        f"{len(rows)} held-out prompts, {len(reqs)} judge requests; model load {load:.0f} s; "
        f"KV cache {max(args.kv_cache_tokens // block, 1) * block} tokens (block {block})"
    )
    print(f"{'input order':<34}{'order':>6}{'prompt tok':>12}{'cached tok':>12}{'hit rate':>10}")
    for name, order in (
        ("both orders adjacent (evaluate)", adjacent),
        ("all A-first, then all B-first", apart),
    ):
        for o, (tok, cached) in prefill(order).items():
            print(f"{name:<34}{o:>6}{tok:>12}{cached:>12}{cached / max(tok, 1):>10.3f}")


if __name__ == "__main__":
    main()
