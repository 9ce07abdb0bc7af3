"""ASR interface; backends live in submodules and are built by ``models.registry``."""

from models.asr.base import ASR, ASRCapabilities, ASRSession, Transcript, Word
from models.asr.fake import FakeASR

__all__ = ["ASR", "ASRCapabilities", "ASRSession", "FakeASR", "Transcript", "Word"]
