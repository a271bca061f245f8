"""A Ray head of its own on 127.0.0.1 (dashboard and job server included), for `ray job submit` tests.

Other test workers and other people's Ray runtimes run on the same machine, so the head gets
free ports and a temp dir of its own, and is stopped by the pids of its own processes (those
whose command line names that temp dir), never with a machine-wide ``ray stop``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

VENV_BIN = os.path.dirname(sys.executable)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli(
    *args: str, env: dict | None = None, cwd: str | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    """The `ray` CLI of this environment (the one a user runs), in a subprocess."""
    res = subprocess.run(
        [os.path.join(VENV_BIN, "ray"), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )
    res.stdout, res.stderr = _ANSI.sub("", res.stdout), _ANSI.sub("", res.stderr)
    if check and res.returncode != 0:
        raise AssertionError(f"ray {' '.join(args)} exited {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


class RayHead:
    """``ray start --head`` with the dashboard on 127.0.0.1; :meth:`stop` ends only its processes."""

    def __init__(self, env: dict, num_cpus: int = 4):
        # short: Ray's socket paths under the temp dir must stay under 108 bytes
        self.temp_dir = tempfile.mkdtemp(prefix="wfray-", dir="/tmp")
        self.env = {**env, "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""), "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        # Ray 2.60 heads require a token (RAY_AUTH_MODE=token); ours, not the shared ~/.ray/auth_token
        self.token = secrets.token_hex(32)
        token_path = os.path.join(self.temp_dir, "auth_token")
        with open(token_path, "w") as fh:
            fh.write(self.token)
        self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=token_path)
        self.env.pop("RAY_AUTH_TOKEN", None)
        self.dashboard_port = free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        ports = {
            "--port": free_port(),
            "--dashboard-port": self.dashboard_port,
            "--ray-client-server-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--metrics-export-port": free_port(),
            "--runtime-env-agent-port": free_port(),
        }
        args = ["start", "--head", "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
                "--include-dashboard", "true", "--temp-dir", self.temp_dir, "--num-cpus", str(num_cpus),
                "--disable-usage-stats"]
        for k, v in ports.items():
            args += [k, str(v)]
        try:
            ray_cli(*args, env=self.env, timeout=180)
            self._wait_for_job_server()
        except BaseException:
            self.stop()
            raise

    def _wait_for_job_server(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                req = urllib.request.Request(
                    self.address + "/api/jobs/", headers={"Authorization": f"Bearer {self.token}"}
                )
                with urllib.request.urlopen(req, timeout=2) as r:
                    json.load(r)
                    return
            except OSError:
                if time.time() > deadline:
                    raise TimeoutError(f"no job server at {self.address} after {timeout} s") from None
                time.sleep(0.5)

    def pids(self) -> list[int]:
        """Processes of this head: every process whose command line names its temp dir."""
        mine = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    if self.temp_dir.encode() in fh.read():
                        mine.append(int(d))
            except OSError:
                continue
        return mine

    def stop(self, timeout: float = 5) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + timeout
            while self.pids() and time.time() < deadline:
                time.sleep(0.2)
            if not self.pids():
                break
        if not self.pids():
            shutil.rmtree(self.temp_dir, ignore_errors=True)
