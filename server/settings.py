"""The one settings object of the application, composed from each floor's sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from models.config import (
    ASRSettings,
    LLMSettings,
    StrictModel,
    TTSSettings,
    VADSettings,
    default_cache_dir,
    load_settings,
)
from voice.pipeline import PipelineConfig


class Settings(StrictModel):
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Joined model files and verification stamps."""
    llm: LLMSettings = LLMSettings()
    asr: ASRSettings = ASRSettings()
    tts: TTSSettings = TTSSettings()
    vad: VADSettings = VADSettings()
    voice: PipelineConfig = PipelineConfig()


def load(path: Path | None = None) -> Settings:
    """Settings from ``path`` (or $SALESVOICE_CONFIG) plus SALESVOICE_* overrides."""
    import os

    if path is None and os.environ.get("SALESVOICE_CONFIG"):
        path = Path(os.environ["SALESVOICE_CONFIG"])
    return load_settings(Settings, path)
