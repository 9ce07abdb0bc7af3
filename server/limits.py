"""Limits that hold under concurrency: admission of call sockets and the caller's audio rate.

Sans-I/O: plain counters and a token bucket, no sockets, no clock of their own. A socket
takes a ``Slot`` before its first ``await`` (so sockets opened together cannot all pass a
check made before any of them is counted) and gives it back on every exit path.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from server.protocol.errors import CloseCode, ProtocolError


class Admission:
    """Call slots, counted from the moment a socket is accepted.

    ``max_calls`` sockets at most hold a slot (waiting for ``start`` or live); of them at
    most ``max_pending`` may still be waiting for ``start``, and at most ``max_per_address``
    (0: no limit) come from one client address.
    """

    def __init__(self, max_calls: int, max_pending: int, max_per_address: int) -> None:
        self.max_calls = max_calls
        self.max_pending = max_pending
        self.max_per_address = max_per_address
        self.taken = 0
        self.pending = 0
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str | None) -> Slot:
        """A slot for a new socket from ``address`` (None: do not count per address), or
        ``ProtocolError`` 1013 saying which limit refused it."""
        if self.taken >= self.max_calls:
            raise ProtocolError(CloseCode.TRY_AGAIN_LATER,
                                f"too many concurrent calls (max {self.max_calls}); try later")
        if self.pending >= self.max_pending:
            raise ProtocolError(CloseCode.TRY_AGAIN_LATER,
                                f"too many connections waiting to start (max {self.max_pending})"
                                "; try later")
        if (address is not None and self.max_per_address
                and self._by_address[address] >= self.max_per_address):
            raise ProtocolError(CloseCode.TRY_AGAIN_LATER,
                                f"too many connections from your address "
                                f"(max {self.max_per_address}); try later")
        self.taken += 1
        self.pending += 1
        if address is not None:
            self._by_address[address] += 1
        return Slot(self, address)

    def _release(self, slot: Slot) -> None:
        self.taken -= 1
        if slot.pending:
            self.pending -= 1
        if slot.address is not None:
            self._by_address[slot.address] -= 1
            if self._by_address[slot.address] <= 0:
                del self._by_address[slot.address]


class Slot:
    """One socket's place: pending until ``started``, released once (``with`` does it)."""

    def __init__(self, admission: Admission, address: str | None) -> None:
        self._admission = admission
        self.address = address
        self.pending = True
        self.released = False

    def started(self) -> None:
        """The socket's ``start`` was accepted: it no longer waits."""
        if self.pending and not self.released:
            self.pending = False
            self._admission.pending -= 1

    def release(self) -> None:
        if not self.released:
            self._admission._release(self)
            self.released = True

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class AudioRate:
    """A token bucket over seconds of caller audio: ``rate`` seconds of audio per second of
    wall time, after a burst of ``burst_s`` (network jitter delivers audio in clumps)."""

    def __init__(self, rate: float, burst_s: float, now: float) -> None:
        self.rate = rate
        self.burst_s = burst_s
        self._tokens = burst_s
        self._at = now

    def take(self, seconds: float, now: float) -> None:
        """Count ``seconds`` of audio arriving at ``now``; ``ProtocolError`` 4429 once the
        caller has sent more than the rate allows."""
        self._tokens = min(self.burst_s, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= seconds
        if self._tokens < 0:
            raise ProtocolError(
                CloseCode.TOO_FAST,
                f"audio arrives faster than {self.rate:g}x real time "
                f"(more than {self.burst_s:g} s ahead); send it as it is captured",
            )
