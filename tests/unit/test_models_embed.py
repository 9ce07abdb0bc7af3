"""The embedding contract (validation, shape, normalisation), exercised through FakeEmbedder."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from models.embed import Embedder, FakeEmbedder
from models.embed.minilm_onnx import MiniLMOnnxEmbedder
from models.errors import ModelNotFoundError, ModelRuntimeError


def test_rows_are_unit_float32_vectors_one_per_text() -> None:
    vectors = FakeEmbedder(dim=32).embed(["hello there", "term life cover", ""])
    assert vectors.shape == (3, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_same_text_gives_the_same_vector_in_every_embedder() -> None:
    a = FakeEmbedder().embed(["The premium is fixed."])
    b = FakeEmbedder().embed(["the premium, is FIXED"])
    np.testing.assert_array_equal(a, b)


def test_texts_sharing_words_are_closer_than_unrelated_texts() -> None:
    v = FakeEmbedder(dim=256).embed(
        ["the premium is fixed", "the premium never changes", "fishing on weekends"]
    )
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_scripted_vectors_pin_exact_texts() -> None:
    fake = FakeEmbedder(dim=2, vectors={"yes": [3.0, 4.0]})
    np.testing.assert_allclose(fake.embed(["yes"])[0], [0.6, 0.8], rtol=1e-6)


def test_scripted_vector_of_the_wrong_length_is_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        FakeEmbedder(dim=3, vectors={"yes": [1.0, 0.0]})


def test_an_empty_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one text"):
        FakeEmbedder().embed([])


def test_a_non_string_item_is_rejected_by_its_index() -> None:
    bad: list[Any] = ["fine", 3]
    with pytest.raises(TypeError, match="item 1 is int"):
        FakeEmbedder().embed(bad)


def test_a_bare_string_is_rejected_rather_than_embedded_per_letter() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        FakeEmbedder().embed("hello")


def test_stats_count_calls_and_texts() -> None:
    fake = FakeEmbedder()
    fake.embed(["a", "b"])
    fake.embed(["c"])
    assert (fake.stats.calls, fake.stats.texts) == (2, 3)
    assert fake.stats.seconds >= 0.0


class _Broken(Embedder):
    name = "broken"

    def __init__(self, result: NDArray[np.float64] | None) -> None:
        super().__init__()
        self._result = result

    @property
    def dim(self) -> int:
        return 4

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        if self._result is None:
            raise OSError("session died")
        return self._result


def test_backend_errors_become_model_runtime_errors_naming_the_backend() -> None:
    with pytest.raises(ModelRuntimeError, match="broken: OSError: session died"):
        _Broken(None).embed(["x"])


def test_a_backend_returning_the_wrong_shape_is_reported() -> None:
    with pytest.raises(ModelRuntimeError, match=r"shape \(1, 3\), expected \(1, 4\)"):
        _Broken(np.ones((1, 3))).embed(["x"])


def test_public_method_normalises_raw_backend_vectors() -> None:
    vectors = _Broken(np.array([[3.0, 0.0, 4.0, 0.0]])).embed(["x"])
    np.testing.assert_allclose(vectors, [[0.6, 0.0, 0.8, 0.0]], rtol=1e-6)


def test_a_missing_onnx_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"nope\.onnx"):
        MiniLMOnnxEmbedder(tmp_path / "nope.onnx", tmp_path / "model.zip")


def test_an_archive_without_tokenizer_json_is_reported(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded: the tokenizer is checked first")
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(ModelNotFoundError, match=r"no tokenizer\.json in .*model\.zip"):
        MiniLMOnnxEmbedder(model, archive)
