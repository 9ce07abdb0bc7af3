"""The one settings object of the application, composed from each floor's sections."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from models.config import (
    ASRSettings,
    LLMSettings,
    StrictModel,
    TTSSettings,
    VADSettings,
    default_cache_dir,
    default_data_dir,
    load_settings,
)
from models.errors import ConfigError
from voice.pipeline import PipelineConfig


class ServerSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = None
    """How callers reach this server (e.g. https://calls.example.com); used in TwiML
    and for Twilio signature checks. Default: from the request."""
    auth_token: str | None = None
    """Required in the browser protocol's start message when set."""
    allow_query_token: bool = False
    allowed_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to open calls; empty: same host only."""
    twilio_auth_token: str | None = None
    """Validates X-Twilio-Signature when set."""
    max_frame_bytes: int = Field(64 * 1024, ge=320)
    max_call_s: float = Field(900.0, gt=0)
    max_concurrent_calls: int = Field(2, ge=1)
    """Call sockets at once, counted from the moment one is accepted (waiting for its
    ``start`` or live); the rest are refused with 1013."""
    max_pending_starts: int = Field(4, ge=1)
    """Accepted sockets that may be waiting for ``start`` at once (each holds a call slot
    for up to ``start_timeout_s``): sockets that never start cannot hold every slot."""
    max_connections_per_address: int = Field(4, ge=0)
    """Call sockets from one client address at once; 0: no limit. Behind a reverse proxy
    every caller has the proxy's address unless the proxy sends X-Forwarded-For and
    uvicorn trusts it (``--forwarded-allow-ips``; 127.0.0.1 by default). Twilio streams
    whose signature is checked (``twilio_auth_token``) are not counted per address."""
    max_audio_rate: float = Field(1.5, gt=1.0)
    """Caller audio may arrive at most this many times faster than real time ..."""
    audio_burst_s: float = Field(5.0, gt=0)
    """... once this many seconds ahead of real time are used up (network jitter delivers
    audio in clumps); past it the call is closed with 4429."""
    start_timeout_s: float = Field(10.0, gt=0)
    keepalive_s: float = Field(20.0, gt=0)
    database_url: str | None = None
    """SQLAlchemy URL; default a SQLite file in the data directory."""
    record_audio: bool = False
    """Keep a WAV of both sides of every call in the data directory (written to disk as
    the call goes, not held in memory)."""
    program: str = "insurance-default"
    """The agent program of calls outside an experiment (A/B arms: ``salesvoice ab``)."""
    api_token: str | None = Field(None, repr=False)  # a secret: keep it out of logs
    """Bearer token of the operator and CRM routes (/api/..., the dashboard's data).
    Unset: only clients on this machine (loopback, not via a proxy) may use them."""


class Settings(StrictModel):
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Joined model files and verification stamps."""
    data_dir: Path = Field(default_factory=default_data_dir)
    """Call records, recordings and reports."""
    llm: LLMSettings = LLMSettings()
    asr: ASRSettings = ASRSettings()
    tts: TTSSettings = TTSSettings()
    vad: VADSettings = VADSettings()
    voice: PipelineConfig = PipelineConfig()
    server: ServerSettings = ServerSettings()

    def database_url(self) -> str:
        """Where call records live: ``server.database_url``, else SQLite in the data dir."""
        return self.server.database_url or f"sqlite:///{self.data_dir / 'calls.db'}"


_REMOVED = {
    "server.variants": "A/B arms are experiments now: create one with 'salesvoice ab create "
                       "--config experiment.toml' (docs/ab-testing.md)",
}
"""Settings that were removed, and what replaced them (said with the unknown-key error)."""


def load(path: Path | None = None) -> Settings:
    """Settings from ``path`` (or $SALESVOICE_CONFIG) plus SALESVOICE_* overrides."""
    if path is None and os.environ.get("SALESVOICE_CONFIG"):
        path = Path(os.environ["SALESVOICE_CONFIG"])
    try:
        return load_settings(Settings, path)
    except ConfigError as exc:
        hints = [hint for key, hint in _REMOVED.items() if f"unknown setting {key!r}" in str(exc)]
        if hints:
            raise ConfigError(f"{exc} ({'; '.join(hints)})") from None
        raise
