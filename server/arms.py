"""A/B arms on the live server: the running experiment and what each arm's calls run on.

At a call's start the hub asks ``LiveArms.place`` for the call's arm. The running
experiment is read from the store at most every ``POLL_S`` seconds (``salesvoice ab``
changes it from another process). The first time an experiment is seen, each arm's
program set is loaded and primed (prompt prefix in the LLM, greeting synthesized), and
an arm's ``llm`` / ``tts`` overrides build models of their own: once per distinct
settings, shared by arms that agree, and the server's own models where they match.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from agent.compliance import MemoryDoNotCall
from agent.policy import SalesAgent
from agent.program import ProgramSet, load_program_set
from models import registry
from models.llm.base import LLM
from models.tts.base import TTS
from server.experiments import Assignment, Experiment, assign_call
from server.metrics import Metrics
from server.settings import Settings
from server.store_ab import ExperimentRecord, ExperimentStore
from voice.greeting import MAX_GREETING_S, GreetingCache

log = logging.getLogger(__name__)
POLL_S = 2.0
"""How long a call start trusts the last look at the running experiment."""
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ArmKit:
    """What the calls of one arm (or of no experiment) run on."""

    programs: ProgramSet
    llm: LLM
    tts: TTS
    greetings: GreetingCache
    """Greetings synthesized by ``tts`` (its own cache: the cache knows voices by class)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """A call's arm: its kit, and the assignment to record (None outside an experiment)."""

    kit: ArmKit
    experiment: str | None = None
    epoch: int = 0
    assignment: Assignment | None = None

    @property
    def arm(self) -> str | None:
        return self.assignment.arm if self.assignment is not None else None


@dataclass(frozen=True, slots=True)
class _Live:
    record: ExperimentRecord
    kits: dict[str, ArmKit]


class ArmModels:
    """The models of arm settings: the server's own where an arm changes nothing, else
    built on first use and kept (keyed by the merged settings) until ``aclose``."""

    def __init__(self, settings: Settings, llm: LLM, tts: TTS, greetings: GreetingCache) -> None:
        self._settings = settings
        self._llms: dict[str, LLM] = {settings.llm.model_dump_json(): llm}
        self._tts: dict[str, tuple[TTS, GreetingCache]] = {
            settings.tts.model_dump_json(): (tts, greetings)}
        self._own = {id(llm), id(tts)}
        self._primed: set[tuple[str, int, int]] = set()

    async def kit(self, programs: ProgramSet, llm_over: Mapping[str, Any] | None,
                  tts_over: Mapping[str, Any] | None) -> ArmKit:
        """The kit of an arm running ``programs`` with these overrides, primed."""
        s = self._settings
        llm_settings = _merged(s.llm, llm_over)
        llm_key = llm_settings.model_dump_json()
        if llm_key not in self._llms:
            self._llms[llm_key] = await asyncio.to_thread(registry.build_llm, llm_settings,
                                                          s.cache_dir)
        tts_settings = _merged(s.tts, tts_over)
        tts_key = tts_settings.model_dump_json()
        if tts_key not in self._tts:
            built = await asyncio.to_thread(registry.build_tts, tts_settings, s.cache_dir)
            self._tts[tts_key] = (built, GreetingCache())
        tts, greetings = self._tts[tts_key]
        kit = ArmKit(programs, self._llms[llm_key], tts, greetings)
        await self.prime(kit)
        return kit

    async def prime(self, kit: ArmKit) -> None:
        """Prepare each program of ``kit`` so its first call answers at once: the claim
        head loaded, the prompt prefix in the LLM's cache, the greeting synthesized."""
        for program in kit.programs.members():
            key = (program.version, id(kit.llm), id(kit.tts))
            if key in self._primed:
                continue
            probe = SalesAgent(program, kit.llm, do_not_call=MemoryDoNotCall())
            probe.guard.check("The first check also runs the claim head once.")
            await kit.llm.prime(probe.prompt_prefix())
            seconds = await kit.greetings.warm(program.version, program.greeting, kit.tts)
            if seconds > MAX_GREETING_S:
                log.warning("program %s: the greeting lasts %.1f s (over %.0f s): callers wait "
                            "that long before they can answer", program.version, seconds,
                            MAX_GREETING_S)
            self._primed.add(key)

    async def aclose(self) -> None:
        """Close the models built for arms (the server's own are the hub's to close)."""
        for llm in self._llms.values():
            if id(llm) not in self._own:
                await llm.aclose()
        for tts, _ in self._tts.values():
            if id(tts) not in self._own:
                await tts.aclose()


class LiveArms:
    """The running experiment as calls see it, and the arm of each new call."""

    def __init__(self, store: ExperimentStore, models: ArmModels, default: ArmKit,
                 metrics: Metrics, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._models = models
        self.default = default
        """The kit of calls outside an experiment (``[server] program``)."""
        self._metrics = metrics
        self._clock = clock
        self._lock = asyncio.Lock()
        self._looked_at: float | None = None
        self._live: _Live | None = None
        self._prepared: dict[str, dict[str, ArmKit]] = {}
        self._failed: set[str] = set()

    async def current(self) -> _Live | None:
        """The running experiment with its arms' kits (None: none runs, or it failed to
        prepare), read again from the store once the last look is ``POLL_S`` old."""
        async with self._lock:  # calls starting together look (and prepare) once
            now = self._clock()
            if self._looked_at is None or now - self._looked_at >= POLL_S:
                record = await self._store.running()
                self._live = None if record is None else await self._prepare(record)
                self._looked_at = now
            return self._live

    async def place(self, caller_id: str | None, call_id: str, forced: str | None) -> Placement:
        """The arm of a new call: by the running experiment's hash of the caller (of the
        call id without one), or ``forced`` by the client (QA). UnknownArmError when
        ``forced`` is no arm of the running experiment; no experiment: no arm."""
        live = await self.current()
        if live is None:
            return Placement(self.default)
        record = live.record
        chosen = assign_call(record.spec, record.weights, caller_id, call_id, forced)
        return Placement(live.kits[chosen.arm], record.name, record.epoch, chosen)

    async def _prepare(self, record: ExperimentRecord) -> _Live | None:
        # Keyed by the spec, not the name alone: a name may come back with other arms.
        key = record.spec.model_dump_json()
        if key in self._failed:
            return None
        if key not in self._prepared:
            try:
                self._prepared[key] = await self._kits(record.spec)
            except Exception:
                # Calls go on outside the experiment rather than fail; said once, loudly.
                self._failed.add(key)
                self._metrics.errors.labels(code="experiment").inc()
                log.exception("experiment %r cannot be prepared: its calls get no arm until "
                              "the server restarts (fix the arm, then restart)", record.name)
                return None
            log.info("experiment %r: arms %s ready", record.name,
                     ", ".join(a.name for a in record.spec.arms))
        return _Live(record, self._prepared[key])

    async def _kits(self, experiment: Experiment) -> dict[str, ArmKit]:
        kits: dict[str, ArmKit] = {}
        for arm in experiment.arms:
            programs = await asyncio.to_thread(load_program_set, arm.program)
            kits[arm.name] = await self._models.kit(programs, arm.llm, arm.tts)
        return kits


def _merged(base: _M, over: Mapping[str, Any] | None) -> _M:
    """``base`` with the (nested) keys of ``over`` replaced, validated again."""
    if not over:
        return base
    return type(base).model_validate(_deep_merge(base.model_dump(), over))


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (_deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict)
                  else v)
    return out
