"""What the pipeline tells its transport and its recorder: small frozen events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from models.audio import PCM

STAGES = (
    ("hangover", "speech_end", "turn_decided"),
    ("asr_final", "turn_decided", "asr_final"),
    ("llm_first_token", "asr_final", "llm_first_token"),
    ("first_clause", "llm_first_token", "first_clause_ready"),
    ("tts_first_audio", "first_clause_ready", "tts_first_audio"),
    ("audio_out", "tts_first_audio", "first_audio_out"),
)
"""The stages of voice-to-voice latency: (name, from timestamp, to timestamp)."""


@dataclass(slots=True)
class TurnTimings:
    """Monotonic timestamps of one turn (None: the stage did not happen)."""

    speech_start: float | None = None
    speech_end: float | None = None
    turn_decided: float | None = None
    end_reason: str = ""
    asr_final: float | None = None
    llm_first_token: float | None = None
    first_clause_ready: float | None = None
    tts_first_audio: float | None = None
    first_audio_out: float | None = None

    @property
    def voice_to_voice_s(self) -> float | None:
        """End of caller speech → first agent audio out."""
        if self.speech_end is None or self.first_audio_out is None:
            return None
        return self.first_audio_out - self.speech_end

    def stage_durations(self) -> dict[str, float]:
        """Seconds per stage (and voice-to-voice), for the stages that happened."""
        out = {}
        for name, start, end in (*STAGES, ("voice_to_voice", "speech_end", "first_audio_out")):
            a, b = getattr(self, start), getattr(self, end)
            if a is not None and b is not None:
                out[name] = max(0.0, b - a)
        return out

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["voice_to_voice_s"] = self.voice_to_voice_s
        return d


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """One 20 ms frame of agent audio at 16 kHz, released at playback pace."""

    pcm: PCM


@dataclass(frozen=True, slots=True)
class UserSpeechStarted:
    at: float


@dataclass(frozen=True, slots=True)
class UserTranscript:
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class AgentText:
    """A piece of the reply, sent to TTS (it is heard unless the caller interrupts)."""

    turn: int
    text: str


@dataclass(frozen=True, slots=True)
class AgentInfo:
    turn: int
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The caller barged in: agent audio stopped; flush anything buffered downstream."""

    turn: int
    at: float
    played_text: str


@dataclass(frozen=True, slots=True)
class AgentPaused:
    """Caller speech began over the agent: agent audio stopped at once; flush anything
    buffered downstream. An ``AgentResumed`` or an ``Interrupted`` follows."""

    turn: int
    at: float


@dataclass(frozen=True, slots=True)
class AgentResumed:
    """The sound over the agent was a backchannel or noise: its audio goes on."""

    turn: int
    at: float


@dataclass(frozen=True, slots=True)
class PlayoutMark:
    """The audio of one piece of the reply has been sent, up to ``position`` (samples at
    16 kHz from the start of the reply). A transport that can learn when the caller
    heard it (Twilio's echoed marks) reports that back with ``VoicePipeline.heard``."""

    turn: int
    position: int


@dataclass(frozen=True, slots=True)
class Backchannel:
    """Short caller speech during agent speech that did not interrupt."""

    text: str


@dataclass(frozen=True, slots=True)
class PipelineError:
    turn: int
    message: str


@dataclass(frozen=True, slots=True)
class TurnCompleted:
    """A finished exchange. ``agent_text`` is what the caller heard; only it enters the
    dialogue history. Turn 0 is the greeting (no user text)."""

    turn: int
    user_text: str
    agent_text: str
    agent_full_text: str
    interrupted: bool
    timings: TurnTimings
    info: Mapping[str, Any] = field(default_factory=dict)


PipelineEvent = (
    AgentAudio
    | UserSpeechStarted
    | UserTranscript
    | AgentText
    | AgentInfo
    | Interrupted
    | AgentPaused
    | AgentResumed
    | PlayoutMark
    | Backchannel
    | PipelineError
    | TurnCompleted
)
