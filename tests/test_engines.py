"""The engine layer without an engine: CPU defaults, overrides, and reading an engine's errors."""

from __future__ import annotations

import os

from wfcore.config import Config
from wfcore.engines import engine_spec
from wfcore.engines.errors import engine_cause, root_cause
from wfcore.engines.vllm_proc import GIB, cpu_count


def _adapter(**vllm):
    cfg = Config.model_validate(
        {"vllm": {"model": "org/m", "device": "cpu", **vllm}, "detect": {"engine": "vllm"}}
    )
    return engine_spec(cfg, "vllm").adapter


def test_cpu_engine_defaults_start_small_and_use_every_core():
    a = _adapter()
    kw = a.engine_kwargs()
    assert kw["enforce_eager"] is True
    assert 0.25 * GIB <= kw["kv_cache_memory_bytes"] <= 2 * GIB
    env = a.env_vars()
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert env["OMP_NUM_THREADS"] == str(cpu_count())
    two = _adapter(concurrency=2, kv_cache_space_gib=0.5)
    assert two.engine_kwargs()["kv_cache_memory_bytes"] == GIB // 2
    assert two.env_vars()["OMP_NUM_THREADS"] == str(max(cpu_count() // 2, 1))


def test_engine_kwargs_and_env_vars_override_the_cpu_defaults():
    a = _adapter(
        engine_kwargs={"enforce_eager": False, "kv_cache_memory_bytes": None},
        env_vars={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"},
        cpu_threads=3,
    )
    assert (
        a.engine_kwargs()["enforce_eager"] is False
        and a.engine_kwargs()["kv_cache_memory_bytes"] is None
    )
    assert (
        a.env_vars()["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"
        and a.env_vars()["OMP_NUM_THREADS"] == "3"
    )


def test_gpu_engines_get_no_cpu_defaults():
    a = _adapter(device="gpu", env_vars={"X": "1"})
    assert (
        "enforce_eager" not in a.engine_kwargs()
        and "kv_cache_memory_bytes" not in a.engine_kwargs()
    )
    assert a.env_vars() == {"X": "1"}


def test_the_engine_replicas_receive_the_environment_through_ray():
    pc = _adapter(env_vars={"X": "1"}).processor_config()
    assert pc.runtime_env["env_vars"]["X"] == "1"
    assert pc.runtime_env["env_vars"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert pc.engine_kwargs["enforce_eager"] is True


def test_root_cause_is_the_innermost_specific_error_line():
    try:
        try:
            raise ValueError(
                "Available memory on node 0 (1.0/2.0 GiB) is less than desired CPU memory utilization"
            )
        except ValueError as inner:
            raise RuntimeError(
                "Engine core initialization failed. See root cause above."
            ) from inner
    except RuntimeError as e:
        assert "less than desired CPU memory utilization" in root_cause(e)
        assert "less than desired CPU memory utilization" in engine_cause(e)


def test_a_generic_engine_failure_without_logs_keeps_rays_line(tmp_path):
    # an empty log folder: this worker's Ray session may hold another test's failed engine log
    e = RuntimeError(
        "Engine core initialization failed. See root cause above. Failed core proc(s): {}"
    )
    assert engine_cause(e, since=os.path.getmtime(__file__), logs=str(tmp_path)).startswith(
        "Engine core initialization failed"
    )


# the tail of a Ray worker log of a vLLM engine whose engine core ran in its own process
ENGINE_LOG = """\
(VllmWorker-0 pid=23992) ERROR 12-01 09:56:37 [multiproc_executor.py:953]     raise ValueError(
(VllmWorker-0 pid=23992) ERROR 12-01 09:56:37 [multiproc_executor.py:953] ValueError: Available memory on node 0 \
(9.05/12.21 GiB) on startup is less than desired CPU memory utilization (0.999, 12.2 GiB).
Exception: WorkerProc initialization failed due to an exception in a background process. See stack trace for root cause.
    raise RuntimeError(
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


def test_the_cause_of_an_engine_that_died_in_its_own_process_is_read_from_its_log(tmp_path):
    from wfcore.engines.errors import cause_from_logs, cause_in_log

    assert cause_in_log(ENGINE_LOG).startswith(
        "ValueError: Available memory on node 0 (9.05/12.21 GiB)"
    )
    assert cause_in_log("ValueError: unrelated\nINFO all good\n") is None, (
        "not the failed engine's log"
    )
    (tmp_path / "worker-1.err").write_text(ENGINE_LOG)
    (tmp_path / "worker-2.err").write_text("KeyError: other worker\n")
    assert "less than desired CPU memory utilization" in cause_from_logs(None, logs=str(tmp_path))
    assert (
        cause_from_logs(os.path.getmtime(tmp_path / "worker-1.err") + 60, logs=str(tmp_path))
        is None
    )
