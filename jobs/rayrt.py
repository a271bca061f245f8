"""Start or join the Ray runtime (local, `ray job submit`, or a given address)."""

from __future__ import annotations

import os

from wfcore.config import RayConfig

_RUNTIME_ENV_VARS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "HF_HUB_OFFLINE",
    "VLLM_ENABLE_V1_MULTIPROCESSING",
    "VLLM_CPU_KVCACHE_SPACE",
    "PYTHONPATH",
)


def init_ray(cfg: RayConfig):
    import ray

    if ray.is_initialized():
        return ray
    # Credentials pass to workers through the environment only; never written anywhere.
    env = {k: os.environ[k] for k in _RUNTIME_ENV_VARS if k in os.environ}
    kwargs: dict = {"runtime_env": {"env_vars": env}, "log_to_driver": True, "include_dashboard": False}
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        kwargs.pop("include_dashboard")
        ray.init(address=address, **kwargs)
    else:
        kwargs["num_cpus"] = cfg.num_cpus or max(4, os.cpu_count() or 1)
        ray.init(**kwargs)
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = True
    return ray
