"""Batches: persona set x program variants x seeds x dialogues per persona, run by
parallel workers, every finished dialogue appended to the batch's store at once.

A work item's key is its dialogue id, so a rerun of the same config skips what is in the
store and duplicates nothing (kill it at any point and run it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from agent.dialogue import Dialogue
from agent.domain import DomainPack, load_domain
from agent.program import AgentProgram, load_program
from models import registry
from models.asr.base import ASR
from models.config import ASRSettings, LLMSettings, StrictModel, TTSSettings, load_toml_config
from models.errors import ConfigError
from models.llm.base import LLM, Sampling
from models.tts.base import TTS
from simulator.agents import HeadReader, Reader, RuleAgent, SimAgent, lexicon_reader
from simulator.audio import AudioChannel, AudioKeeper, LineSettings, kept_audio_dir
from simulator.persona import Persona, PersonaSampler, describe, load_personas, load_spec
from simulator.runner import Conversation, LocalConversation, is_success, run_dialogue
from simulator.store import DialogueLog
from simulator.users import (
    LLMUser,
    PlantedWorld,
    ProgrammaticUser,
    Signifier,
    UserAgent,
    load_world,
)


class PersonaSet(StrictModel):
    spec: str = "insurance"
    """Built-in spec name or a JSON file in the MADS format."""
    count: int = Field(20, ge=1)
    """Personas sampled from the spec (ignored with ``grid`` or ``file``)."""
    seed: int = 0
    grid: bool = False
    """The first paper's design: its 24 occupations x ``per_occupation`` settings."""
    per_occupation: int = Field(20, ge=1, le=24)
    file: str | None = None
    """Personas from a JSON-lines file (``salesvoice personas sample``) instead."""
    describe: bool = False
    """Have the user LLM write each persona's paragraph first (as in the first paper)."""


class UserSettings(StrictModel):
    kind: Literal["programmatic", "mads", "paper", "radio"] = "radio"
    """programmatic: planted truth, no LLM; mads / paper: the papers' role-play prompts;
    radio: the next line of a radio-play script, the customer's cue prefilled (the most
    role-stable with small models; ``simulator/roleplay.py``)."""
    world: str = "planted"
    """Planted truth for programmatic users: built-in name or TOML file."""
    signifier: Signifier = "both"
    """Personality signifier in the MADS prompt: mbti, zodiac, both, none."""
    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(60, ge=8, le=400)
    draws: Literal["shared", "per_arm"] = "shared"
    """A programmatic user's random draws (decisions, wording, line noise). shared: the
    same in every arm (common random numbers: arms part only where their agents do, the
    paired comparison's design); per_arm: drawn anew for each arm (exploration: more
    independent evidence per persona)."""


class AgentSettings(StrictModel):
    kind: Literal["llm", "rule"] = "llm"
    """llm: the product agent (SalesAgent); rule: the scripted RuleAgent (no LLM)."""
    programs: dict[str, str] = Field(default_factory=lambda: {"default": "insurance-default"})
    """Variant name → program (built-in name or JSON file). Every persona meets each."""
    share_occupation: bool = False
    """Tell the agent the caller's occupation (as the first paper's strategy arm does);
    by default it must find out, as on a live call."""
    reader: Literal["lexicon", "head"] = "lexicon"
    """How the rule agent reads the caller: phrase lists (microseconds), or the live
    agent's learned thought head (milliseconds; what the product's learned mode reads)."""


class AudioSettings(StrictModel):
    user_voice: Literal["espeak-ng", "flite"] = "espeak-ng"
    """The caller's TTS voice; the agent speaks with its own (piper by default)."""
    line: LineSettings = LineSettings()
    keep: bool = False
    """Keep each caller line as the ASR heard it (16 kHz WAV) in ``<store>.audio/``, for
    ``salesvoice dataset audio``; about 32 kB per second of speech."""


class DialInSettings(StrictModel):
    url: str = "ws://127.0.0.1:8080/ws/call"
    protocol: Literal["browser", "twilio"] = "browser"
    token_env: str | None = "SALESVOICE_CALL_TOKEN"
    """Environment variable holding the server's auth token, if it has one."""


class BatchConfig(StrictModel):
    """One batch (``salesvoice simulate --config batch.toml``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    mode: Literal["text", "audio", "dial-in"] = "text"
    dialogues_per_persona: int = Field(15, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    max_utterances: int = Field(20, ge=2, le=200)
    """Both sides counted, greeting included (the first paper: 20)."""
    workers: int = Field(2, ge=1, le=64)
    """Dialogues in flight at once (each on its own LLM slots)."""
    domain: str = "insurance"
    personas: PersonaSet = PersonaSet()
    user: UserSettings = UserSettings()
    agent: AgentSettings = AgentSettings()
    audio: AudioSettings = AudioSettings()
    dial_in: DialInSettings = DialInSettings()
    output: str | None = None
    """Store file; default ``<data_dir>/simulations/<name>/dialogues.jsonl``."""

    @model_validator(mode="after")
    def _check(self) -> BatchConfig:
        if not self.agent.programs:
            raise ValueError("agent.programs needs at least one variant")
        if self.mode == "dial-in" and self.agent.kind == "rule":
            raise ValueError("dial-in calls the server's agent; agent.kind does not apply")
        if self.audio.keep and self.mode != "audio":
            raise ValueError("audio.keep needs mode = 'audio'")
        return self

    def store_path(self, data_dir: Path) -> Path:
        if self.output:
            return Path(self.output)
        return data_dir / "simulations" / self.name / "dialogues.jsonl"


def load_batch_config(path: Path, overrides: dict[str, Any] | None = None) -> BatchConfig:
    return load_toml_config(path, BatchConfig, "batch config", overrides)


@dataclass(frozen=True, slots=True)
class WorkItem:
    persona: Persona
    variant: str
    seed: int
    index: int
    batch: str

    @property
    def id(self) -> str:
        return f"{self.batch}:{self.persona.id}:{self.variant}:s{self.seed}:k{self.index}"

    @property
    def pair(self) -> str:
        """The id without the arm: what every arm's dialogue with this persona shares."""
        return f"{self.batch}:{self.persona.id}:s{self.seed}:k{self.index}"


def plan(config: BatchConfig, personas: list[Persona]) -> list[WorkItem]:
    """Every dialogue of the batch, in a stable order."""
    return [WorkItem(p, variant, seed, k, config.name)
            for seed in config.seeds for p in personas for variant in config.agent.programs
            for k in range(config.dialogues_per_persona)]


class SimSettings(Protocol):
    """What a batch needs from the application settings."""

    cache_dir: Path
    data_dir: Path
    llm: LLMSettings
    asr: ASRSettings
    tts: TTSSettings


@dataclass
class Toolkit:
    """The models a batch runs on, built once per process (or Ray actor)."""

    config: BatchConfig
    domain: DomainPack
    programs: dict[str, AgentProgram]
    llm: LLM | None = None
    agent_tts: TTS | None = None
    user_tts: TTS | None = None
    asr: ASR | None = None
    dial_token: str | None = None
    audio_dir: Path | None = None
    """Where caller audio is kept (``[audio] keep``); None: not kept."""
    _world: PlantedWorld | None = None
    _reader: Reader | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @classmethod
    async def build(cls, config: BatchConfig, settings: SimSettings) -> Toolkit:
        programs = {v: load_program(p) for v, p in config.agent.programs.items()}
        kit = cls(config, load_domain(config.domain), programs)
        needs_llm = config.user.kind != "programmatic" or (
            config.agent.kind == "llm" and config.mode != "dial-in")
        if needs_llm:
            kit.llm = registry.build_llm(_sized_for(settings.llm, config.workers),
                                         settings.cache_dir)
            kit._closers.append(kit.llm.aclose)
            if config.agent.kind == "llm" and config.mode != "dial-in":
                from agent.policy import SalesAgent

                for program in programs.values():  # the shared prompt, into the cache
                    await kit.llm.prime(SalesAgent(program, kit.llm).prompt_prefix())
        if config.mode in ("audio", "dial-in"):
            user_voice = settings.tts.model_copy(update={"backend": config.audio.user_voice})
            kit.user_tts = registry.build_tts(user_voice, settings.cache_dir)
            kit.asr = registry.build_asr(settings.asr, settings.cache_dir)
            kit._closers += [kit.user_tts.aclose, kit.asr.aclose]
        if config.mode == "audio":
            kit.agent_tts = registry.build_tts(settings.tts, settings.cache_dir)
            kit._closers.append(kit.agent_tts.aclose)
            if config.audio.keep:
                kit.audio_dir = kept_audio_dir(config.store_path(settings.data_dir))
        if config.mode == "dial-in" and config.dial_in.token_env:
            import os

            kit.dial_token = os.environ.get(config.dial_in.token_env)
        return kit

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            await close()

    def user(self, item: WorkItem) -> UserAgent:
        u = self.config.user
        if u.kind == "programmatic":
            if self._world is None:
                self._world = load_world(u.world)
                if self.config.mode != "text":  # a real recognizer makes the errors there
                    self._world = self._world.model_copy(update={"asr_error_rate": 0.0})
            # The hidden truth is the persona's in every arm; see UserSettings.draws.
            return ProgrammaticUser(item.persona, self._world, self.domain,
                                    seed=self._draws(item),
                                    truth_seed=f"s{item.seed}:k{item.index}")
        assert self.llm is not None
        return LLMUser(item.persona, self.llm, style=u.kind, signifier=u.signifier,
                       sampling=Sampling(temperature=u.temperature, top_p=0.95,
                                         max_tokens=u.max_tokens),
                       session=item.id + "/user",
                       agent_name=self.programs[item.variant].agent_name,
                       company=self.domain.company)

    def conversation(self, item: WorkItem) -> Conversation:
        caller = item.persona.caller_profile(share_occupation=self.config.agent.share_occupation)
        if self.config.mode == "dial-in":
            from simulator.dialin import DialIn

            assert self.user_tts is not None and self.asr is not None
            d = self.config.dial_in
            return DialIn(d.url, protocol=d.protocol, caller=caller, user_tts=self.user_tts,
                          asr=self.asr, token=self.dial_token, line=self.config.audio.line,
                          seed=self._draws(item), variant=item.variant)
        agent = self._agent(item, caller)
        if self.config.mode == "audio":
            assert self.user_tts and self.agent_tts and self.asr
            return LocalConversation(agent, AudioChannel(
                user_tts=self.user_tts, agent_tts=self.agent_tts, asr=self.asr,
                line=self.config.audio.line, seed=self._draws(item),
                keep=AudioKeeper(self.audio_dir, item.id) if self.audio_dir else None))
        return LocalConversation(agent)

    def _draws(self, item: WorkItem) -> str:
        return item.pair if self.config.user.draws == "shared" else item.id

    def _agent(self, item: WorkItem, caller: Any) -> SimAgent:
        program = self.programs[item.variant]
        if self.config.agent.kind == "rule":
            if self._reader is None:
                self._reader = (HeadReader() if self.config.agent.reader == "head"
                                else lexicon_reader)
            return RuleAgent(program, domain=self.domain, caller=caller, session=item.id,
                             variant=item.variant, reader=self._reader)
        from agent.policy import SalesAgent

        assert self.llm is not None
        return SalesAgent(program, self.llm, domain=self.domain, caller=caller,
                          session=item.id, source="simulated", variant=item.variant)


def _sized_for(llm: LLMSettings, workers: int) -> LLMSettings:
    """Each dialogue in flight keeps three llama.cpp slots warm (agent, its outcome
    classifier, the user model): more slots, and context to match."""
    if llm.backend != "llamacpp":
        return llm
    lc = llm.llamacpp
    slots = max(lc.slots, 3 * workers)
    n_ctx = max(lc.n_ctx, 3072 * slots)
    return llm.model_copy(update={"llamacpp": lc.model_copy(update={"slots": slots,
                                                                   "n_ctx": n_ctx})})


async def personas_for(config: BatchConfig, llm: LLM | None) -> list[Persona]:
    p = config.personas
    if p.file:
        personas = load_personas(Path(p.file))
    else:
        sampler = PersonaSampler(load_spec(p.spec), p.seed)
        personas = sampler.paper_grid(p.per_occupation) if p.grid else sampler.sample(p.count)
    if p.describe and not p.file:
        if llm is None:
            raise ConfigError("personas.describe needs an LLM (a non-programmatic user)")
        personas = [await describe(persona, llm) for persona in personas]
    return personas


async def run_item(kit: Toolkit, item: WorkItem) -> Dialogue:
    dialogue = await run_dialogue(
        kit.conversation(item), kit.user(item),
        max_utterances=kit.config.max_utterances,
        metadata={"batch": item.batch, "persona_id": item.persona.id, "variant": item.variant,
                  "seed": item.seed, "index": item.index, "mode": kit.config.mode,
                  "user_kind": kit.config.user.kind, "agent_kind": kit.config.agent.kind,
                  "llm": kit.llm.version if kit.llm is not None else None},
    )
    dialogue.id = item.id
    dialogue.source = "simulated"
    dialogue.variant = item.variant
    if kit.config.mode != "dial-in":
        dialogue.program_version = kit.programs[item.variant].version
    if not dialogue.caller.attributes:  # dial-in: the server's record knows less
        dialogue.caller = item.persona.caller_profile()
    return dialogue


@dataclass
class BatchResult:
    planned: int
    skipped: int
    done: int = 0
    failed: int = 0
    successes: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    per_worker: dict[int, int] = field(default_factory=dict)

    @property
    def per_hour(self) -> float:
        return 3600 * self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


Progress = Callable[[BatchResult], None]
Runner = Callable[[list[WorkItem]], AsyncIterator[tuple[int, WorkItem, Dialogue | BaseException]]]


def local_runner(kit: Toolkit, workers: int) -> Runner:
    """Items run by ``workers`` asyncio tasks in this process."""

    async def run(items: list[WorkItem]) -> AsyncIterator[
            tuple[int, WorkItem, Dialogue | BaseException]]:
        queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)
        results: asyncio.Queue[tuple[int, WorkItem, Dialogue | BaseException]] = asyncio.Queue()

        async def worker(n: int) -> None:
            while not queue.empty():
                item = queue.get_nowait()
                try:
                    out: Dialogue | BaseException = await run_item(kit, item)
                except Exception as exc:  # reported; the item stays undone for a rerun
                    out = exc
                await results.put((n, item, out))

        tasks = [asyncio.create_task(worker(n)) for n in range(max(1, workers))]
        try:
            for _ in items:
                yield await results.get()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    return run


async def run_batch(
    config: BatchConfig,
    personas: list[Persona],
    log: DialogueLog,
    runner: Runner,
    *,
    progress: Progress | None = None,
) -> BatchResult:
    """Run what the store does not have yet; append each dialogue as it finishes."""
    items = plan(config, personas)
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ConfigError("two work items share an id: persona ids must be unique")
    todo = [i for i in items if i.id not in log.done]
    result = BatchResult(planned=len(items), skipped=len(items) - len(todo))
    started = time.monotonic()
    if progress:
        progress(result)
    async for worker, item, out in runner(todo):
        result.elapsed_s = time.monotonic() - started
        if isinstance(out, BaseException):
            result.failed += 1
            result.errors.append(f"{item.id}: {type(out).__name__}: {out}")
        else:
            log.append(out)
            result.done += 1
            result.successes += is_success(out)
            result.per_worker[worker] = result.per_worker.get(worker, 0) + 1
        if progress:
            progress(result)
    result.elapsed_s = time.monotonic() - started
    return result
