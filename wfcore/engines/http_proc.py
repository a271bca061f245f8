"""The ``openai`` engine kind: ``ray.data.llm`` with ``HttpRequestProcessorConfig``.

Any OpenAI-compatible ``/chat/completions`` endpoint (a vLLM server fleet, a hosted API); the
JSON schema goes as ``response_format: json_schema``. The API key is read from the environment
variable named by ``api_key_env`` and travels only inside the request session object, whose
repr hides it; it is never logged or written.
"""

from __future__ import annotations

import json
import os

from .base import EngineAdapter, register


class BearerSession:
    """aiohttp session factory carrying the API key; its repr never shows the key."""

    def __init__(self, api_key: str | None, timeout_s: float):
        self._key = api_key
        self._timeout = timeout_s

    def __call__(self):
        import aiohttp

        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        return aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout)
        )

    def __repr__(self) -> str:
        return "BearerSession(api_key=***)"


class HttpPre:
    def __init__(self, model: str, sampling: dict, json_schema: dict | None):
        self.model = model
        self.sampling = sampling
        self.json_schema = json_schema

    def __call__(self, row: dict) -> dict:
        payload = {"model": self.model, "messages": json.loads(row["messages"]), **self.sampling}
        if self.json_schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": self.json_schema, "strict": True},
            }
        return {"payload": payload}


def http_post(row: dict) -> dict:
    resp = row.get("http_response") or {}
    out = {
        "key": row["key"],
        "text": "",
        "tokens_in": 0,
        "tokens_out": 0,
        "tokens_cached": 0,
        "finish_reason": "",
        "error": "",
    }
    if isinstance(resp, dict) and resp.get("choices"):
        choice = resp["choices"][0]
        out["text"] = (choice.get("message") or {}).get("content") or ""
        out["finish_reason"] = choice.get("finish_reason") or ""
        usage = resp.get("usage") or {}
        out["tokens_in"] = int(usage.get("prompt_tokens") or 0)
        out["tokens_out"] = int(usage.get("completion_tokens") or 0)
        # OpenAI's (and vLLM's, with --enable-prompt-tokens-details) prefix-cache hits
        details = usage.get("prompt_tokens_details") or {}
        out["tokens_cached"] = (
            int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        )
    else:
        err = resp.get("error") if isinstance(resp, dict) else None
        msg = (
            err.get("message")
            if isinstance(err, dict)
            else (err or resp.get("message") if isinstance(resp, dict) else None)
        )
        out["error"] = f"endpoint_error: {str(msg or resp)[:500]}"
    return out


@register
class OpenAIAdapter(EngineAdapter):
    kind = "openai"

    def check(self) -> None:
        from wfcore.config import ConfigError

        for k in ("base_url", "model"):
            if not getattr(self.conf, k):
                raise ConfigError(
                    f"config key '{self.key}.{k}' is required when a stage uses engine '{self.name}'"
                )

    def fingerprint_parts(self) -> dict:
        return {"model": self.conf.model, "base_url": self.conf.base_url}

    def processor_config(self):
        from ray.data.llm import HttpRequestProcessorConfig

        o = self.conf
        return HttpRequestProcessorConfig(
            url=o.base_url.rstrip("/") + "/chat/completions",
            batch_size=o.batch_size,
            concurrency=o.concurrency,
            qps=int(o.qps) if o.qps else None,
            max_retries=o.http_retries,
            session_factory=BearerSession(os.environ.get(o.api_key_env), o.timeout_s),
            http_request_stage={"num_cpus": self.cpu_stage_num_cpus},
        )

    def preprocess(self, sampling: dict, json_schema: dict | None):
        return HttpPre(self.model_id, sampling, json_schema)

    def postprocess(self):
        return http_post
