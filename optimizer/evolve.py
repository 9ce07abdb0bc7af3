"""The MADS optimization agent (EVOLUTION in its Algorithm 1): reflect on calls, rewrite the SOP.

The LLM sees the product sheet (background), the agent's fixed prompt and current Business
SOP, and a budgeted selection of calls (``optimizer.evolve_prompt``); it reflects, then
writes a complete updated SOP in the paper's "Step n / Objective / Strategic Points / Key
Notes" format. The reply is parsed and checked (``optimizer.sop``) before it becomes a new
program version. The input program is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.program import AgentProgram
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.evolve_prompt import evolution_prompt
from optimizer.judge import JudgeScores
from optimizer.sop import HEADER, EvolutionError, RemovedLine, parse_sop

CREATED_BY = "optimizer.evolve"
EVOLVE_SAMPLING = Sampling(temperature=0.7, max_tokens=900)
"""A short reflection plus an SOP at its cap (~400 tokens) fits; with a ~2,000-token
prompt it stays inside a 3,072-token context."""


@dataclass(frozen=True, slots=True)
class Evolution:
    program: AgentProgram
    """The new version; its parent is the input program's version."""
    raw: str
    """The optimizer's whole reply (reflection included)."""
    removed_lines: tuple[RemovedLine, ...]
    dialogues_used: tuple[str, ...]
    """Ids of the calls shown to the optimizer, in prompt order."""


class _StepJSON(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phase: str = Field(min_length=3, max_length=40)
    objective: str = Field(min_length=5, max_length=110)
    points: list[Annotated[str, Field(min_length=5, max_length=130)]] = Field(
        min_length=1, max_length=2)
    key_notes: str = Field(max_length=110)


class _SOPJSON(BaseModel):
    """The structured reply: small models that drift in free text still fill a schema
    (every field capped, so the output cannot be cut into invalid JSON)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"x-guidance": {"whitespace_flexible": False}})
    reflection: str = Field(max_length=400)
    steps: list[_StepJSON] = Field(min_length=3, max_length=4)


def render_sop(steps: Sequence[_StepJSON]) -> str:
    """The MADS SOP text (Step n / Objective / Strategic Points / Key Notes)."""
    lines = [HEADER]
    for n, step in enumerate(steps, 1):
        lines += [f"Step {n}: {step.phase.strip()}", f"Objective: {step.objective.strip()}",
                  "Strategic Points:", *(f"- {p.strip()}" for p in step.points)]
        if step.key_notes.strip():
            lines.append(f"Key Notes: {step.key_notes.strip()}")
    return "\n".join(lines)


class Evolver:
    """Rewrites an agent program's Business SOP from its calls (the MADS optimization agent)."""

    def __init__(
        self,
        llm: LLM,
        domain: DomainPack,
        *,
        sampling: Sampling = EVOLVE_SAMPLING,
        max_dialogues: int = 6,
        budget_chars: int = 7000,
        structured: bool = True,
    ) -> None:
        """``structured``: the SOP as constrained JSON rendered into the MADS format
        (the embedded 1.5B model echoes the calls instead of writing free-text SOPs);
        off: the paper's free-text reply, parsed."""
        self.structured = structured
        self._llm = llm
        self.domain = domain
        self._sampling = sampling
        self.max_dialogues = max_dialogues
        self.budget_chars = budget_chars

    def messages(
        self,
        program: AgentProgram,
        dialogues: Sequence[Dialogue],
        scores: Mapping[str, JudgeScores] | None = None,
        *,
        note: str = "",
    ) -> tuple[list[ChatMessage], list[Dialogue]]:
        """The optimizer's prompt within ``budget_chars`` and the calls it shows."""
        return evolution_prompt(program, dialogues, scores or {}, self.domain,
                                structured=self.structured, max_dialogues=self.max_dialogues,
                                budget_chars=self.budget_chars, note=note)

    async def evolve(
        self,
        program: AgentProgram,
        dialogues: Sequence[Dialogue],
        scores: Mapping[str, JudgeScores] | None = None,
        *,
        note: str = "",
    ) -> Evolution:
        """A new program version with the rewritten SOP; ``program`` is untouched.
        ``scores`` (by dialogue id) rank the failures and replace recorded outcomes;
        ``note`` adds an instruction (e.g. the acceptance rate against its target)."""
        if "{playbook}" not in program.system_prompt:
            raise EvolutionError(
                f"program {program.version} has no {{playbook}} in its system prompt, so an "
                "SOP would never reach the agent; add it where the playbook should go")
        messages, shown = self.messages(program, dialogues, scores, note=note)
        if self.structured:
            try:
                out = await self._llm.complete_json(messages, _SOPJSON, self._sampling)
            except SalesvoiceError as exc:
                raise EvolutionError(f"the optimizer's reply is not a valid SOP: {exc}") from exc
            raw, text, truncated = out.completion.text, render_sop(out.value.steps), False
        else:
            completion = await self._llm.complete(messages, self._sampling)
            raw = text = completion.text
            truncated = completion.finish_reason == "length"
        parsed = parse_sop(text, self.domain, truncated=truncated)
        try:
            child = program.evolve(created_by=CREATED_BY, sop=parsed.sop)
        except ValueError as exc:  # unchanged SOP, or a program without {playbook}
            raise EvolutionError(f"the new SOP cannot make a program version: {exc}",
                                 raw) from None
        return Evolution(child, raw, parsed.removed, tuple(d.id for d in shown))
