"""Prompts are data: versioned template files in ``wfcore/prompts/``, rendered by one function.

A template file ``<name>.v<N>.txt`` holds blocks introduced by ``### system``, ``### user`` or
``### history``. Blocks are ``string.Template`` text (``$var``); ``$rubric`` is always available.
Static instructions and the rubric come first so that every request of a stage shares a prefix
(the engine's prefix cache reuses it); the bounded conversation context comes after them.
``### history`` splices in the conversation messages themselves (the respond stage).
An addition to a stage's template (such as ``detect_preferences``, which asks the detect call for
the preference statements too) is a template of its own, appended with :func:`extend` to the
rendered messages of its role, so the base template keeps its layout and version.

The detect prompt (``detect.v2``) is laid out for prefix reuse across a conversation's turns:
the instructions and rubric, then the conversation as numbered whole messages, oldest first,
ending with the judged response and the judged user turn, then one closing line naming them
(:func:`conversation_transcript`). Every message renders the same way wherever it stands, so the
prompt of a conversation's next turn starts with this turn's prompt minus its closing line, and
the engine's prefix cache serves all of it. History over budget loses whole old messages at cut
points fixed by the conversation itself (:func:`stable_cut`), so the kept part, and with it the
shared prefix, stays the same over several consecutive turns.

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
    """The newest version of template ``name`` (highest ``.v<N>``); ``name.v<N>`` names one version."""
    if re.search(r"\.v\d+$", name):
        path = os.path.join(PROMPTS_DIR, f"{name}.txt")
        if not os.path.exists(path):
            raise KeyError(f"no prompt template {name!r} in {PROMPTS_DIR}")
        return path
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
    base = re.sub(r"\.v\d+$", "", name)
    return f"{base}.{version}-{digest.hexdigest()}"


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
    msgs = [
        {"role": m.get("role") or "user", "content": m.get("content") or ""} for m in history or []
    ]
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
        kept[0] = {
            "role": kept[0]["role"],
            "content": TRUNCATION_MARKER + "\n" + kept[0]["content"],
        }
    return kept


MIDDLE_MARKER = "[... text cut ...]"
OMITTED_MARKER = "[messages 1-{last} omitted]"
# History cut points lie this fraction of the history budget apart (see ``stable_cut``).
CUT_SPACING = 0.5


def clip_middle(text: str | None, max_chars: int) -> str:
    """At most ``max_chars`` of ``text``: its start and its end, the cut marked in the middle
    (feedback usually opens a user turn; a response's end is what the user read last)."""
    text = text or ""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - len(MIDDLE_MARKER) - 2, 0)
    head, tail = keep - keep // 2, keep // 2
    return text[:head] + "\n" + MIDDLE_MARKER + "\n" + (text[-tail:] if tail else "")


def message_block(number: int, role: str | None, content: str | None, max_chars: int) -> str:
    """One transcript message: a blank line, ``[number] role:``, its text (clipped). The same
    message renders the same way in every turn's prompt, judged or history."""
    return f"\n[{number}] {role or 'user'}:\n{clip_middle(content, max_chars)}\n"


def stable_cut(lengths: list[int], budget: int, spacing: int) -> int:
    """Index of the first kept message, so that ``sum(lengths[cut:]) <= budget``.

    The cut lies on a cut point: message ``j`` is one when it is the first to start at or after
    a multiple of ``spacing`` (in characters from the conversation's start). Cut points depend
    only on the messages before them, so they stay where they are as the conversation grows, and
    the cut moves (to the next cut point that fits) only when the kept part outgrows the budget:
    consecutive turns keep the same first message, hence the same prompt prefix, until then.
    When no cut point fits (a message longer than ``spacing`` straddles several), the fewest
    whole messages are dropped instead.
    """
    total = sum(lengths)
    if total <= budget:
        return 0
    spacing = max(int(spacing), 1)
    start, fallback = 0, None
    for j, n in enumerate(lengths):
        if j and start // spacing > (start - lengths[j - 1]) // spacing and total - start <= budget:
            return j
        if fallback is None and total - start <= budget:
            fallback = j
        start += n
    return fallback if fallback is not None else len(lengths)


def conversation_transcript(
    history: list[dict] | None, response: str | None, user_message: str | None, max_chars: int
) -> tuple[str, int, int]:
    """The numbered transcript of a candidate turn, and the numbers of its judged response and
    user turn (the last two messages).

    Each message is clipped to ``max_chars``; the history's message texts (before the judged
    response) are kept within ``max_chars`` by dropping whole old messages at stable cut points (``stable_cut``,
    cut points ``CUT_SPACING * max_chars`` apart), the drop marked by one line naming the
    omitted messages. Message numbers count from the conversation's first message, so they do
    not change when old messages are dropped.
    """
    msgs = [(m.get("role") or "user", m.get("content") or "") for m in history or []]
    lengths = [len(clip_middle(content, max_chars)) for _, content in msgs]
    cut = stable_cut(lengths, max_chars, int(CUT_SPACING * max_chars))
    n = len(msgs)
    parts = ["\n" + OMITTED_MARKER.format(last=cut) + "\n"] if cut else []
    parts += [
        message_block(i + 1, role, content, max_chars)
        for i, (role, content) in enumerate(msgs)
        if i >= cut
    ]
    parts.append(message_block(n + 1, "assistant", response, max_chars))
    parts.append(message_block(n + 2, "user", user_message, max_chars))
    return "".join(parts), n + 1, n + 2


def layout_version() -> str:
    """Hash of the transcript layout (the code and constants of ``conversation_transcript``):
    part of the detect fingerprint, so a layout change recomputes the stage like a template change."""
    import inspect

    parts = [
        inspect.getsource(f)
        for f in (clip_middle, message_block, stable_cut, conversation_transcript)
    ]
    parts += [MIDDLE_MARKER, OMITTED_MARKER, repr(CUT_SPACING)]
    return hashlib.blake2b("\0".join(parts).encode("utf-8"), digest_size=6).hexdigest()


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
            if (m.group("named") or m.group("braced"))
            and (m.group("named") or m.group("braced")) not in values
        ]
        if missing:
            raise KeyError(f"prompt {name!r} needs {sorted(set(missing))}")
        messages.append({"role": role, "content": string.Template(body).substitute(values)})
    return messages


def extend(messages: list[dict], name: str, **vars: object) -> list[dict]:
    """``messages`` with each block of template ``name`` appended to the first message of the
    same role (a new line apart): additions to the system message stay in the shared prefix."""
    out = [dict(m) for m in messages]
    for add in render(name, **vars):
        target = next((m for m in out if m["role"] == add["role"]), None)
        if target is None:
            raise ValueError(f"prompt {name!r} extends a {add['role']!r} message the base prompt does not have")
        target["content"] = target["content"].rstrip("\n") + "\n\n" + add["content"]
    return out
