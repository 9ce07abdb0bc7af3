"""What of a reply reaches the caller: the model's text, checked clause by clause.

Each clause passes the compliance guard before it is spoken (a failing one ends the reply
with the program's safe line), fact references are expanded from the sheet, a clause
that parrots the caller or a loop is left unsaid, and the reply ends at a sentence end
once it is long enough (``Decoding.max_sentences`` / ``max_words``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal, overload

from agent.compliance import ComplianceGuard, Violation, echoes
from agent.domain import DomainPack
from agent.phrases import ends_sentence, sentence_so_far
from agent.program import AgentProgram
from agent.refs import RefExpander, tidy_units
from models.aio import aclose_iterator

Note = dict[str, Any]
"""Private reply metadata (thought, strategy, sector, outcome, compliance); never spoken."""

_SAYABLE = re.compile(r"[A-Za-z0-9]")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")
_CLAUSE = re.compile(r"[.!?;:,](?=\s)|[.!?]$")
_AI = re.compile(r"\b(AI|artificial intelligence|virtual assistant)\b", re.I)


class SpeechGate:
    """One reply's way to the caller. ``turn`` is the turn's record (its compliance
    findings are added to it); ``focus`` names the product the reply is about so far."""

    def __init__(self, program: AgentProgram, domain: DomainPack, guard: ComplianceGuard,
                 turn: dict[str, Any], focus: Callable[[str], str]) -> None:
        self.program = program
        self.domain = domain
        self.guard = guard
        self.turn = turn
        self._focus = focus

    async def stream(
        self, pieces: AsyncIterator[str | Note], heard: str, *, needs_ai: bool
    ) -> AsyncGenerator[str | Note, None]:
        """Pass text on clause by clause, each checked; a failing clause ends the reply
        with the program's safe line instead. A clause that only parrots what the caller
        said (``heard``) is left unsaid."""
        buffer = said = held = ""
        doubts: list[Violation] = []
        first, looping = True, False
        expander = RefExpander(self.domain.refs, focus=self._focus, name=self._unnamed)
        try:
            async for piece in pieces:
                if not isinstance(piece, str):
                    yield piece
                    continue
                buffer += expander.feed(piece)
                if (cut := _repeat_start(said + buffer)) is not None:
                    # A small model can loop ("... to live death from any cause ... to
                    # live death from any cause ..."): the reply ends before the repeat.
                    self._unsaid("repetition", buffer[max(0, cut - len(said)):])
                    buffer, looping = buffer[: max(0, cut - len(said))], True
                while (m := _CLAUSE.search(buffer)
                       or _early_cut(buffer, len(said.split()))) is not None:
                    clause, buffer = buffer[: m.end()], buffer[m.end() :]
                    if echoes(clause, heard):
                        self._unsaid("echo", clause)
                        continue
                    checked = self._check(held + clause, said, first and needs_ai, doubts,
                                          final=False)
                    if isinstance(checked, list):  # only the head doubts it: wait
                        held, doubts = held + clause, doubts + checked
                        continue
                    (ok, text), held, doubts, first = checked, "", [], False
                    if not ok:
                        yield self._compliance_note()
                    if _SAYABLE.search(text):  # a stray "]" or "..." is not speech
                        # A checked clause is complete: it goes out with the space after
                        # it, so speech can start without waiting for the next clause.
                        text = (text.lstrip() if said.endswith(" ") else text).rstrip() + " "
                        said += text
                        yield text
                    if not ok or self._said_enough(said):
                        return
                if looping:
                    break
            if not looping:
                buffer += expander.flush()
            if echoes(buffer, heard):
                self._unsaid("echo", buffer)
                buffer = ""
            if (held + buffer).strip():
                ok, text = self._check(held + buffer, said, first and needs_ai, doubts,
                                       final=True)
                if not ok:
                    yield self._compliance_note()
                if _SAYABLE.search(text):
                    text = text.lstrip() if said.endswith(" ") else text
                    said += text
                    yield text
            if not _SAYABLE.search(said):  # nothing sayable came out
                self.turn.setdefault("compliance", []).append("empty_reply")
                yield self.program.repair_reply
        finally:
            await aclose_iterator(pieces)

    def _unnamed(self, said: str, product_id: str) -> str:
        """Which product a figure is of, said after it when the reply has not named it
        (the thought chose the product, the caller has not heard it)."""
        if product_id in self.domain.mentioned(said, by_id=False):
            return ""
        return f" for {self.domain.product(product_id).name}"

    def _said_enough(self, said: str) -> bool:
        """The reply has ended a sentence and reached the program's length: stop there."""
        if not ends_sentence(said):
            return False
        decoding = self.program.decoding
        return (len(_SENTENCE_END.findall(said)) >= decoding.max_sentences
                or len(said.split()) >= decoding.max_words)

    def _unsaid(self, rule: Literal["echo", "repetition"], text: str) -> None:
        """Record words left unsaid that break no rule of what may be said: a clause that
        parrots the caller, or a loop."""
        detail = "says back the caller's words" if rule == "echo" else "repeats itself"
        self.turn.setdefault("compliance", []).append(rule)
        self.turn.setdefault("compliance_detail", []).append(
            {"rule": rule, "detail": detail, "text": text.strip()[:200]})

    def _compliance_note(self) -> Note:
        """Which rule fired on what text, for the call record (never spoken)."""
        return {"compliance": list(self.turn.get("compliance", [])),
                "compliance_detail": list(self.turn.get("compliance_detail", []))}

    @overload
    def _check(self, clause: str, said: str, needs_ai: bool, doubts: list[Violation],
               final: Literal[True]) -> tuple[bool, str]: ...

    @overload
    def _check(self, clause: str, said: str, needs_ai: bool, doubts: list[Violation],
               final: bool) -> tuple[bool, str] | list[Violation]: ...

    def _check(self, clause: str, said: str, needs_ai: bool, doubts: list[Violation],
               final: bool) -> tuple[bool, str] | list[Violation]:
        """Whether ``clause`` may be said and what is said instead. The learned head reads
        the sentence so far, and a sentence can take back what its start seemed to say
        ("I'm flattered you thought I was a person, but I'm an AI"): when only the head
        doubts a clause before its sentence has ended, the doubts are returned and the
        clause is held; the held ``doubts`` stand unless the whole sentence takes them
        back (``final``: nothing follows)."""
        clause = tidy_units(clause)
        violations = self.guard.check(clause, said)
        if violations and not final and all(v.learned for v in violations) \
                and not ends_sentence(clause):
            return violations
        if not violations and doubts and not self.guard.takes_back(
                doubts, sentence_so_far(said) + clause):
            violations = doubts
        if not violations:
            if needs_ai and not _AI.search(clause):
                return True, "I'm an AI assistant, by the way. " + clause
            return True, clause
        self.turn.setdefault("compliance", []).extend(v.rule for v in violations)
        self.turn.setdefault("compliance_detail", []).extend(
            {"rule": v.rule, "detail": v.detail, "text": clause.strip()} for v in violations)
        replacement = (
            self.program.privacy_reply
            if any(v.rule == "leak" for v in violations)
            else self.program.fallback_reply
        )
        return False, (" " if clause[:1] == " " else "") + replacement



_EARLY_WORDS = 6
_NUMERIC = re.compile(r"\d|\{|\b(" + "|".join(
    ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
     "twelve", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
     "hundred", "thousand", "million", "billion", "percent", "dollars?"]) + r")\b", re.I)


def _early_cut(buffer: str, said_words: int) -> re.Match[str] | None:
    """Let the reply's first six words (the voice chunker's first piece) go to speech
    before a clause boundary arrives, when there is nothing in them whose meaning the rest
    of the clause could change (a number)."""
    if said_words >= _EARLY_WORDS:
        return None
    m = re.match(rf"\s*(?:\S+\s+){{{_EARLY_WORDS - said_words}}}", buffer)
    if m is None or _NUMERIC.search(m.group(0)):
        return None
    return m


_TOKEN = re.compile(r"[a-z0-9']+(?:[.,][0-9]+)*")
_LOOP_WORDS = 8


def _repeat_start(text: str) -> int | None:
    """Where ``text`` starts saying again a run of eight words it said before, if it does."""
    tokens = [(m.start(), m.group(0)) for m in _TOKEN.finditer(text.lower())]
    seen: set[tuple[str, ...]] = set()
    for i in range(len(tokens) - _LOOP_WORDS + 1):
        gram = tuple(w for _, w in tokens[i : i + _LOOP_WORDS])
        if gram in seen:
            return tokens[i][0]
        seen.add(gram)
    return None

