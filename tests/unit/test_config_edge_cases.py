"""Settings edge cases found in review: each was a real bug once."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.config import load_settings
from models.errors import ConfigError
from server.settings import Settings


def test_numeric_looking_value_for_a_text_setting_stays_text() -> None:
    s = load_settings(Settings, None, {"SALESVOICE_LLM__OPENAI__MODEL": "7"})
    assert s.llm.openai.model == "7"


def test_numeric_setting_from_the_environment_is_converted() -> None:
    s = load_settings(Settings, None, {"SALESVOICE_LLM__LLAMACPP__SLOTS": "4"})
    assert s.llm.llamacpp.slots == 4


def test_config_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(Settings, tmp_path, {})


def test_unknown_key_inside_an_inline_table_variable_names_that_variable(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[llm]\nbackend = 'openai'\n")
    env = {"SALESVOICE_LLM__OPENAI": '{modle = "x"}'}
    with pytest.raises(ConfigError, match=r"llm\.openai\.modle.*SALESVOICE_LLM__OPENAI\)"):
        load_settings(Settings, config, env)
