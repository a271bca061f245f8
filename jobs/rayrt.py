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
    kwargs: dict = {"log_to_driver": True}
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        # Joining a cluster (under `ray job submit`, RAY_ADDRESS is set): workers get the
        # cluster's environment and the job's runtime env; forwarding the driver's variables
        # would conflict with the job's env_vars (Ray refuses to merge the two) and would copy
        # credentials into the runtime env, which Ray prints in its errors.
        ray.init(address=address, **kwargs)
    else:
        # A local runtime: its workers get these variables (credentials through the
        # environment only; never written anywhere).
        env = {k: os.environ[k] for k in _RUNTIME_ENV_VARS if k in os.environ}
        kwargs.update(runtime_env={"env_vars": env}, include_dashboard=False)
        kwargs["num_cpus"] = cfg.num_cpus or max(4, os.cpu_count() or 1)
        ray.init(**kwargs)
    configure_ray_data_output()
    return ray


def configure_ray_data_output(stream=None) -> None:
    """Ray Data's own progress: bars on a terminal; elsewhere quiet (its INFO lines, one per
    operator every few seconds, would flood CI logs and ``ray job`` output; the stage's own
    progress line reports rows instead). Its full log still goes to the session's ray-data.log."""
    import logging
    import sys

    import ray.data

    from wfcore.progress import interactive

    ctx = ray.data.DataContext.get_current()
    tty = interactive(stream or sys.stderr) and sys.stdout.isatty()
    # bars stay enabled: disabled, Ray Data warns about it; off a terminal it logs progress at
    # INFO instead of drawing bars, and the console handler below hides INFO
    ctx.enable_progress_bars = True
    ctx.print_on_execution_start = tty
    if not tty:
        # Ray Data's console handler prints INFO; its file handler keeps everything
        for h in logging.getLogger("ray.data").handlers:
            if not isinstance(h, logging.FileHandler) and type(h).__name__ != "SessionFileHandler":
                h.setLevel(logging.WARNING)
