"""What every call shares: the loaded models, agent programs, call store and metrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.dialogue import CallerProfile
from agent.occupation import sector_of
from agent.policy import SalesAgent
from agent.program import ProgramSet, load_program_set
from models import registry
from models.asr.base import ASR
from models.llm.base import LLM
from models.tts.base import TTS
from models.vad.base import VAD
from server.arms import ArmKit, ArmModels, LiveArms, Placement
from server.limits import Admission
from server.metrics import Metrics
from server.settings import Settings
from server.store import CallStore
from server.store_ab import ExperimentStore
from voice.greeting import GreetingCache

if TYPE_CHECKING:
    from server.calls import Call


@dataclass(slots=True)
class Hub:
    settings: Settings
    vad: VAD
    asr: ASR
    tts: TTS
    llm: LLM
    store: CallStore
    program: ProgramSet
    """The agent program (or segment set) of calls outside an A/B experiment."""
    metrics: Metrics = field(default_factory=Metrics)
    greetings: GreetingCache = field(default_factory=GreetingCache)
    calls: dict[str, Call] = field(default_factory=dict)
    """Live calls by id."""
    draining: bool = False
    completion: Callable[[str], float] | None = None
    """The turn-completion head's probability, when ``[voice] turn_head`` is on."""
    clock: Callable[[], float] = time.monotonic
    """Monotonic seconds (injected in tests): when to look at the running experiment again."""
    experiments: ExperimentStore = field(init=False)
    arms: LiveArms = field(init=False)
    """The running A/B experiment and each arm's program and models."""
    admission: Admission = field(init=False)
    """Call slots, taken when a socket is accepted (``server.limits``)."""
    _models: ArmModels = field(init=False)

    def __post_init__(self) -> None:
        srv = self.settings.server
        self.admission = Admission(srv.max_concurrent_calls, srv.max_pending_starts,
                                   srv.max_connections_per_address)
        self.experiments = ExperimentStore(self.store)
        self._models = ArmModels(self.settings, self.llm, self.tts, self.greetings)
        default = ArmKit(self.program, self.llm, self.tts, self.greetings)
        self.arms = LiveArms(self.experiments, self._models, default, self.metrics,
                             clock=self.clock)

    @classmethod
    async def create(cls, settings: Settings) -> Hub:
        """Load the models and programs, open the store, and prepare every program's
        prompt and greeting (the running experiment's arms too) so the first call answers
        at once."""
        s = settings
        vad, asr, tts, llm = await asyncio.gather(
            asyncio.to_thread(registry.build_vad, s.vad, s.cache_dir),
            asyncio.to_thread(registry.build_asr, s.asr, s.cache_dir),
            asyncio.to_thread(registry.build_tts, s.tts, s.cache_dir),
            asyncio.to_thread(registry.build_llm, s.llm, s.cache_dir),
        )
        s.data_dir.mkdir(parents=True, exist_ok=True)
        store = CallStore(s.database_url())
        hub = cls(s, vad, asr, tts, llm, store, load_program_set(s.server.program))
        if s.voice.turn_head:
            from voice.endpoint import default_turn_head

            hub.completion = (await asyncio.to_thread(default_turn_head)).probability
        await hub._models.prime(hub.arms.default)
        await hub.arms.current()
        return hub

    async def place(self, caller: CallerProfile, call_id: str, forced: str | None) -> Placement:
        """The arm of a new call (see ``LiveArms.place``); UnknownArmError when the client
        forces an arm the running experiment does not have."""
        return await self.arms.place(caller.caller_id, call_id, forced)

    def new_agent(self, caller: CallerProfile, call_id: str,
                  placement: Placement | None = None) -> SalesAgent:
        """The agent of a call in ``placement``'s arm (None: outside any experiment)."""
        placement = placement or Placement(self.arms.default)
        sector = caller.sector or sector_of(caller.occupation)
        return SalesAgent(
            placement.kit.programs.pick(sector),  # a segmented set routes by sector
            placement.kit.llm,
            caller=caller,
            session=call_id,
            do_not_call=self.store.do_not_call,
            source="live",
            variant=placement.arm,
        )

    def on_do_not_call(self, caller: CallerProfile) -> bool:
        return bool(caller.caller_id) and caller.caller_id in self.store.do_not_call

    @staticmethod
    def new_call_id() -> str:
        return uuid.uuid4().hex

    async def aclose(self) -> None:
        await self.store.aclose()
        await self._models.aclose()
        await self.llm.aclose()
        await self.asr.aclose()
        await self.tts.aclose()
