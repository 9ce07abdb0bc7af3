"""LLM interface; backends live in submodules and are built by ``models.registry``."""

from models.llm.base import (
    LLM,
    Capabilities,
    ChatMessage,
    Completion,
    JSONCompletion,
    LLMRequest,
    LLMStream,
    LLMTimings,
    RawChunk,
    Sampling,
    SamplingDefaults,
    Usage,
)
from models.llm.fake import FakeLLM, FakeReply

__all__ = [
    "LLM",
    "Capabilities",
    "ChatMessage",
    "Completion",
    "FakeLLM",
    "FakeReply",
    "JSONCompletion",
    "LLMRequest",
    "LLMStream",
    "LLMTimings",
    "RawChunk",
    "Sampling",
    "SamplingDefaults",
    "Usage",
]
