"""Prompts are data: versioned template files in ``wfcore/prompts/``, rendered by one function.

A template file ``<name>.v<N>.txt`` holds blocks introduced by ``### system``, ``### user`` or
``### history``. Blocks are ``string.Template`` text (``$var``); ``$rubric`` is always available.
Static instructions and the rubric come first so that every request of a stage shares a prefix
(the engine's prefix cache reuses it); the bounded conversation context comes after them.
``### history`` splices in the conversation messages themselves (the respond stage).

The prompt version recorded on every output row is the template name plus a hash of its text,
so editing a template changes the version and invalidates the stage's committed output.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import re
import string

from .rubric import rubric_text

PROMPTS_DIR = os.path.join(os.path.dirname(__file__), "prompts")
TRUNCATION_MARKER = "[... earlier text truncated ...]"
_BLOCK = re.compile(r"^### (system|user|history)\s*$", re.MULTILINE)


@functools.cache
def template_path(name: str) -> str:
    """The newest version of template ``name`` (highest ``.v<N>``)."""
    paths = glob.glob(os.path.join(PROMPTS_DIR, f"{name}.v*.txt"))
    versions = [(int(m.group(1)), p) for p in paths if (m := re.search(r"\.v(\d+)\.txt$", p))]
    if not versions:
        raise KeyError(f"no prompt template named {name!r} in {PROMPTS_DIR}")
    return max(versions)[1]


@functools.cache
def template_text(name: str) -> str:
    with open(template_path(name), encoding="utf-8") as f:
        return f.read()


def prompt_version(name: str) -> str:
    """``<name>.v<N>-<hash of template text and rubric>``: changes whenever the prompt does."""
    version = re.search(r"\.(v\d+)\.txt$", template_path(name)).group(1)
    digest = hashlib.blake2b((template_text(name) + rubric_text()).encode("utf-8"), digest_size=6)
    return f"{name}.{version}-{digest.hexdigest()}"


def truncate_oldest(text: str, max_chars: int) -> str:
    """Keep the newest ``max_chars`` of ``text``; mark the cut at the start."""
    text = text or ""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - len(TRUNCATION_MARKER) - 1, 0)
    return TRUNCATION_MARKER + "\n" + (text[-keep:] if keep else "")


def format_context(history: list[dict] | None, max_chars: int) -> str:
    """Conversation history as ``role: content`` lines, truncated from the oldest side."""
    lines = [f"{m.get('role', '?')}: {m.get('content') or ''}" for m in history or []]
    text = "\n".join(lines) if lines else "(none)"
    return truncate_oldest(text, max_chars)


def truncate_history(history: list[dict] | None, max_chars: int) -> list[dict]:
    """Drop the oldest messages (then cut the oldest kept one) to fit ``max_chars``; marks the cut."""
    msgs = [{"role": m.get("role") or "user", "content": m.get("content") or ""} for m in history or []]
    total = 0
    kept: list[dict] = []
    for m in reversed(msgs):
        room = max_chars - total
        if room <= 0:
            break
        if len(m["content"]) > room:
            kept.append({"role": m["role"], "content": truncate_oldest(m["content"], room)})
            total = max_chars
            break
        kept.append(m)
        total += len(m["content"])
    kept.reverse()
    if len(kept) < len(msgs) and kept and not kept[0]["content"].startswith(TRUNCATION_MARKER):
        kept[0] = {"role": kept[0]["role"], "content": TRUNCATION_MARKER + "\n" + kept[0]["content"]}
    return kept


def _blocks(name: str) -> list[tuple[str, str]]:
    text = template_text(name)
    marks = list(_BLOCK.finditer(text))
    if not marks:
        raise ValueError(f"prompt template {name!r} has no '### system|user|history' block")
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((m.group(1), text[m.end() : end].strip("\n")))
    return out


def render(name: str, history: list[dict] | None = None, **vars: object) -> list[dict]:
    """Render template ``name`` into chat messages ``[{"role", "content"}, ...]``.

    Values are substituted once (``safe_substitute`` on the template only), so ``$`` or braces
    inside conversation text are never expanded. ``history`` fills a ``### history`` block.
    """
    values = {"rubric": rubric_text(), **{k: "" if v is None else str(v) for k, v in vars.items()}}
    messages: list[dict] = []
    for role, body in _blocks(name):
        if role == "history":
            messages.extend({"role": m["role"], "content": m["content"]} for m in history or [])
            continue
        missing = [
            m.group("named") or m.group("braced")
            for m in string.Template.pattern.finditer(body)
            if (m.group("named") or m.group("braced")) and (m.group("named") or m.group("braced")) not in values
        ]
        if missing:
            raise KeyError(f"prompt {name!r} needs {sorted(set(missing))}")
        messages.append({"role": role, "content": string.Template(body).substitute(values)})
    return messages
