"""The engine layer: one way for a stage to send chat requests through Ray Data to an LLM.

``run_requests`` takes request dicts ``{"key", "messages"}`` and yields one result per request,
whichever engine serves them. Engines are named in config (``engines.NAME``, or the legacy
top-level ``vllm`` / ``openai`` sections, which are the engines named ``vllm`` and ``openai``);
each has a ``kind`` served by one adapter class (``base.EngineAdapter``, registry ``ADAPTERS``):

- ``vllm`` (``vllm_proc``): ``ray.data.llm.build_processor`` with ``vLLMEngineProcessorConfig`` (chat template,
  tokenize, vLLM engine actor pool, detokenize). Structured output goes as
  ``sampling_params.structured_outputs = {"json": schema}`` (vLLM ``StructuredOutputsParams``).
- ``openai`` (``http_proc``): ``build_processor`` with ``HttpRequestProcessorConfig`` against any
  OpenAI-compatible ``/chat/completions`` endpoint (a vLLM server fleet, a hosted API); the
  schema goes as ``response_format: json_schema``.

Per-row failures (a prompt longer than the context, an endpoint's error body) come back as
results with ``error`` set, never as a dead job. The API key is read from the environment
variable named by the engine's ``api_key_env`` and travels only inside the request session
object, whose repr hides it; it is never logged or written.

Each call executes one Ray Data plan, which starts its engine actors and stops them at the end;
callers therefore send as many shards as they can through one call (``shards_per_plan``, default
64) and commit each shard as its results stream back (``jobs.modelstage.run_sharded``): one
engine start per stage and retry round, not per shard. Inside a plan the requests travel in
blocks of the engine's ``batch_size`` rows, and each block leaves the engine stage as soon as its
batch is answered, so answers flow back (and are committed, see ``jobs.modelstage``) while a
shard runs. Ray Data's no-progress guard is off for these plans unless the engine sets
``no_progress_timeout_s``: one batch of a large or CPU model can legitimately outlast it. On CPU
the ``vllm`` adapter applies defaults that make the engine start on a small machine and run at
engine speed (``vllm_proc.cpu_engine_defaults`` / ``cpu_env_defaults``; measured in
``benchmarks/cpu_engine.py``). Ray, vLLM and aiohttp are imported lazily, inside functions.

Why ``build_processor`` and not a long-lived ``vllm.LLM`` in a ``map_batches`` actor pool: the
library gives the chat-template/tokenize stages, continuous batching across Ray Data blocks,
row-level error capture and the HTTP twin for free. Its cost is fixed per plan, not per token.
Measured on an idle 2-core CPU machine (``benchmarks/llm_stages.py --conversations 100
--max-turns 3 --max-tokens 64``: 25M-parameter random model, 188 detect prompts), Ray Data ran
at 0.71x raw ``LLM.chat`` tokens/s including ``ray.init`` (0.75x without). Where the gap is:
the Ray path spends about 37 s from plan start to model load (Ray worker start, ``ray.data.llm``
and vLLM imports in the actor, then the spawned EngineCore process importing vLLM again),
against 23 s for raw vLLM's import and load. Generation itself took 87 s against raw's 79 s.
The gap therefore shrinks as a plan carries more rows, which is why one plan carries up to
``shards_per_plan`` shards: with 573 prompts (``--conversations 300``) the ratio was 1.00x
(1.02x without ``ray.init``). A pool holding ``vllm.LLM`` would still save the restarts of retry
rounds and of later stages on the same model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wfcore.config import Config, ConfigError, SamplingConfig

from . import http_proc, vllm_proc  # noqa: F401  (register the adapters)
from .base import ADAPTERS, RESULT_COLUMNS, EngineAdapter, EngineDied, project, register

__all__ = [
    "ADAPTERS",
    "RESULT_COLUMNS",
    "EngineAdapter",
    "EngineDied",
    "EngineSpec",
    "build",
    "engine_for",
    "engine_spec",
    "register",
    "run_requests",
    "sampling_dict",
    "warn_self_preference",
]

log = logging.getLogger(__name__)


@dataclass
class EngineSpec:
    """A configured engine: its name, kind, model id, and the adapter that drives it."""

    name: str
    kind: str  # "vllm" | "openai" (a key of ADAPTERS)
    model_id: str
    adapter: EngineAdapter
    cfg: Config | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shards_per_plan(self) -> int:
        return self.adapter.shards_per_plan

    @property
    def batch_size(self) -> int:
        return self.adapter.batch_size

    def fingerprint_parts(self) -> dict:
        """The engine settings that change its answers (a stage's fingerprint includes them)."""
        return self.adapter.fingerprint_parts()


def engine_spec(cfg: Config, name: str, check: bool = True) -> EngineSpec:
    """Engine ``name`` (``engines.NAME``, or the legacy ``vllm`` / ``openai`` section); with
    ``check``, fails fast with a ``ConfigError`` naming the key of a missing setting."""
    try:
        conf = cfg.engine_config(name)
    except ConfigError:
        raise ConfigError(
            f"not a configured engine: {name!r} (define it under 'engines', or use 'vllm' / 'openai')"
        ) from None
    kind = getattr(conf, "kind", None) or name
    cls = ADAPTERS.get(kind)
    if cls is None:
        raise ConfigError(
            f"config key '{cfg.engine_key(name)}.kind': no adapter for engine kind {kind!r} (known: {sorted(ADAPTERS)})"
        )
    adapter = cls(name, conf, cfg.engine_key(name))
    if check:
        adapter.check()
    return EngineSpec(name=name, kind=kind, model_id=adapter.model_id, adapter=adapter, cfg=cfg)


def engine_for(cfg: Config, name: str) -> EngineSpec:
    """The engine a stage (e.g. ``evaluate``) names in its config; same as ``engine_spec``."""
    return engine_spec(cfg, name)


def stage_engine(cfg: Config, section: str) -> EngineSpec | None:
    """The engine of stage ``section`` (``detect``, ...), or None when it runs without a model."""
    name = cfg.stage_engine(section)
    return None if name is None else engine_spec(cfg, name)


def warn_self_preference(
    judge: EngineSpec | str, candidates: Iterable[EngineSpec | str]
) -> list[str]:
    """Log a warning when the judge's model is also one of the candidates it judges (a judge
    tends to prefer its own writing); returns the matching model ids."""
    jm = judge if isinstance(judge, str) else judge.model_id
    same = sorted({c if isinstance(c, str) else c.model_id for c in candidates} & {jm})
    if same:
        log.warning(
            "the judge model %s is also a candidate it judges: expect self-preference bias "
            "(use a judge from another model family)",
            jm,
        )
    return same


def sampling_dict(s: SamplingConfig, attempt: int = 0) -> dict:
    """Sampling settings for attempt ``attempt`` (retries get a fresh seed and some temperature)."""
    d = {
        "temperature": float(s.temperature),
        "top_p": float(s.top_p),
        "max_tokens": int(s.max_tokens),
        "seed": int(s.seed),
    }
    if attempt:
        d["seed"] = int(s.seed) + attempt
        d["temperature"] = max(d["temperature"], 0.7)
    return d


def build(spec: EngineSpec, sampling: dict, json_schema: dict | None):
    """The Ray Data LLM processor for ``spec`` (not yet applied to a dataset)."""
    from ray.data.llm import build_processor

    a = spec.adapter
    small = {"num_cpus": a.cpu_stage_num_cpus}
    processor = build_processor(
        a.processor_config(),
        preprocess=a.preprocess(a.sampling(sampling), json_schema),
        postprocess=a.postprocess(),
        preprocess_map_kwargs=small,
        postprocess_map_kwargs=small,
    )
    a.after_build(processor)
    return processor


def run_requests(
    spec: EngineSpec, requests: list[dict], sampling: dict, json_schema: dict | None = None
) -> Iterator[dict]:
    """Send ``requests`` ({"key", "messages": list}) through one Ray Data plan; yield results.

    Results are dicts with ``key, text, tokens_in, tokens_out, tokens_cached, finish_reason,
    error``, streamed back as the plan produces them (in no particular order). Input order is
    kept when building the dataset, so turns of one conversation reach the engine together and
    share prefixes.
    """
    if not requests:
        return
    import time

    import ray.data

    a = spec.adapter
    started = time.time()
    rows = [
        {"key": r["key"], "messages": json.dumps(r["messages"], ensure_ascii=False)}
        for r in requests
    ]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // a.batch_size)))
    out = build(spec, sampling, json_schema)(ds).map(project, num_cpus=a.cpu_stage_num_cpus)
    # Ray Data fails a plan when no block moves for execution_no_progress_timeout_s; one engine
    # batch (or the engine start) may take longer than that and still be healthy.
    out.context.execution_no_progress_timeout_s = a.no_progress_timeout_s
    # batch_size=None: hand over each block (one engine batch) as the plan finishes it, so the
    # caller commits answers while the rest of the shard is still generating.
    try:
        for batch in out.iter_batches(batch_format="pyarrow", batch_size=None):
            yield from batch.to_pylist()
    except Exception as e:  # noqa: BLE001
        err = a.engine_error(e, started)
        if err is None:
            raise
        raise err from e
