"""Chain-of-Attitude (MADS §3.1): the attitude states, and one state per caller round.

A constrained LLM call labels a dialogue: exactly one state per caller round with the
caller's words as evidence, then whether the caller finally accepted. Labels are stored
on the user turns, so a dialogue (a live call too) is classified once. How varied the
changes between states are is measured in ``optimizer.attitude_stats`` and drawn in
``optimizer.attitude_report``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from agent.dialogue import Dialogue
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.history import rounds, transcript
from optimizer.spec import BUILTIN, GREEDY, Spec, load_spec
from simulator.metrics import groups_of

T = TypeVar("T")


class AttitudeError(SalesvoiceError):
    """A dialogue's attitude labels could not be produced, or do not fit the dialogue."""


# -- the state space ------------------------------------------------------------------------
class AttitudeState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    group: str = Field(min_length=1, max_length=40)
    """The coarse group (MADS: Negative, Neutral, Positive, Acceptance)."""
    description: str = Field(min_length=1)
    """What the state looks like in a call; shown to the classifier."""


class AttitudeSpace(Spec):
    """The ordered attitude states; states of one coarse group are listed together."""

    entry_words = ("states", "state names")

    states: tuple[AttitudeState, ...]

    def entry_keys(self) -> Sequence[str]:
        return self.names

    @model_validator(mode="after")
    def _check_groups(self) -> AttitudeSpace:
        # Contiguous groups: the heatmaps draw one separator per group boundary.
        seen: list[str] = []
        for state in self.states:
            if seen and state.group == seen[-1]:
                continue
            if state.group in seen:
                raise ValueError(f"the states of group {state.group!r} must be listed "
                                 f"together ({state.name!r} is separated from the others)")
            seen.append(state.group)
        return self

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @cached_property
    def groups(self) -> tuple[str, ...]:
        """The coarse groups, in order."""
        return tuple(dict.fromkeys(s.group for s in self.states))

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise AttitudeError(f"attitude {name!r} is not a state of space {self.name!r} "
                                f"(states: {', '.join(self.names)})") from None

    def group_of(self, name: str) -> str:
        return self.states[self.index(name)].group


BUILTIN_SPACES = {"mads16": BUILTIN / "attitudes.toml"}


def load_attitudes(name_or_path: str = "mads16") -> AttitudeSpace:
    """A built-in space (``mads16``: the MADS states) or a TOML file of ``[[states]]``."""
    return load_spec(name_or_path, AttitudeSpace, BUILTIN_SPACES, "attitude space")


# -- labelling ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttitudeChain:
    """One dialogue's attitudes, one per caller round, in order."""

    dialogue_id: str
    states: tuple[str, ...]
    evidence: tuple[str, ...]
    """The caller's words behind each state ("" where unknown)."""
    accepted: bool | None
    """Whether the caller finally accepted the pitch; None when never judged."""

    def __post_init__(self) -> None:
        if len(self.evidence) != len(self.states):
            raise AttitudeError(f"dialogue {self.dialogue_id!r}: {len(self.states)} states "
                                f"but {len(self.evidence)} pieces of evidence")


_COA_PROMPT = """\
You study how a caller's attitude toward an insurance offer changes during a sales call.

Label every caller round of the transcript, from the first to the last, skipping none:
- exactly one attitude per round: the one that dominates the caller's line;
- only the state names listed below, spelled exactly as written;
- first quote the caller's words from that round that show it (without the "User:" \
label, at most {chars} characters; shorten by cutting, never by rewording), then name \
the attitude.

Then judge the end of the call. "accepted" is true only when the caller commits to \
something concrete: agreeing to buy or apply, asking for the quote or the paperwork, \
booking a time to continue, or giving contact details for that purpose. Curiosity, \
questions and polite interest are not acceptance.

Attitude states, by group:
{states}"""

_LABEL = re.compile(r"^\s*(\[Round \d+\]\s*)?User:\s*")
"""The transcript's line label, which small models copy into their quotes."""

_COMPACT = ConfigDict(extra="forbid",
                      json_schema_extra={"x-guidance": {"whitespace_flexible": False}})


class AttitudeClassifier:
    """Labels every caller round of a dialogue with one state of ``space``: one
    constrained-JSON call per dialogue (the MADS CoA classifier prompt)."""

    def __init__(self, llm: LLM, space: AttitudeSpace, *, evidence_chars: int = 80,
                 sampling: Sampling = GREEDY) -> None:
        self._llm = llm
        self.space = space
        self.evidence_chars = evidence_chars
        self._sampling = sampling
        states = "\n".join(
            f"{group}:\n" + "\n".join(f"- {s.name}: {s.description}"
                                      for s in space.states if s.group == group)
            for group in space.groups)
        self._system = _COA_PROMPT.format(chars=evidence_chars, states=states)

    def schema(self, n_rounds: int) -> type[BaseModel]:
        """The output for a dialogue of ``n_rounds`` caller rounds: exactly one item per
        round, each opening with its fixed round number. Without that anchor a small
        model's quotes drift to the wrong round (seen with the embedded 1.5B model)."""
        # Literals built at run time: JSON-schema consts and the enum of state names.
        state = Literal[(*self.space.names,)]  # type: ignore[valid-type]
        items = tuple(create_model(
            f"Round{k}", __config__=ConfigDict(extra="forbid"),
            round=(Literal[k], ...),  # type: ignore[arg-type]
            # Evidence first: the model names the attitude right after quoting its words.
            evidence=(str, Field(max_length=self.evidence_chars)),
            attitude=(state, ...)) for k in range(1, n_rounds + 1))
        return create_model("AttitudeChainJSON", __config__=_COMPACT,
                            rounds=(tuple[items], ...),  # type: ignore[valid-type]
                            accepted=(bool, ...))

    def max_tokens(self, n_rounds: int) -> int:
        """A ceiling the longest valid output fits under: a token is at least one
        character, and the evidence gets twice its length for escapes."""
        item = 40 + max(map(len, self.space.names)) + 2 * self.evidence_chars
        return 32 + n_rounds * item

    async def classify(self, dialogue: Dialogue) -> AttitudeChain:
        """The dialogue's chain; one without caller rounds needs no call. The call's
        ``max_tokens`` is set from the round count, whatever ``sampling`` says."""
        n = len(rounds(dialogue))
        if n == 0:
            return AttitudeChain(dialogue.id, (), (), accepted=False)
        # Never cut: every round the schema asks for must be in the prompt.
        text = transcript(dialogue, max_chars=sys.maxsize)
        messages = [
            ChatMessage("system", self._system),
            ChatMessage("user", f"Transcript ({n} caller rounds):\n{text}\n\n"
                                f'Reply with JSON: "rounds" holds one item per caller round, '
                                f'[Round 1] to [Round {n}] (its number, the caller\'s words, '
                                f'the attitude), then "accepted".'),
        ]
        try:
            out = await self._llm.complete_json(
                messages, self.schema(n), replace(self._sampling, max_tokens=self.max_tokens(n)))
        except SalesvoiceError as exc:
            raise AttitudeError(f"could not classify the attitudes of dialogue "
                                f"{dialogue.id!r}: {exc}") from exc
        data = out.value.model_dump()
        return AttitudeChain(
            dialogue.id,
            tuple(r["attitude"] for r in data["rounds"]),
            tuple(_LABEL.sub("", r["evidence"]).strip() for r in data["rounds"]),
            accepted=data["accepted"],
        )


def label(dialogue: Dialogue, chain: AttitudeChain) -> Dialogue:
    """A copy of ``dialogue`` with each caller turn's ``attitude`` set from ``chain``, and
    the evidence and verdict under ``metadata["coa"]``."""
    caller_turns = [r.turn_index for r in rounds(dialogue)]
    if chain.dialogue_id != dialogue.id or len(chain.states) != len(caller_turns):
        raise AttitudeError(f"chain of dialogue {chain.dialogue_id!r} ({len(chain.states)} "
                            f"states) does not fit dialogue {dialogue.id!r} "
                            f"({len(caller_turns)} caller rounds)")
    labelled = dialogue.model_copy(deep=True)
    for index, state in zip(caller_turns, chain.states, strict=True):
        labelled.turns[index].attitude = state
    labelled.metadata["coa"] = {"evidence": list(chain.evidence), "accepted": chain.accepted}
    return labelled


def chain_from_dialogue(dialogue: Dialogue) -> AttitudeChain | None:
    """The chain stored by ``label``; None when any caller turn is unlabelled."""
    states = [dialogue.turns[r.turn_index].attitude for r in rounds(dialogue)]
    known = tuple(s for s in states if s is not None)
    if len(known) != len(states):
        return None
    coa = dialogue.metadata.get("coa")
    coa = coa if isinstance(coa, Mapping) else {}
    evidence = coa.get("evidence")
    if not (isinstance(evidence, list) and len(evidence) == len(known)):
        evidence = [""] * len(known)
    accepted = coa.get("accepted")
    return AttitudeChain(dialogue.id, known, tuple(map(str, evidence)),
                         accepted if isinstance(accepted, bool) else None)


def by_group(items: Iterable[tuple[Dialogue, T]], key: str) -> dict[str, list[T]]:
    """Values grouped by their dialogue's persona group ``key`` (see
    ``simulator.metrics.groups_of``); dialogues without it fall under "unknown"."""
    out: dict[str, list[T]] = {}
    for dialogue, value in items:
        out.setdefault(groups_of(dialogue).get(key, "unknown"), []).append(value)
    return dict(sorted(out.items()))
