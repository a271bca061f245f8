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
