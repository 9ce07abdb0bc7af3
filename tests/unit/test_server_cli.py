"""The salesvoice command: parses, delegates, and turns our errors into exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SALESVOICE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def test_models_list_succeeds_and_shows_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "silero-vad" in out
    assert "configured: llm=llamacpp" in out


def test_models_list_applies_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[tts]\nbackend = "espeak-ng"\n')
    assert main(["--config", str(config), "models", "list"]) == 0
    assert "tts=espeak-ng" in capsys.readouterr().out


def test_config_file_from_environment_variable_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[llm]\nbackend = "openai"\n')
    monkeypatch.setenv("SALESVOICE_CONFIG", str(config))
    assert main(["models", "list"]) == 0
    assert "llm=openai" in capsys.readouterr().out


def test_unknown_key_in_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm]\nbakend = 'openai'\n")
    assert main(["--config", str(bad), "models", "list"]) == 2
    out = capsys.readouterr().out
    assert "error:" in out
    assert "llm.bakend" in out


def test_unknown_env_override_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALESVOICE_TTS__BAKEND", "flite")
    assert main(["models", "list"]) == 2
    assert "SALESVOICE_TTS__BAKEND" in capsys.readouterr().out


def test_models_check_with_unknown_kind_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "check", "--kinds", "llm,gpu"]) == 2
    assert "unknown kind" in capsys.readouterr().out


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: salesvoice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["models", "list"], ["models", "check"], ["models", "serve-llm"], ["bench", "models"],
             ["bench", "dashboard"]]
)
def test_every_subcommand_help_has_a_worked_example(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    assert f"example: salesvoice {' '.join(argv)}" in capsys.readouterr().out


def test_config_show_says_a_secret_is_set_but_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[server]\nauth_token = "browser-f1ab3c"\n')
    monkeypatch.setenv("SALESVOICE_SERVER__TWILIO_AUTH_TOKEN", "twilio-9e7d21")
    assert main(["--config", str(config), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "browser-f1ab3c" not in out and "twilio-9e7d21" not in out
    assert "# auth_token = *** (set; not shown)" in out
    assert "# twilio_auth_token = *** (set; not shown)" in out
    assert "# api_token = (unset)" in out
    assert "allow_query_token = false" in out  # a switch named like a token, not a secret
    monkeypatch.setenv("SALESVOICE_SERVER__API_TOKEN", "api-5c0ffee")
    assert main(["--config", str(config), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "api-5c0ffee" not in out and "# api_token = *** (set; not shown)" in out


def test_config_show_hides_the_password_inside_the_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALESVOICE_SERVER__DATABASE_URL",
                       "postgresql+psycopg://sales:pg-7c1d0e@db.internal:5432/calls")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "pg-7c1d0e" not in out
    assert 'database_url = "postgresql+psycopg://sales:***@db.internal:5432/calls"' in out
