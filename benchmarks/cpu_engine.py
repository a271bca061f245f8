"""Where a vLLM CPU engine's time goes: the engine layer's CPU defaults before vs after, and raw vLLM.

    .venv/bin/python benchmarks/cpu_engine.py [--prompts 192] [--max-tokens 32] [--batch-size 4]
        [--hidden 512 --layers 8 --vocab 8000 | --model DIR] [--variants before,after,...,raw] [--json OUT]

Each variant runs in its own process with a clean environment (none of the tests' engine
variables), on the same detect prompts (synthetic conversations, ``jobs.detect.detect_messages``)
with the detect JSON schema and greedy sampling:

- ``before``: ``wfcore.engines.run_requests`` with the engine layer's CPU defaults switched off
  (what a user's ``vllm.device=cpu`` run got before them: compiled mode, a separate EngineCore
  process, Ray's OMP_NUM_THREADS for a 1-CPU bundle), with the KV cache set as the issue did
  (``VLLM_CPU_KVCACHE_SPACE=2``; without it the engine does not start on a busy machine);
- ``after``: ``run_requests`` with the defaults (``vllm.device=cpu`` and nothing else);
- ``after+compile`` / ``after+mp`` / ``after+1thread``: the defaults with one of them undone
  (``engine_kwargs: {enforce_eager: false}``; ``env_vars: {VLLM_ENABLE_V1_MULTIPROCESSING: "1",
  VLLM_CPU_OMP_THREADS_BIND: auto}``; ``env_vars: {OMP_NUM_THREADS: "1"}``), to see where the time goes;
- ``raw``: ``vllm.LLM.chat`` in one process, ``enforce_eager=True``,
  ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (the reference the issue measured).

Reported per variant: time to the first answer (Ray and engine start, model load, first batch),
the rest (generation; for the Ray variants the tokens of the answers after the first block), prompt
and total tokens/s over that generation time, and the wall time.
The machine is shared: load averages are printed; compare variants run back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CLEAN_ENV_DROP = (
    "VLLM_ENABLE_V1_MULTIPROCESSING",
    "VLLM_CPU_KVCACHE_SPACE",
    "VLLM_CPU_OMP_THREADS_BIND",
    "OMP_NUM_THREADS",
)


def prompts(n: int) -> list[dict]:
    from benchmarks.llm_stages import synth_turns
    from jobs.detect import detect_messages

    conversations = max(n // 2, 1)
    turns = synth_turns(conversations, max_turns=3)
    while len(turns) < n:
        conversations *= 2
        turns = synth_turns(conversations, max_turns=3)
    turns = turns[:n]
    return [{"key": t["turn_id"], "messages": detect_messages(t, 6000)} for t in turns]


# what each Ray variant changes, through the config's own overrides (engine_kwargs, env_vars)
OVERRIDES = {
    "after": ({}, {}),
    "after+compile": ({"enforce_eager": False}, {}),
    "after+mp": ({}, {"VLLM_ENABLE_V1_MULTIPROCESSING": "1", "VLLM_CPU_OMP_THREADS_BIND": "auto"}),
    "after+1thread": ({}, {"OMP_NUM_THREADS": "1"}),
}


def config(model: str, args, variant: str):
    from wfcore.config import Config

    kwargs, env = OVERRIDES.get(variant, ({}, {}))
    return Config.model_validate(
        {
            "vllm": {
                "model": model,
                "max_model_len": args.max_model_len,
                "batch_size": args.batch_size,
                "device": "cpu",
                "tokenize_stages": False,
                "engine_kwargs": {"dtype": "float32", **kwargs},
                "env_vars": env,
            },
            "ray": {"num_cpus": 4},
        }
    )


def run_variant(variant: str, model: str, args) -> dict:
    """In this (child) process: one variant, timed."""
    reqs = prompts(args.prompts)
    sampling = {"temperature": 0.0, "top_p": 1.0, "max_tokens": args.max_tokens, "seed": 0}
    from wfcore.outputs import detect_schema

    t0 = time.time()
    if variant == "raw":
        os.environ.update({"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "2"})
        from vllm import LLM, SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        llm = LLM(
            model=model,
            enforce_eager=True,
            dtype="float32",
            max_model_len=args.max_model_len,
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        load = time.time() - t0
        sp = SamplingParams(
            **sampling, structured_outputs=StructuredOutputsParams(json=detect_schema())
        )
        t1 = time.time()
        outs = llm.chat([r["messages"] for r in reqs], sp, use_tqdm=False)
        gen = time.time() - t1
        tin = sum(len(o.prompt_token_ids) for o in outs)
        tout = sum(len(o.outputs[0].token_ids) for o in outs)
        return {
            "variant": variant,
            "first_result_s": load,
            "generate_s": gen,
            "wall_s": time.time() - t0,
            "tokens_in": tin,
            "tokens_out": tout,
            "rows": len(outs),
            "errors": 0,
        }
    from jobs.rayrt import init_ray
    from wfcore import engines
    from wfcore.engines import vllm_proc

    if variant == "before":
        vllm_proc.cpu_engine_defaults = lambda v: {}
        vllm_proc.cpu_env_defaults = lambda v: {}
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = "2"
    cfg = config(model, args, variant)
    init_ray(cfg.ray)
    spec = engines.engine_spec(cfg, "vllm")
    first = None
    tin = tout = rows = errors = 0
    for res in engines.run_requests(spec, reqs, sampling, detect_schema()):
        now = time.time() - t0
        if first is None:
            first = now
        rows += 1
        errors += bool(res["error"])
        if now - first > 0.05:  # the first block's answers are timed in first_result_s
            tin += res["tokens_in"]
            tout += res["tokens_out"]
    wall = time.time() - t0
    return {
        "variant": variant,
        "first_result_s": first,
        "generate_s": wall - (first or 0),
        "wall_s": wall,
        "tokens_in": tin,
        "tokens_out": tout,
        "rows": rows,
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=192)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument(
        "--batch-size", type=int, default=4, help="small batches: answers arrive over time"
    )
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--model", help="an existing model folder (default: build a random one)")
    ap.add_argument("--variants", default="before,after,after+compile,after+mp,after+1thread,raw")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--_child", nargs=2, metavar=("VARIANT", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print("RESULT " + json.dumps(run_variant(args._child[0], args._child[1], args)), flush=True)
        return
    model = args.model
    if not model:
        from tests.tinymodel import build_tiny_model

        model = build_tiny_model(
            os.path.join(tempfile.mkdtemp(prefix="wf-cpubench-"), "model"),
            hidden_size=args.hidden,
            num_layers=args.layers,
            vocab_size=args.vocab,
        )
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_DROP}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=ROOT)
    out = []
    print(f"load average before: {os.getloadavg()}")
    for variant in args.variants.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--_child",
            variant,
            model,
            "--prompts",
            str(args.prompts),
            "--max-tokens",
            str(args.max_tokens),
            "--max-model-len",
            str(args.max_model_len),
            "--batch-size",
            str(args.batch_size),
        ]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode != 0 or not lines:
            print(f"{variant}: failed (exit {p.returncode})\n{p.stderr[-3000:]}")
            continue
        r = json.loads(lines[-1][7:])
        r["stalls"] = p.stderr.count("No available shared memory broadcast block")
        out.append(r)
        print(f"{variant}: done in {r['wall_s']:.1f}s", flush=True)
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(out, f, indent=2)
    print(f"load average after: {os.getloadavg()}")
    print(f"\n{args.prompts} detect prompts, max_tokens {args.max_tokens}, model {model}\n")
    print(
        f"{'variant':<14} {'first answer s':>14} {'generate s':>10} {'wall s':>7} {'prompt tok/s (gen)':>18} "
        f"{'tok/s (gen)':>11} {'rows':>5} {'errors':>6} {'shm stalls':>10}"
    )
    for r in out:
        g = max(r["generate_s"], 1e-9)
        tot = r["tokens_in"] + r["tokens_out"]
        print(
            f"{r['variant']:<14} {r['first_result_s']:>14.1f} {r['generate_s']:>10.1f} {r['wall_s']:>7.1f} "
            f"{r['tokens_in'] / g:>18,.0f} {tot / g:>11,.0f} {r['rows']:>5} "
            f"{r['errors']:>6} {r['stalls']:>10}"
        )
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
