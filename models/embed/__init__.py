"""Sentence-embedding interface; the embedded CPU model is loaded by ``load_embedder``."""

from __future__ import annotations

import functools
from pathlib import Path

from models.config import default_cache_dir
from models.embed.base import Embedder, EmbedStats, Vectors
from models.embed.fake import FakeEmbedder

__all__ = ["EmbedStats", "Embedder", "FakeEmbedder", "Vectors", "load_embedder"]


@functools.lru_cache(maxsize=4)
def _load(cache_dir: Path, threads: int) -> Embedder:
    # The vendor module is imported only when the real model is asked for.
    from models.embed.minilm_onnx import MiniLMOnnxEmbedder

    return MiniLMOnnxEmbedder.packaged(cache_dir, threads=threads)


def load_embedder(cache_dir: Path | None = None, *, threads: int = 2) -> Embedder:
    """The packaged all-MiniLM-L6-v2 embedder (384-d), loaded once per process.

    ``cache_dir`` holds the verification stamps (default: the models' cache directory,
    ``Settings.cache_dir``); ``threads`` is onnxruntime's intra-op thread count. Raises
    ModelNotFoundError naming the package to install when the weights are missing.
    """
    if cache_dir is None:
        cache_dir = default_cache_dir()
    return _load(cache_dir.expanduser().resolve(), threads)
