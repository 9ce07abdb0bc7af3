"""The protocol error raised by the codecs, and the websocket close codes of the spec."""

from __future__ import annotations

from enum import IntEnum

from pydantic import ValidationError

MAX_REASON_BYTES = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8."""


class CloseCode(IntEnum):
    """Websocket close codes used by both endpoints (docs/protocol.md, "Close codes")."""

    NORMAL = 1000
    """Normal end."""
    GOING_AWAY = 1001
    """Server going away (drain on SIGTERM)."""
    UNSUPPORTED_DATA = 1003
    """A frame of the wrong kind: binary before ``start``, or text that is not JSON."""
    POLICY_VIOLATION = 1008
    """Authentication or origin refused, or the caller is on the do-not-call list."""
    MESSAGE_TOO_BIG = 1009
    """Frame larger than ``server.max_frame_bytes``."""
    INTERNAL_ERROR = 1011
    """A fault on the server's side (never bad input: that has a code of its own)."""
    TRY_AGAIN_LATER = 1013
    """Capacity: too many concurrent calls, sockets waiting for ``start``, or connections
    from one address."""
    MALFORMED = 4400
    """JSON that is not a known message, a bad field, nesting too deep, a message in the
    wrong order, or a frame the server could not decode."""
    TIMEOUT = 4408
    """No ``start`` within the start timeout, or maximum call length reached."""
    TOO_FAST = 4429
    """Caller audio arrives faster than real time allows (``server.max_audio_rate``)."""


class ProtocolError(Exception):
    """Bad input from the peer: close the socket with ``code`` and ``reason``."""

    def __init__(self, code: CloseCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def reason(self) -> str:
        """``message`` cut to fit a close frame (123 bytes of UTF-8, whole characters)."""
        data = self.message.encode("utf-8")
        if len(data) <= MAX_REASON_BYTES:
            return self.message
        return data[: MAX_REASON_BYTES - 3].decode("utf-8", errors="ignore") + "..."

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.name}={int(self.code)}, {self.message!r})"


def malformed(what: str, exc: ValidationError) -> ProtocolError:
    """A 4400 error naming each bad field of ``what`` (never echoing the values: tokens)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or what}: {err['msg']}" for err in exc.errors()
    )
    return ProtocolError(CloseCode.MALFORMED, f"bad {what}: {problems}")
