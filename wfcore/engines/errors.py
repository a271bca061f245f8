"""Reading Ray and engine errors: was it an actor death, and what is the root-cause line."""

from __future__ import annotations

import re


def is_actor_death(e: BaseException) -> bool:
    """Whether ``e`` (or an exception it wraps) says an actor died (Ray's ActorDiedError family)."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    for cur in chain(e):
        if isinstance(cur, (ActorDiedError, RayActorError, ActorUnavailableError)):
            return True
    return "ActorDiedError" in str(e) or "actor died" in str(e).lower()


def chain(e: BaseException) -> list[BaseException]:
    """``e`` and the exceptions it wraps (Ray's ``cause``, ``__cause__``, ``__context__``)."""
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cause = getattr(cur, "cause", None)
        cur = cause if isinstance(cause, BaseException) else (cur.__cause__ or cur.__context__)
    return out


def root_cause(e: BaseException) -> str:
    """The most specific line of a Ray error: the innermost ``SomeError: message`` line of its
    text (Ray puts the remote traceback in the message), else its first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(str(x) for x in chain(e)))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    causes = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:", ln)]
    return ((causes or lines or [type(e).__name__])[-1])[:400]


# Lines that say an engine failed without saying why (the reason is in the engine's own log).
GENERIC = (
    "Engine core initialization failed",
    "WorkerProc initialization failed",
    "See root cause above",
    "See stack trace for root cause",
    "EngineDeadError",
    "EngineCore encountered an issue",
    "ActorDiedError",
    "RayActorError",
    "The actor died",
)
_ERROR_LINE = re.compile(r"\b((?:[A-Za-z_][\w.]*)?(?:Error|Exception)): (.+)")


def is_generic(line: str) -> bool:
    return any(g in line for g in GENERIC)


def engine_cause(e: BaseException, since: float | None = None, logs: str | None = None) -> str:
    """The engine's own root-cause line for a failed plan.

    First the innermost error line of the exception chain; when that only says the engine failed
    (vLLM's engine core runs in its own process and reports "Engine core initialization
    failed. See root cause above"), the last specific error line the Ray worker logs of this
    session wrote since ``since`` (the engine's stderr, e.g. "ValueError: Available memory on
    node 0 ... is less than desired CPU memory utilization"); ``logs`` overrides the folder.
    """
    line = root_cause(e)
    if not is_generic(line):
        return line
    found = cause_from_logs(since, logs)
    return f"{found} (from the engine log; Ray reported: {line[:160]})" if found else line


def cause_in_log(text: str) -> str | None:
    """In one engine log: the last specific ``SomeError: message`` line before the last generic
    failure line (None when the log holds no generic failure: not the failed engine's log)."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    generic_at = [i for i, ln in enumerate(lines) if is_generic(ln)]
    if not generic_at:
        return None
    for ln in reversed(lines[: generic_at[-1]]):
        m = _ERROR_LINE.search(ln)
        if m and not is_generic(ln):
            return f"{m.group(1)}: {m.group(2).strip()}"[:400]
    return None


def cause_from_logs(
    since: float | None, logs: str | None = None, max_bytes: int = 1 << 20
) -> str | None:
    """``cause_in_log`` over this Ray session's worker logs written since ``since``, the most
    recent first (None when the logs are not on this machine, e.g. a remote cluster)."""
    import glob
    import os

    if logs is None:
        try:
            import ray._private.worker as rw

            node = rw._global_node
            logs = os.path.join(node.get_session_dir_path(), "logs") if node is not None else None
        except Exception:  # noqa: BLE001
            return None
    if not logs or not os.path.isdir(logs):
        return None
    found: list[tuple[float, str]] = []
    for path in glob.glob(os.path.join(logs, "worker-*.err")) + glob.glob(
        os.path.join(logs, "worker-*.out")
    ):
        try:
            mtime = os.path.getmtime(path)
            if since is not None and mtime < since:
                continue
            with open(path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(size - max_bytes, 0))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        cause = cause_in_log(text)
        if cause:
            found.append((mtime, cause))
    return max(found)[1] if found else None
