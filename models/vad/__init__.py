"""VAD interface; backends live in submodules and are built by ``models.registry``."""

from models.vad.base import VAD, VADStream
from models.vad.fake import FakeVAD

__all__ = ["VAD", "FakeVAD", "VADStream"]
