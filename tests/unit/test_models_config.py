"""Settings loading: TOML file, SALESVOICE_* overrides, and errors that name their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.config import load_settings
from models.errors import ConfigError
from server.settings import Settings


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "salesvoice.toml"
    path.write_text(text)
    return path


def test_defaults_load_without_file_or_environment() -> None:
    s = load_settings(Settings, None, environ={})
    assert s.llm.backend == "llamacpp"
    assert s.llm.max_tokens == 256
    assert s.asr.backend == "faster-whisper"
    assert s.tts.backend == "piper"
    assert s.vad.silero.model == "silero-vad"


def test_unrelated_environment_variables_are_ignored() -> None:
    s = load_settings(Settings, None, environ={"HOME": "/x", "SALESVOICEX": "1", "PATH": "/bin"})
    assert s == load_settings(Settings, None, environ={})


def test_config_file_variable_is_not_taken_for_a_setting() -> None:
    s = load_settings(Settings, None, environ={"SALESVOICE_CONFIG": "/nowhere.toml"})
    assert s.llm.backend == "llamacpp"


def test_toml_file_values_override_defaults_and_keep_other_defaults(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        '[llm]\nbackend = "openai"\nmax_tokens = 64\n\n'
        '[llm.openai]\nbase_url = "http://10.0.0.1:9000/v1"\n\n'
        '[tts]\nbackend = "espeak-ng"\n[tts.espeak_ng]\nwords_per_minute = 200\n',
    )
    s = load_settings(Settings, path, environ={})
    assert s.llm.backend == "openai"
    assert s.llm.max_tokens == 64
    assert s.llm.openai.base_url == "http://10.0.0.1:9000/v1"
    assert s.llm.openai.model == "default"
    assert s.llm.temperature == 0.7
    assert s.tts.backend == "espeak-ng"
    assert s.tts.espeak_ng.words_per_minute == 200


def test_env_override_with_double_underscore_sets_a_nested_string() -> None:
    s = load_settings(Settings, None, environ={"SALESVOICE_LLM__BACKEND": "openai"})
    assert s.llm.backend == "openai"


def test_env_overrides_are_parsed_as_typed_toml_values() -> None:
    s = load_settings(
        Settings,
        None,
        environ={
            "SALESVOICE_LLM__MAX_TOKENS": "64",
            "SALESVOICE_LLM__TOP_P": "0.5",
            "SALESVOICE_LLM__VLLM__ENABLE_PREFIX_CACHING": "false",
            "SALESVOICE_TTS__PIPER__USE_CUDA": "true",
            "SALESVOICE_LLM__LLAMACPP__SLOTS": "4",
        },
    )
    assert s.llm.max_tokens == 64
    assert s.llm.top_p == 0.5
    assert s.llm.vllm.enable_prefix_caching is False
    assert s.tts.piper.use_cuda is True
    assert s.llm.llamacpp.slots == 4


def test_env_override_names_are_case_insensitive_after_the_prefix() -> None:
    s = load_settings(Settings, None, environ={"SALESVOICE_llm__Backend": "vllm"})
    assert s.llm.backend == "vllm"


def test_env_override_wins_over_file_and_merges_with_its_section(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[llm]\nbackend = "openai"\nmax_tokens = 64\n')
    s = load_settings(Settings, path, environ={"SALESVOICE_LLM__MAX_TOKENS": "32"})
    assert s.llm.backend == "openai"
    assert s.llm.max_tokens == 32


def test_env_override_can_set_a_path_setting(tmp_path: Path) -> None:
    s = load_settings(Settings, None, environ={"SALESVOICE_CACHE_DIR": str(tmp_path)})
    assert s.cache_dir == tmp_path


def test_unknown_toml_key_is_rejected_with_its_dotted_name_and_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[llm.llamacpp]\nthreds = 4\n")
    with pytest.raises(ConfigError) as info:
        load_settings(Settings, path, environ={})
    message = str(info.value)
    assert "'llm.llamacpp.threds'" in message
    assert "unknown setting" in message
    assert str(path) in message


def test_unknown_top_level_toml_section_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[lml]\nbackend = 'openai'\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'lml'"):
        load_settings(Settings, path, environ={})


def test_unknown_env_key_is_rejected_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(Settings, None, environ={"SALESVOICE_LLM__MAX_TOKEN": "5"})
    message = str(info.value)
    assert "'llm.max_token'" in message
    assert "environment variable SALESVOICE_LLM__MAX_TOKEN" in message


def test_bad_value_type_in_env_names_the_key_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(Settings, None, environ={"SALESVOICE_LLM__MAX_TOKENS": "many"})
    message = str(info.value)
    assert "'llm.max_tokens'" in message
    assert "SALESVOICE_LLM__MAX_TOKENS" in message
    assert "integer" in message


def test_bad_value_type_in_file_names_the_key_and_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[llm]\ntemperature = "hot"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(Settings, path, environ={})
    assert "'llm.temperature'" in str(info.value)
    assert str(path) in str(info.value)


def test_out_of_range_value_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"'llm.top_p'"):
        load_settings(Settings, None, environ={"SALESVOICE_LLM__TOP_P": "1.5"})


def test_backend_outside_the_allowed_choices_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"'llm.backend'"):
        load_settings(Settings, None, environ={"SALESVOICE_LLM__BACKEND": "gpt"})


def test_several_problems_are_all_reported_at_once(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[llm]\nmax_tokens = 0\nbogus = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(Settings, path, environ={})
    assert "'llm.max_tokens'" in str(info.value)
    assert "'llm.bogus'" in str(info.value)


def test_env_variable_that_is_both_a_value_and_a_section_is_rejected() -> None:
    with pytest.raises(ConfigError, match="SALESVOICE_LLM"):
        load_settings(
            Settings, None, environ={"SALESVOICE_LLM": "1", "SALESVOICE_LLM__BACKEND": "openai"}
        )


def test_missing_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_settings(Settings, path, environ={})
    assert str(path) in str(info.value)


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[llm\nbackend = openai\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_settings(Settings, path, environ={})
    assert str(path) in str(info.value)


def test_settings_are_immutable() -> None:
    s = load_settings(Settings, None, environ={})
    with pytest.raises(ValueError, match="frozen"):
        s.llm.max_tokens = 3  # type: ignore[misc]
