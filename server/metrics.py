"""Prometheus metrics of the call server (own registry: no global state)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from voice.events import TurnTimings

_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge("salesvoice_active_calls", "Calls in progress", registry=r)
        self.calls = Counter("salesvoice_calls_total", "Calls ended", ["transport", "reason"],
                             registry=r)
        self.rejected = Counter("salesvoice_calls_rejected_total", "Calls refused",
                                ["reason"], registry=r)
        self.turns = Counter("salesvoice_turns_total", "Completed turns", ["interrupted"],
                             registry=r)
        self.errors = Counter("salesvoice_errors_total", "Errors by close/error code",
                              ["code"], registry=r)
        self.stage = Histogram("salesvoice_stage_seconds", "Per-stage latency of a turn",
                               ["stage"], buckets=_BUCKETS, registry=r)
        self.tasks = Gauge("salesvoice_asyncio_tasks", "Live asyncio tasks of the server "
                           "(set when /metrics is read)", registry=r)
        # process_resident_memory_bytes, process_open_fds, ...: what a soak watches.
        ProcessCollector(registry=r)

    def observe_turn(self, timings: TurnTimings, interrupted: bool) -> None:
        self.turns.labels(interrupted=str(interrupted).lower()).inc()
        for name, seconds in timings.stage_durations().items():
            self.stage.labels(stage=name).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
