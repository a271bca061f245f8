"""Projected GPU cost of the model stages at corpus scale, from a run's measured tokens.

The method, per model stage (detect, preferences, respond, and evaluate when its judge is a model):

1. **Measure** on the run: prompt tokens, the prompt tokens the engine served from its prefix
   cache (vLLM's ``num_cached_tokens``), output tokens; all summed over retries.
2. **Per unit**: divide by the run's candidate turns (evaluate: by its judged held-out prompts).
3. **Scale** to the target corpus: ``conversations x (candidate turns / conversations read)``
   turns (evaluate: the held-out set such a corpus would give, capped as assemble caps it).
4. **Time on a GPU**: ``uncached prompt tokens / prompt rate + output tokens / output rate``
   per GPU for the model's size class (:data:`SIZE_CLASSES`, each with its source). Cached
   prompt tokens cost no prefill compute and are counted at zero. Adding the two times ignores
   that vLLM overlaps prefill with decoding, so the projection errs high.
5. **Cost**: GPU-hours x the price of a GPU-hour.

Pure Python: ``jobs/report.py`` gathers the run's figures and shows the result next to the funnel.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import asdict, dataclass

# NVIDIA H100 SXM datasheet: 989 TFLOP/s dense BF16 tensor throughput (1,979 with sparsity).
H100_BF16_DENSE_FLOPS = 989e12
# Assumed share of that peak a prefill batch reaches (model FLOPs utilisation).
PREFILL_MFU = 0.4
LAMBDA = (
    "Lambda, 'LLMs inference benchmarks, using vLLM' (github.com/LambdaLabsML/vllm-benchmark, "
    "benchmark_v0.md): vLLM 0.6.0, num-scheduler-steps 10, max-num-seqs 256, max-seq-len 2048, "
    "rps inf, H100-80GB-SXM"
)


def prefill_rate(params_b: float) -> float:
    """Prompt tokens/s per GPU from compute: 2 FLOPs per parameter per token at
    :data:`PREFILL_MFU` of an H100's dense BF16 peak (an assumption, not a measurement)."""
    return round(PREFILL_MFU * H100_BF16_DENSE_FLOPS / (2 * params_b * 1e9), -1)


PREFILL_SOURCE = (
    "assumption: 2 FLOPs per parameter per token at 40% of an H100 SXM's 989 TFLOP/s dense BF16 "
    "(NVIDIA datasheet), for a model of {size} parameters"
)


@dataclass(frozen=True)
class SizeClass:
    """Throughput per GPU (H100 80GB SXM) of one model size class, with where each rate comes from."""

    name: str
    max_params_b: float  # largest model (billions of parameters) in the class
    prompt_tokens_per_s: float
    output_tokens_per_s: float
    gpus_per_replica: int
    prompt_source: str
    output_source: str


SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass(
        "small",
        3.0,
        prefill_rate(3.0),
        12_000.0,
        1,
        PREFILL_SOURCE.format(size="3B"),
        "assumption: 1.5x the 8b class's measured rate (no published vLLM figure for models of "
        "3B parameters or fewer was found)",
    ),
    SizeClass(
        "8b",
        20.0,
        prefill_rate(8.0),
        8_088.35,
        1,
        PREFILL_SOURCE.format(size="8B"),
        f"measured, Llama 3.1 8B, tp=1, 5,000 prompts: 8,088.35 output tokens/s; {LAMBDA}",
    ),
    SizeClass(
        "70b",
        150.0,
        prefill_rate(70.0),
        round(3_542.88 / 4, 2),
        4,
        PREFILL_SOURCE.format(size="70B"),
        f"measured, Llama 3.1 70B, tp=4, 5,000 prompts: 3,542.88 output tokens/s over 4 GPUs; {LAMBDA}",
    ),
    SizeClass(
        "405b",
        float("inf"),
        prefill_rate(405.0),
        round(1_714.07 / 8, 2),
        8,
        PREFILL_SOURCE.format(size="405B"),
        f"measured, Llama 3.1 405B FP8, tp=8, 1,280 prompts: 1,714.07 output tokens/s over 8 GPUs; {LAMBDA}",
    ),
)
CLASS_NAMES = tuple(c.name for c in SIZE_CLASSES)


def size_class(params_b: float) -> SizeClass:
    """The smallest class whose bound holds ``params_b`` billion parameters."""
    return next(c for c in SIZE_CLASSES if params_b <= c.max_params_b)


def by_name(name: str) -> SizeClass:
    for c in SIZE_CLASSES:
        if c.name == name:
            return c
    raise KeyError(f"no model size class {name!r} (one of {', '.join(CLASS_NAMES)})")


_NAME_SIZE = re.compile(r"(?<![\w.])(?:\d+x)?(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)


def params_from_name(model: str) -> float | None:
    """Billions of parameters a model name states (``Llama-3.1-70B`` 70, ``SmolLM2-135M``
    0.135, ``Qwen2.5-0.5B-Instruct`` 0.5); None when it states none. A mixture's ``8x7B``
    reads as 7 (the experts a token passes through are what its compute scales with)."""
    found = None
    for m in _NAME_SIZE.finditer(os.path.basename(model.rstrip("/")) or model):
        value = float(m.group(1)) * (1.0 if m.group(2).lower() == "b" else 1e-3)
        found = value  # the last size in the name (``Llama-3-8B``: not the version number)
    return found


def params_from_safetensors(folder: str) -> float | None:
    """Billions of parameters in a local model folder, summed from its ``*.safetensors``
    headers (tensor shapes only; no weights are read); None when there are none."""
    if not os.path.isdir(folder):
        return None
    files = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with open(os.path.join(folder, f), "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for d in t.get("shape") or []:
                count *= int(d)
            total += count
    return total / 1e9


def model_params(model: str | None) -> tuple[float | None, str]:
    """(billions of parameters, how they are known) for a model path or name."""
    if not model:
        return None, "no model recorded"
    local = params_from_safetensors(os.path.expanduser(model))
    if local is not None:
        return local, "counted from the model folder's safetensors headers"
    named = params_from_name(model)
    if named is not None:
        return named, "read from the model's name"
    return None, "not known (set report.cost.model_size)"


@dataclass(frozen=True)
class StageTokens:
    """One model stage's measured tokens on the run, and what to divide them by."""

    stage: str
    model: str | None
    tokens_in: int  # prompt tokens, cached ones included
    tokens_cached: int  # prompt tokens served from the prefix cache
    tokens_out: int
    units: int  # candidate turns (evaluate: judged held-out prompts)
    projected_units: float  # the same unit at the target corpus size
    unit: str = "candidate turn"
    cached_recorded: bool = True  # False: the run predates recording cached tokens


def rates_for(
    size: SizeClass,
    prompt_tokens_per_s: float | None = None,
    output_tokens_per_s: float | None = None,
) -> dict:
    """The rates a projection uses: the class's, or the configured overrides (stated as such)."""
    return {
        "size_class": size.name,
        "gpus_per_replica": size.gpus_per_replica,
        "prompt_tokens_per_s": prompt_tokens_per_s or size.prompt_tokens_per_s,
        "output_tokens_per_s": output_tokens_per_s or size.output_tokens_per_s,
        "prompt_source": "config: report.cost.prompt_tokens_per_s"
        if prompt_tokens_per_s
        else size.prompt_source,
        "output_source": "config: report.cost.output_tokens_per_s"
        if output_tokens_per_s
        else size.output_source,
    }


def project_stage(t: StageTokens, rates: dict, gpu_hour_price: float) -> dict:
    """Steps 2-5 of the module docstring for one stage."""
    if t.units <= 0:
        raise ValueError(f"{t.stage}: no {t.unit}s to divide the tokens by")
    cached = min(max(t.tokens_cached, 0), t.tokens_in)
    per_unit = {
        "uncached_prompt": (t.tokens_in - cached) / t.units,
        "cached_prompt": cached / t.units,
        "output": t.tokens_out / t.units,
    }
    projected = {k: v * t.projected_units for k, v in per_unit.items()}
    seconds = (
        projected["uncached_prompt"] / rates["prompt_tokens_per_s"]
        + projected["output"] / rates["output_tokens_per_s"]
    )
    gpu_hours = seconds / 3600
    return {
        **asdict(t),
        "prefix_cache_hit_rate": round(cached / t.tokens_in, 4) if t.tokens_in else None,
        "per_unit": {k: round(v, 1) for k, v in per_unit.items()},
        "projected_tokens": {k: round(v) for k, v in projected.items()},
        "rates": rates,
        "gpu_hours": round(gpu_hours, 2),
        "cost": round(gpu_hours * gpu_hour_price, 2),
    }


def heldout_size(
    projected_feedback_turns: float,
    k: int,
    per_cluster: int,
    max_fraction: float,
    max_items: int | None = None,
    limit: int | None = None,
) -> int:
    """Held-out prompts a corpus with this many feedback turns gives (assemble's own budget,
    :func:`wfcore.heldout.item_budget`: ``k x per_cluster``, at most ``max_fraction`` of the
    feedback turns and ``max_items``), judged up to ``evaluate.limit``."""
    from .heldout import HeldoutOptions, item_budget

    opts = HeldoutOptions(
        k=k, per_cluster=per_cluster, max_fraction=max_fraction, max_items=max_items
    )
    # every projected feedback turn counts as usable: the budget, not the corpus, is the bound
    n, _, _ = item_budget(projected_feedback_turns, projected_feedback_turns, opts)
    return int(n) if limit is None else int(min(n, limit))


def project(stages: list[dict], gpu_hour_price: float) -> dict:
    """Totals over the per-stage projections (``project_stage`` results)."""
    hours = sum(s["gpu_hours"] for s in stages)
    return {
        "gpu_hours": round(hours, 2),
        "cost": round(hours * gpu_hour_price, 2),
        "gpu_hour_price": gpu_hour_price,
    }
