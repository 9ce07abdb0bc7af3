"""TTS interface; backends live in submodules and are built by ``models.registry``."""

from models.tts.base import TTS, TTSCapabilities
from models.tts.fake import FakeTTS

__all__ = ["TTS", "FakeTTS", "TTSCapabilities"]
