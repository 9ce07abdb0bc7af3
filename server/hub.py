"""What every call shares: the loaded models, agent programs, call store and metrics."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.compliance import MemoryDoNotCall
from agent.dialogue import CallerProfile
from agent.occupation import sector_of
from agent.policy import SalesAgent
from agent.program import ProgramSet, load_program_set
from models import registry
from models.asr.base import ASR
from models.llm.base import LLM
from models.tts.base import TTS
from models.vad.base import VAD
from server.metrics import Metrics

if TYPE_CHECKING:
    from server.calls import Call
from server.settings import Settings
from server.store import CallStore, assign_variant
from voice.greeting import MAX_GREETING_S, GreetingCache

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hub:
    settings: Settings
    vad: VAD
    asr: ASR
    tts: TTS
    llm: LLM
    store: CallStore
    programs: dict[str | None, ProgramSet]
    """Agent program (or segment set) per A/B variant (None: no variant configured)."""
    metrics: Metrics = field(default_factory=Metrics)
    greetings: GreetingCache = field(default_factory=GreetingCache)
    calls: dict[str, Call] = field(default_factory=dict)
    """Live calls by id."""
    draining: bool = False
    completion: Callable[[str], float] | None = None
    """The turn-completion head's probability, when ``[voice] turn_head`` is on."""

    @classmethod
    async def create(cls, settings: Settings) -> Hub:
        """Load the models and programs, open the store, and prepare every program's
        prompt and greeting so the first call answers at once."""
        s = settings
        vad, asr, tts, llm = await asyncio.gather(
            asyncio.to_thread(registry.build_vad, s.vad, s.cache_dir),
            asyncio.to_thread(registry.build_asr, s.asr, s.cache_dir),
            asyncio.to_thread(registry.build_tts, s.tts, s.cache_dir),
            asyncio.to_thread(registry.build_llm, s.llm, s.cache_dir),
        )
        s.data_dir.mkdir(parents=True, exist_ok=True)
        store = CallStore(s.database_url())
        programs: dict[str | None, ProgramSet] = (
            {name: load_program_set(v.program) for name, v in s.server.variants.items()}
            if s.server.variants
            else {None: load_program_set(s.server.program)}
        )
        hub = cls(s, vad, asr, tts, llm, store, programs)
        if s.voice.turn_head:
            from voice.endpoint import default_turn_head

            hub.completion = (await asyncio.to_thread(default_turn_head)).probability
        for program in {p.version: p for ps in programs.values() for p in ps.members()}.values():
            probe = SalesAgent(program, llm, do_not_call=MemoryDoNotCall())
            probe.guard.check("The first check also runs the claim head once.")
            await llm.prime(probe.prompt_prefix())
            seconds = await hub.greetings.warm(program.version, program.greeting, tts)
            if seconds > MAX_GREETING_S:
                log.warning("program %s: the greeting lasts %.1f s (over %.0f s): callers wait "
                            "that long before they can answer", program.version, seconds,
                            MAX_GREETING_S)
        return hub

    def assign(self, caller: CallerProfile, call_id: str, forced: str | None) -> str | None:
        """The A/B variant of a call: forced by the client when it names a known one,
        else by a hash of the caller id."""
        if None in self.programs:
            return None
        if forced in self.programs:
            return forced
        weights = {name: v.weight for name, v in self.settings.server.variants.items()}
        return assign_variant(caller.caller_id, weights, call_id=call_id)

    def new_agent(self, caller: CallerProfile, call_id: str, variant: str | None) -> SalesAgent:
        sector = caller.sector or sector_of(caller.occupation)
        return SalesAgent(
            self.programs[variant].pick(sector),  # a segmented set routes by sector
            self.llm,
            caller=caller,
            session=call_id,
            do_not_call=self.store.do_not_call,
            source="live",
            variant=variant,
        )

    def on_do_not_call(self, caller: CallerProfile) -> bool:
        return bool(caller.caller_id) and caller.caller_id in self.store.do_not_call

    @staticmethod
    def new_call_id() -> str:
        return uuid.uuid4().hex

    async def aclose(self) -> None:
        await self.store.aclose()
        await self.llm.aclose()
        await self.asr.aclose()
        await self.tts.aclose()
