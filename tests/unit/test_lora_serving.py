"""Serving a tuned model: the ``lora`` setting, the adapter stamp checks, the version string,
and evaluate arms that change the LLM. No model is loaded here (the checks run first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.config import LlamaCppSettings, LLMSettings, StrictModel, load_settings
from models.errors import ConfigError, IntegrityError, ModelNotFoundError
from models.llm.llamacpp import LORA_STAMP_FORMAT, model_version, verified_lora
from models.registry import build_llm, llm_version
from models.weights import sha256_file
from simulator.evaluate_run import Arm, EvaluateConfig, llm_groups

BASE_SHA = "b" * 64


class LLMSettingsRoot(StrictModel):
    """A settings root holding only ``[llm]``, as the app's settings do."""

    llm: LLMSettings = LLMSettings()


def _adapter(tmp_path: Path, base_sha: str = BASE_SHA, body: bytes = b"GGUF lora") -> Path:
    lora = tmp_path / "tuned.gguf"
    lora.write_bytes(body)
    stamp = {"format": LORA_STAMP_FORMAT, "gguf_sha256": sha256_file(lora),
             "base": {"ref": "smollm2-135m-instruct-q4_1", "kind": "gguf", "sha256": base_sha}}
    (tmp_path / "tuned.gguf.json").write_text(json.dumps(stamp))
    return lora


def test_lora_setting_is_optional_and_typos_are_refused(tmp_path: Path) -> None:
    assert LlamaCppSettings().lora is None
    cfg = tmp_path / "c.toml"
    cfg.write_text('[llm.llamacpp]\nlora = "x.gguf"\nlora_scale = 0.5\n')
    s = load_settings(LLMSettingsRoot, cfg, environ={})
    assert (s.llm.llamacpp.lora, s.llm.llamacpp.lora_scale) == ("x.gguf", 0.5)
    env = {"SALESVOICE_LLM__LLAMACPP__LORA": "/a/y.gguf"}
    assert load_settings(LLMSettingsRoot, None, environ=env).llm.llamacpp.lora == "/a/y.gguf"
    cfg.write_text('[llm.llamacpp]\nloras = "x.gguf"\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'llm.llamacpp.loras'"):
        load_settings(LLMSettingsRoot, cfg, environ={})


def test_a_stamped_adapter_on_its_base_is_accepted(tmp_path: Path) -> None:
    lora = _adapter(tmp_path)
    adapter = verified_lora(lora, BASE_SHA, 0.5)
    assert adapter.sha256 == sha256_file(lora) and adapter.scale == 0.5


def test_missing_adapter_or_stamp_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="finetune export"):
        verified_lora(tmp_path / "nope.gguf", BASE_SHA)
    lora = _adapter(tmp_path)
    (tmp_path / "tuned.gguf.json").unlink()
    with pytest.raises(IntegrityError, match="not an adapter exported"):
        verified_lora(lora, BASE_SHA)
    (tmp_path / "tuned.gguf.json").write_text('{"format": "other"')
    with pytest.raises(IntegrityError, match="missing or unreadable"):
        verified_lora(lora, BASE_SHA)


def test_corrupted_adapter_is_refused(tmp_path: Path) -> None:
    lora = _adapter(tmp_path)
    lora.write_bytes(b"GGUF lorA")
    with pytest.raises(IntegrityError, match="altered or damaged"):
        verified_lora(lora, BASE_SHA)


def test_adapter_of_another_base_is_refused(tmp_path: Path) -> None:
    lora = _adapter(tmp_path, base_sha="c" * 64)
    with pytest.raises(IntegrityError, match=r"trained on base 'smollm2-135m.*cccccccccccc.*"
                                             r"bbbbbbbbbbbb"):
        verified_lora(lora, BASE_SHA)


def test_build_llm_checks_the_adapter_against_the_base_file_before_loading(
        tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"not really a model")
    lora = _adapter(tmp_path, base_sha="c" * 64)
    settings = LLMSettings(llamacpp=LlamaCppSettings(model=str(base), lora=str(lora)))
    with pytest.raises(IntegrityError, match="trained on base"):
        build_llm(settings, tmp_path / "cache")
    # The base file's sha256 is remembered (keyed by size and mtime) for the next load.
    assert sha256_file(base) in (tmp_path / "cache" / "verified.json").read_text()


def test_version_names_the_base_and_the_adapter_sha(tmp_path: Path) -> None:
    lora = _adapter(tmp_path)
    sha = sha256_file(lora)
    assert model_version("qwen") == "llamacpp:qwen"
    assert model_version("qwen", sha) == f"llamacpp:qwen+lora-{sha[:12]}"
    assert model_version("qwen", sha, 0.5) == f"llamacpp:qwen+lora-{sha[:12]}x0.5"
    settings = LLMSettings(llamacpp=LlamaCppSettings(model="qwen", lora=str(lora)))
    assert llm_version(settings) == f"llamacpp:qwen+lora-{sha[:12]}"
    assert llm_version(LLMSettings(backend="openai")) == "openai:default"


def test_evaluate_arms_that_change_the_llm_run_as_separate_groups() -> None:
    config = EvaluateConfig(name="tuned", arms={
        "base": "insurance-default",
        "tuned": Arm(llm={"llamacpp": {"lora": "t.gguf"}}),
        "tuned-single": Arm(set={"decoding.mode": "single"},
                            llm={"llamacpp": {"lora": "t.gguf"}}),
    })
    groups = llm_groups(config, LLMSettings(temperature=0.3))
    assert [arms for _, arms in groups] == [["base"], ["tuned", "tuned-single"]]
    assert groups[0][0].llamacpp.lora is None
    assert groups[1][0].llamacpp.lora == "t.gguf" and groups[1][0].temperature == 0.3
    bad = EvaluateConfig(name="bad", arms={"a": "insurance-default",
                                           "b": Arm(llm={"llamacpp": {"lroa": "t"}})})
    with pytest.raises(ConfigError, match="arm 'b'"):
        llm_groups(bad, LLMSettings())
