"""The simulations Algorithm 1 runs: every persona meets one or more program sets, each
batch in its own crash-safe store under ``<run>/dialogues/`` (a rerun skips what is
there).

A batch reads back only the dialogues of its own plan (``simulator.batch.plan``), whose
ids name the variant, so the caller names variants or tags by program version wherever a
rerun may meet another program (an LLM evolution rarely repeats itself). A stored
dialogue of the plan made by another program than its variant's now is refused, never
mixed in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from agent.dialogue import Dialogue
from agent.program import AgentProgram, ProgramSet
from models.errors import ConfigError, SalesvoiceError
from simulator.batch import BatchConfig, PersonaSet, Toolkit, local_runner, plan, run_batch
from simulator.persona import Persona
from simulator.store import DialogueLog

log = logging.getLogger(__name__)

Status = Callable[[str], None]
"""Progress messages (the CLI shows them under its progress bar)."""
Tick = Callable[[int, int], None]
"""Dialogues done, dialogues planned, for the current simulation."""
BatchFor = Callable[[str, PersonaSet, dict[str, str]], BatchConfig]
"""(tag, personas, variant → program file) → the batch to run."""


class Batches:
    """Runs the optimizer's batches on one toolkit (models loaded once)."""

    def __init__(self, kit: Toolkit, batch_for: BatchFor, run_dir: Path, *,
                 share_occupation: bool, status: Status, tick: Tick | None = None) -> None:
        self.kit = kit
        self.share_occupation = share_occupation
        self.batch_for = batch_for
        self.dir = run_dir
        self.status = status
        self.tick = tick

    async def simulate(self, tag: str, personas: PersonaSet, programs: dict[str, AgentProgram],
                       people: list[Persona], *,
                       draws: Literal["shared", "per_arm"] = "shared") -> list[Dialogue]:
        """Every persona meets every program in ``programs`` (the batch's variants: the
        same seeds, the same simulated users; ``draws``: ``UserSettings.draws``)."""
        files = {v: str(self.save(p)) for v, p in programs.items()}
        config = self.batch_for(tag, personas, files)
        if draws != config.user.draws:
            config = config.model_copy(update={
                "user": config.user.model_copy(update={"draws": draws})})
        self.kit.config, self.kit.programs = config, dict(programs)
        llm = self.kit.llm
        if llm is not None and config.agent.kind == "llm":
            from agent.policy import SalesAgent

            for program in programs.values():
                await llm.prime(SalesAgent(program, llm).prompt_prefix())
        planned = {item.id for item in plan(config, people)}
        with DialogueLog(self.dir / "dialogues" / f"{tag}.jsonl") as out:
            _check_programs((d for d in out.read() if d.id in planned), programs, out.path)

            def progress(r: Any) -> None:
                if self.tick:
                    self.tick(r.skipped + r.done + r.failed, r.planned)

            result = await run_batch(config, people, out,
                                     local_runner(self.kit, config.workers), progress=progress)
            dialogues = [d for d in out.read() if d.id in planned]
        if result.failed:
            self.status(f"{tag}: {result.failed} dialogues failed, e.g. {result.errors[0]}")
        if not dialogues:
            raise SalesvoiceError(f"{tag}: no dialogue completed ({result.errors[:3]})")
        return dialogues

    async def simulate_sets(self, tag: str, personas: PersonaSet, arms: dict[str, ProgramSet],
                            people: list[Persona]) -> list[Dialogue]:
        """Each persona meets every arm's program for its segment, as a live call would
        be routed: by the sector the agent is told when the call starts (none on the real
        path, so the default program). The arm names the dialogues' variant."""
        groups: dict[tuple[str, ...], list[Persona]] = {}
        for persona in people:
            sector = persona.caller_profile(share_occupation=self.share_occupation).sector
            key = tuple(s.segment(sector) or "default" for s in arms.values())
            groups.setdefault(key, []).append(persona)
        dialogues: list[Dialogue] = []
        for key, members in sorted(groups.items()):
            programs = {arm: s.programs.get(seg, s.default)
                        for (arm, s), seg in zip(arms.items(), key, strict=True)}
            name = tag if len(groups) == 1 else f"{tag}.{'-'.join(dict.fromkeys(key))}"
            dialogues += await self.simulate(name, personas, programs, members)
        return dialogues

    def save(self, program: AgentProgram | ProgramSet) -> Path:
        """The program's file under ``programs/`` (a one-program set as its program)."""
        if isinstance(program, ProgramSet) and not program.programs:
            return self.save(program.default)
        path = self.dir / "programs" / f"{program.version}.json"
        if not path.exists():
            program.save(path)
        return path


def _check_programs(stored: Iterable[Dialogue], programs: dict[str, AgentProgram],
                    path: Path) -> None:
    """ConfigError when a stored dialogue of this plan was made by another program than
    its variant runs now: the rerun would skip it and report the old program's call.
    (A dial-in call records the server's program, not the variant's: not checked.)"""
    for d in stored:
        want = programs[d.variant].version if d.variant in programs else None
        if d.metadata.get("mode") != "dial-in" and want is not None \
                and d.program_version != want:
            raise ConfigError(
                f"{path} holds {d.id} by program {d.program_version}, but variant "
                f"{d.variant!r} is now program {want}: these calls are another run's; "
                "use a new run name (or output)")
