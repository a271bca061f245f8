"""Open a local HTML file in headless Chromium (Debian's `chromium`) and report what happened.

Driven through the DevTools protocol (one websocket, the `websockets` client): the rendered DOM
after the load event and the scripts ran, every console message and uncaught exception, and
every request the page made (a self-contained page makes none beyond its own file:// URL).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--remote-debugging-port=0",
)


@dataclass
class Rendered:
    dom: str = ""
    console: list[dict] = field(default_factory=list)  # {type, text}
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors and assertions, uncaught exceptions, browser-logged errors."""
        return (
            [
                f"console.{c['type']}: {c['text']}"
                for c in self.console
                if c["type"] in ("error", "assert")
            ]
            + self.exceptions
            + self.log_errors
        )

    def remote_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is not installed (.ci/run installs Debian's `chromium` package)")


def render(path: str, timeout: float = 60.0, settle: float = 0.3) -> Rendered:
    from websockets.sync.client import connect

    url = "file://" + os.path.abspath(path)
    out = Rendered()
    with tempfile.TemporaryDirectory(prefix="wf-chromium-") as profile:
        log = open(os.path.join(profile, "stderr.log"), "wb")
        proc = subprocess.Popen(
            [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            port = _devtools_port(profile, proc, timeout)
            ws_url = _page_target(port, timeout)
            with connect(ws_url, max_size=None, open_timeout=timeout) as ws:
                next_id = iter(range(1, 1_000_000))

                def call(method: str, **params) -> dict:
                    mid = next(next_id)
                    ws.send(json.dumps({"id": mid, "method": method, "params": params}))
                    while True:
                        msg = json.loads(ws.recv(timeout=timeout))
                        if msg.get("id") == mid:
                            if "error" in msg:
                                raise AssertionError(f"{method}: {msg['error']}")
                            return msg.get("result", {})
                        _event(msg, out)

                for domain in ("Runtime", "Log", "Network", "Page"):
                    call(f"{domain}.enable")
                call("Page.navigate", url=url)
                deadline = time.time() + timeout
                loaded = False
                while not loaded:
                    msg = json.loads(ws.recv(timeout=max(deadline - time.time(), 0.1)))
                    loaded = msg.get("method") == "Page.loadEventFired"
                    _event(msg, out)
                end = time.time() + settle
                while time.time() < end:  # late console messages
                    try:
                        _event(json.loads(ws.recv(timeout=max(end - time.time(), 0.01))), out)
                    except TimeoutError:
                        break
                res = call(
                    "Runtime.evaluate",
                    expression="document.documentElement.outerHTML",
                    returnByValue=True,
                )
                out.dom = res["result"]["value"]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
    return out


def _event(msg: dict, out: Rendered) -> None:
    method, p = msg.get("method"), msg.get("params", {})
    if method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
        out.console.append({"type": p.get("type"), "text": text})
    elif method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        out.exceptions.append(str((d.get("exception") or {}).get("description") or d.get("text")))
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        out.log_errors.append(
            f"{p['entry'].get('source')}: {p['entry'].get('text')} {p['entry'].get('url', '')}"
        )
    elif method == "Network.requestWillBeSent":
        out.requests.append(p.get("request", {}).get("url", ""))


def _devtools_port(profile: str, proc: subprocess.Popen, timeout: float) -> int:
    marker = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with {proc.returncode} before DevTools started")
        if os.path.exists(marker):
            lines = open(marker).read().split()
            if lines:
                return int(lines[0])
        time.sleep(0.05)
    raise AssertionError("chromium did not start DevTools in time")


def _page_target(port: int, timeout: float) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.05)
    raise AssertionError("chromium has no page target")
