"""Real embedded models, loaded once per test session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from models.asr import ASR
from models.audio import PCM
from models.llm import LLM
from models.registry import build_asr, build_llm, build_tts, build_vad
from models.tts import TTS
from models.vad import VAD
from optimizer.finetune import FinetuneConfig, FinetuneResult, finetune
from server.hub import Hub
from server.settings import ServerSettings, Settings, load
from tests.integration.finetune_smoke import _config, _write, sft_rows
from tests.integration.server_harness import free_port, running_server
from voice.bench import real_utterances

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load(None)


@pytest.fixture(scope="session")
def librivox() -> list[tuple[PCM, str]]:
    """Real human speech (LibriVox, Debian pocketsphinx-testdata) with transcripts."""
    if not LIBRIVOX.is_dir():
        pytest.fail(f"{LIBRIVOX} missing: apt-get install pocketsphinx-testdata (make setup)")
    return real_utterances(("librivox",))


@pytest.fixture(scope="session")
def asr(settings: Settings) -> Iterator[ASR]:
    model = build_asr(settings.asr, settings.cache_dir)
    yield model
    asyncio.run(model.aclose())


@pytest.fixture(scope="session")
def piper(settings: Settings) -> TTS:
    return build_tts(settings.tts, settings.cache_dir)


@pytest.fixture(scope="session")
def vad(settings: Settings) -> VAD:
    return build_vad(settings.vad, settings.cache_dir)


@pytest.fixture(scope="session")
def qwen(settings: Settings) -> Iterator[LLM]:
    """The default embedded LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M)."""
    model = build_llm(settings.llm, settings.cache_dir)
    yield model
    asyncio.run(model.aclose())


TOKEN = "test-token"
ORIGIN = "http://calls.example.test"


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings,
    vad: VAD, asr: ASR, piper: TTS, qwen: LLM,
) -> Iterator[tuple[str, Hub]]:
    """The real call server on loopback (token auth, origin allow-list, recordings on),
    sharing the session's loaded models."""
    port = free_port()
    s = settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("server"),
        "server": ServerSettings(
            auth_token=TOKEN, allowed_origins=[ORIGIN, f"http://127.0.0.1:{port}"],
            max_concurrent_calls=2, start_timeout_s=3, max_frame_bytes=8000,
            record_audio=True,
        ),
    })
    with running_server(s, vad, asr, piper, qwen, port) as running:
        yield running


@pytest.fixture(scope="session")
def train_stack() -> None:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"the [train] extra is not installed ({exc}): "
                    "pip install -e '.[train]' (torch==2.13.0 is a CPU build)")


@pytest.fixture(scope="session")
def xdg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG cache home shared by the session: the GGUF is dequantized once (~20 s)."""
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture(scope="session")
def sft_run(train_stack: None, xdg: Path, tmp_path_factory: pytest.TempPathFactory,
            ) -> tuple[FinetuneConfig, Path, FinetuneResult]:
    """The smoke's 8-step SFT adapter (``finetune_smoke``), trained once per session."""
    root = tmp_path_factory.mktemp("sft")
    config = _config(_write(root / "sft.jsonl", sft_rows()))
    out = root / "run"
    return config, out, finetune(config, out, xdg / "salesvoice", Console())
