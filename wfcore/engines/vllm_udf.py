"""Ray Data LLM's vLLM engine stage, with each answer's prefix-cache hits.

Ray Data LLM (2.60) returns vLLM's prompt and generated token counts per row but drops
``RequestOutput.num_cached_tokens``, the prompt tokens vLLM served from its prefix cache. This
subclass adds them as a ``num_cached_tokens`` column (0 for a failed row); nothing else changes.
The model stages sum them per stage (``tokens_cached`` in the manifest), and the report's cost
projection counts only the uncached prompt tokens as prefill work.

It leans on two private names of Ray's wrapper (``vLLMEngineWrapper._generate_async``, which
returns vLLM's ``RequestOutput``, and ``vLLMEngineStageUDF._generate_with_error_handling``):
if a Ray upgrade renames them, the engine still runs and the counts are 0, with a warning.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.llm._internal.batch.stages.vllm_engine_stage import vLLMEngineStageUDF

log = logging.getLogger(__name__)

CACHED_COLUMN = "num_cached_tokens"


class vLLMEngineStageUDFCachedTokens(vLLMEngineStageUDF):  # noqa: N801 (keeps Ray's actor name)
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._cached: dict[int, int] = {}
        inner = getattr(self.llm, "_generate_async", None)
        if inner is None:
            log.warning("Ray's vLLM wrapper has no _generate_async: prefix-cache hits not recorded")
            return

        async def generate(request):
            output = await inner(request)
            self._cached[request.request_id] = int(getattr(output, "num_cached_tokens", 0) or 0)
            return output

        self.llm._generate_async = generate

    async def _generate_with_error_handling(self, row: dict, batch_uuid) -> dict:
        out = await super()._generate_with_error_handling(row, batch_uuid)
        out[CACHED_COLUMN] = self._cached.pop(out.get("request_id"), 0)
        return out
