"""The terminal client and the call-record commands against the real server."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest
from rich.console import Console

from models.audio import PCM
from server.cli import main
from server.client import run_call
from server.hub import Hub
from tests.integration.conftest import TOKEN

pytestmark = pytest.mark.real


def test_terminal_client_plays_a_wav_and_the_call_is_listed_shown_and_exported(
    server: tuple[str, Hub], librivox: list[tuple[PCM, str]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    address, hub = server
    wav = tmp_path / "caller.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(librivox[1][0].astype("<i2").tobytes())
    agent_wav = tmp_path / "agent.wav"
    for _ in range(200):  # earlier calls finish closing first
        if not hub.calls:
            break
        asyncio.run(asyncio.sleep(0.1))
    code = asyncio.run(run_call(
        f"ws://{address}/ws/call", {"caller_id": "+15550100006", "occupation": "farmer"},
        token=TOKEN, wav=wav, save_agent=agent_wav, linger_s=3.0,
        console=Console(width=200),
    ))
    assert code == 0
    out = capsys.readouterr().out
    assert "you:" in out and "agent:" in out and "voice-to-voice" in out
    with wave.open(str(agent_wav), "rb") as w:
        assert w.getnframes() > 16000  # greeting and reply were received and saved
    monkeypatch.setenv("SALESVOICE_DATA_DIR", str(hub.settings.data_dir))
    assert main(["calls", "list"]) == 0
    listing = capsys.readouterr().out
    calls = asyncio.run(hub.store.list_calls(limit=1))
    call_id = calls[0].id
    assert call_id in listing
    assert main(["calls", "show", call_id]) == 0
    assert "caller:" in capsys.readouterr().out
    export = tmp_path / "calls.jsonl"
    assert main(["calls", "export", "--out", str(export)]) == 0
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert any(d["id"] == call_id and d["source"] == "live" for d in lines)
    assert main(["calls", "show", "no-such-call"]) == 2
