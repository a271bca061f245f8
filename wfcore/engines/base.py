"""The engine adapter interface and its registry (one adapter class per engine ``kind``).

An adapter turns one engine's config (``engines.NAME`` or a legacy top-level section) into what
Ray Data LLM needs: a processor config, a preprocess that builds the engine's request from a
chat request and the sampling settings, a postprocess that maps the engine's answer to one
result row, and the block size and plan size the shard loop uses. Stage code and
``run_requests`` only see this interface, so they never switch on the kind (the way
``ray.data.llm`` registers one builder per processor config).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

# tokens_cached: prompt tokens the engine served from its prefix cache (0 when it does not say)
RESULT_COLUMNS = (
    "key",
    "text",
    "tokens_in",
    "tokens_out",
    "tokens_cached",
    "finish_reason",
    "error",
)

ADAPTERS: dict[str, type[EngineAdapter]] = {}


def register(cls: type[EngineAdapter]) -> type[EngineAdapter]:
    """Class decorator: make ``cls`` the adapter of engine kind ``cls.kind``."""
    ADAPTERS[cls.kind] = cls
    return cls


class EngineDied(RuntimeError):
    """The engine of a plan died (or never started); the stage cannot go on."""


class EngineAdapter:
    """One engine kind behind one interface. Subclasses set ``kind`` and implement the hooks."""

    kind: ClassVar[str] = ""

    def __init__(self, name: str, conf: Any, key: str):
        self.name = name  # the engine's name (`detector`, or `vllm` for the legacy section)
        self.conf = conf  # its validated settings
        self.key = key  # its config key prefix, for messages (`engines.detector`, `vllm`)

    # ---- what the shard loop needs
    @property
    def model_id(self) -> str:
        return str(self.conf.model or "")

    @property
    def batch_size(self) -> int:
        """Rows per Ray Data block sent to the engine (and per engine batch)."""
        return max(int(self.conf.batch_size), 1)

    @property
    def shards_per_plan(self) -> int:
        return int(self.conf.shards_per_plan)

    @property
    def no_progress_timeout_s(self) -> float:
        """Ray Data's no-progress timeout for this engine's plans (-1: off)."""
        t = getattr(self.conf, "no_progress_timeout_s", None)
        return float(t) if t else -1.0

    @property
    def cpu_stage_num_cpus(self) -> float:
        return float(self.conf.cpu_stage_num_cpus)

    # ---- hooks
    def check(self) -> None:
        """Raise ``ConfigError`` naming the key when a setting the engine needs is missing."""

    def fingerprint_parts(self) -> dict:
        """The settings that change the engine's answers (not throughput knobs)."""
        raise NotImplementedError

    def processor_config(self):
        """The ``ray.data.llm`` processor config of this engine."""
        raise NotImplementedError

    def preprocess(self, sampling: dict, json_schema: dict | None) -> Callable[[dict], dict]:
        """A picklable callable: ``{"key", "messages": JSON text}`` row -> engine request row."""
        raise NotImplementedError

    def postprocess(self) -> Callable[[dict], dict]:
        """A picklable callable: engine output row -> result row (``RESULT_COLUMNS``)."""
        raise NotImplementedError

    def sampling(self, sampling: dict) -> dict:
        """The sampling settings this engine can honour (default: unchanged)."""
        return sampling

    def after_build(self, processor) -> None:
        """Adjust the built processor (e.g. bound engine restarts)."""

    def engine_error(self, e: BaseException, since: float | None = None) -> BaseException | None:
        """Translate a plan failure into a clear error (e.g. ``EngineDied``), or None to re-raise;
        ``since``: when the plan started (engine logs older than that are not its own)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model_id!r})"


def project(row: dict) -> dict:
    """One result schema for every row; rows that failed inside the engine bypass postprocess."""
    if row.get("__inference_error__"):
        return {
            "key": row.get("key", ""),
            "text": "",
            "tokens_in": int(row.get("num_input_tokens") or 0),
            "tokens_out": 0,
            "tokens_cached": 0,
            "finish_reason": "",
            "error": f"engine_error: {str(row['__inference_error__'])[:500]}",
        }
    return {
        c: row.get(c, "" if c in ("text", "finish_reason", "error", "key") else 0)
        for c in RESULT_COLUMNS
    }
