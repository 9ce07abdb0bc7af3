"""An agent program is data: SOP, thought templates, strategy table, decoding settings.

Programs are immutable and versioned by content; optimizers return new versions that
record their parent (``evolve``), never edit one in place.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from agent.dialogue import Record, Template
from models.errors import ConfigError

BUILTIN = Path(__file__).parent / "programs"
SOP_MAX_CHARS = 1600
"""About 400 tokens: the playbook must leave the small model room for the call."""
_AI_DISCLOSURE = re.compile(
    r"\b(AI|A\.I\.|artificial intelligence|virtual assistant|automated assistant)\b", re.I
)


class StrategyEntry(Record):
    intents: list[str] = Field(min_length=1, max_length=3)
    rationale: str = Field(max_length=300)


class Decoding(Record):
    mode: Literal["learned", "single", "two-model"] = "single"
    """learned: the thought from the learned head in milliseconds, then the LLM writes only
    the response; single: thought and response in one constrained generation;
    two-model: a thought call, then a response call (as in the paper)."""
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.9, gt=0, le=1)
    max_tokens: int = Field(120, ge=16, le=1024)
    max_sentences: int = Field(2, ge=1, le=20)
    """A spoken reply ends after this many sentences (a phone answer is short)..."""
    max_words: int = Field(30, ge=5, le=300)
    """...or at the first sentence end past this many words; never mid-word or mid-figure."""
    reference_bias: float = Field(4.0, ge=0, le=20)
    """Logit bias toward "{" (a fact reference) where the backend takes one: a small
    model denied a figure by the grammar otherwise types junk words in its place
    (measured: "a waiting period of icosanoseconds" without, the sheet's wording with)."""


class AgentProgram(Record):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = ""
    """Content hash; filled in on creation."""
    parent: str | None = None
    created_by: str = "hand-written"
    domain: str = "insurance"
    agent_name: str = "Ava"
    greeting: str
    system_prompt: str
    """The frame: role, rules, output format. Placeholders: {agent_name} {company}
    {products} {templates} {playbook}."""
    sop: str = Field("", max_length=SOP_MAX_CHARS)
    """The business SOP (call playbook) an optimizer writes; shown where the system prompt
    says {playbook}. The rules and output format stay outside the optimizer's reach."""
    thought_templates: dict[Template, str]
    strategy: dict[str, StrategyEntry] = Field(default_factory=dict)
    """ISIC section letter → likely products and why."""
    strategy_line: str = (
        "Statistics say callers like this are likely interested in {intents}; "
        "rationale: {rationale}. Follow an interest the caller implies if there is one; "
        "otherwise pivot using this strategy."
    )
    sector_threshold: float = Field(0.6, ge=0, le=1)
    decoding: Decoding = Decoding()
    opt_out_reply: str = (
        "Understood. I've added your number to our do-not-call list and we won't call "
        "you again. Goodbye."
    )
    fallback_reply: str = (
        "I'd rather not quote anything I can't confirm from our product sheet. "
        "Would you like me to go through what the cover includes?"
    )
    repair_reply: str = "Sorry, could you say that again?"
    privacy_reply: str = (
        "I'm an AI assistant, and my internal notes and instructions stay private. "
        "Is there anything about your cover I can help with?"
    )

    @model_validator(mode="after")
    def _checks(self) -> AgentProgram:
        if not _AI_DISCLOSURE.search(self.greeting):
            raise ValueError("the greeting must disclose that the caller is talking to an AI")
        if self.sop and "{playbook}" not in self.system_prompt:
            raise ValueError("a program with an SOP needs {playbook} in its system prompt")
        missing = set(Template) - set(self.thought_templates)
        if missing:
            raise ValueError(f"thought templates missing: {sorted(missing)}")
        if not self.version:
            object.__setattr__(self, "version", self.content_hash())  # frozen model
        return self

    def content_hash(self) -> str:
        body = self.model_dump(mode="json", exclude={"version", "parent", "created_by"})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return "p-" + digest[:12]

    def evolve(self, created_by: str, **changes: Any) -> AgentProgram:
        """A new version with ``changes``; this one is untouched and becomes the parent."""
        data = self.model_dump(mode="json")
        data.update(changes)
        data.update(version="", parent=self.version, created_by=created_by)
        child = AgentProgram.model_validate(data)
        if child.version == self.version:
            raise ValueError("evolve() without a change would make a program its own parent")
        return child

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")


class ProgramSet(Record):
    """One program per caller segment (stratified evolution): the agent picks the
    segment's program when the call starts, from what is known about the caller.

    Segments are routed by ISIC sector (the caller's own, or its occupation's); a caller
    whose sector is unknown or unrouted gets ``default``. A plain program is a set with
    no segments.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["program-set"] = "program-set"
    default: AgentProgram
    programs: dict[str, AgentProgram] = Field(default_factory=dict)
    """Segment name → its program."""
    route: dict[str, str] = Field(default_factory=dict)
    """ISIC section letter → segment name."""

    @model_validator(mode="after")
    def _routes(self) -> ProgramSet:
        unknown = sorted(set(self.route.values()) - set(self.programs))
        if unknown:
            raise ValueError(f"route names segments without a program: {unknown}")
        return self

    @property
    def version(self) -> str:
        """A content hash over the members (a set is versioned like a program)."""
        if not self.programs:
            return self.default.version
        body = {"default": self.default.version, "route": self.route,
                "programs": {k: p.version for k, p in self.programs.items()}}
        return "s-" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    def members(self) -> list[AgentProgram]:
        seen: dict[str, AgentProgram] = {self.default.version: self.default}
        for p in self.programs.values():
            seen.setdefault(p.version, p)
        return list(seen.values())

    def segment(self, sector: str | None) -> str | None:
        return self.route.get(sector) if sector else None

    def pick(self, sector: str | None) -> AgentProgram:
        name = self.segment(sector)
        return self.programs[name] if name is not None else self.default

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n")


def load_program_set(name_or_path: str = "insurance-default") -> ProgramSet:
    """A program set file (``"kind": "program-set"``), or any program as a set of one."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"agent program {path} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and data.get("kind") == "program-set":
            try:
                return ProgramSet.model_validate(data)
            except ValidationError as exc:
                raise ConfigError(f"program set {path} is invalid: {exc}") from None
    return ProgramSet(default=load_program(name_or_path))


def load_program(name_or_path: str = "insurance-default") -> AgentProgram:
    """A built-in program by name or a JSON file."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = BUILTIN / f"{name_or_path}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.json")))
        raise ConfigError(f"agent program {name_or_path!r} not found (built in: {known})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"agent program {path} is not valid JSON: {exc}") from None
    declared = data.get("version")
    try:
        program = AgentProgram.model_validate({**data, "version": ""})
    except ValidationError as exc:
        raise ConfigError(f"agent program {path} is invalid: {exc}") from None
    if declared and declared != program.version:
        raise ConfigError(
            f"agent program {path} declares version {declared} but its content hashes to "
            f"{program.version}: it was edited by hand; remove the version field to re-stamp"
        )
    return program
