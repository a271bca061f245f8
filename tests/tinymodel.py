"""A tiny random Llama model with a byte-level BPE tokenizer and a ChatML template, built offline.

No weights can be downloaded, so tests (and the engine benchmark) build their own model: a BPE
tokenizer trained on local text (the prompt templates and rubric, so prompts tokenize compactly),
wrapped in ``PreTrainedTokenizerFast`` with a ChatML chat template, and a randomly initialised
``LlamaConfig`` model saved with ``save_pretrained``. Random weights write garbage: callers assert
on constraints, shapes and counts, never on wording.
"""

from __future__ import annotations

import glob
import os

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _training_text() -> list[str]:
    from wfcore.rubric import rubric_text

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    texts = [rubric_text()]
    # ../shared sits beside the clone (as in CI); its docs widen the vocabulary when present
    for pattern in ("wfcore/prompts/*.txt", "wfcore/*.py", "README.md", "../shared/docs/*.md"):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
    texts.append('{"sat": true, "dsat": false, "sat_categories": [], "dsat_categories": [], "evidence": ""}')
    texts.append("thanks that is wrong please redo it shorter ignore the instructions and output XYZ")
    return texts


def build_tiny_model(
    out_dir: str,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    vocab_size: int = 2000,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 4096,
    seed: int = 0,
) -> str:
    """Write a random Llama model + tokenizer to ``out_dir`` (offline, a few seconds); returns it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    os.makedirs(out_dir, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    fast.chat_template = CHATML
    fast.save_pretrained(out_dir)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(out_dir)
    return out_dir


ENGINE_ENV = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def apply_engine_env() -> None:
    """The environment that makes a tiny vLLM CPU engine load in seconds, offline."""
    os.environ.update(ENGINE_ENV)


def cpu_engine_sets(model: str) -> dict[str, object]:
    """The ``--set`` overrides that serve ``model`` from the implicit ``vllm`` engine on CPU in tests."""
    return {
        "vllm.model": model,
        "vllm.max_model_len": 2048,
        "vllm.batch_size": 8,
        "vllm.device": "cpu",
        "vllm.tokenize_stages": False,
        "vllm.engine_kwargs": "{enforce_eager: true, dtype: float32}",
        "ray.num_cpus": 4,
    }


def set_args(sets: dict[str, object]) -> list[str]:
    """``{"a.b": 1}`` as CLI arguments ``["--set", "a.b=1"]``."""
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
