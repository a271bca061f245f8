"""Shared session fixtures. Keep this minimal: only fixtures several test files use."""

import os
import socket
import subprocess
import sys
import time

import pytest

# ---------------------------------------------------------------- parallel runs (pytest-xdist)

# `make test` runs two workers with ``--dist loadfile`` (each file on one worker, so module
# fixtures are built once; ``loadgroup`` cannot be used: pytest-xdist 3.8 sets the group suffix on
# ``Item._nodeid``, which pytest 9 no longer reads). The longest files go first, with
# ``--no-loadscope-reorder``, so neither worker idles at the end.
_LONGEST_FIRST = ("test_pipeline_vllm", "test_pipeline", "test_cluster", "test_model_stages", "test_prepare", "test_http_engine")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.module.__name__.rsplit(".", 1)[-1]
        return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file is kept


# ---------------------------------------------------------------- object storage (real S3 protocol)

_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto) on 127.0.0.1 for the whole session; yields its endpoint.

    Sets AWS_ENDPOINT_URL and dummy credentials in the environment (restored afterwards), so
    boto3, smart-open, pyarrow.fs and wfcore.storage all talk to it. Create a bucket per test
    (names of 3+ characters), e.g. ``boto3.client("s3").create_bucket(Bucket="my-bucket")``.
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {**_S3_ENV, "AWS_ENDPOINT_URL": endpoint}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


# ---------------------------------------------------------------- model stages (tiny vLLM model, Ray)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random Llama model + BPE tokenizer with a ChatML template, built offline once."""
    from tests.tinymodel import apply_engine_env, build_tiny_model

    apply_engine_env()
    return build_tiny_model(str(tmp_path_factory.mktemp("tiny-model")))


@pytest.fixture(scope="session")
def ray_runtime():
    """One local Ray runtime per session (4 logical CPUs: the model stages need them)."""
    from tests.tinymodel import apply_engine_env

    apply_engine_env()
    from jobs.rayrt import init_ray
    from wfcore.config import RayConfig

    ray = init_ray(RayConfig(num_cpus=4))
    yield ray
    ray.shutdown()


# ---------------------------------------------------------------- Spark Connect (a real server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory):
    """A real Spark Connect server on 127.0.0.1, started from pyspark's own sbin script; yields
    its ``sc://`` URL. Its Python workers get this environment (PYTHONPATH included)."""
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    port = _free_port()
    work = tmp_path_factory.mktemp("connect")
    env = dict(
        os.environ,
        SPARK_HOME=home,
        SPARK_LOG_DIR=str(work),
        SPARK_PID_DIR=str(work),
        SPARK_IDENT_STRING=f"wftest{port}",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    conf = {
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.driver.memory": "1g",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.coalescePartitions.minPartitionSize": "1b",
    }
    args = [os.path.join(home, "sbin", "start-connect-server.sh"), "--master", "local[2]"]
    for k, v in conf.items():
        args += ["--conf", f"{k}={v}"]
    subprocess.run(args, env=env, check=True, capture_output=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    logs = "".join(
                        open(os.path.join(work, f)).read()[-2000:] for f in os.listdir(work) if f.endswith(".out")
                    )
                    raise RuntimeError(f"Spark Connect server did not start:\n{logs}") from None
                time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run([os.path.join(home, "sbin", "stop-connect-server.sh")], env=env, capture_output=True)
