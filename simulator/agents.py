"""The agent side of a simulation: what the runner needs from an agent, and a scripted
agent for fast environments.

``SalesAgent`` (agent/policy.py) is the product agent and satisfies ``SimAgent``.
``RuleAgent`` follows a program's strategy table with fixed phrasing and no LLM: the
baseline for programmatic users, benchmarks and optimizer tests, where thousands of
dialogues must run in seconds.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal, Protocol

from agent.compliance import is_opt_out
from agent.dialogue import (
    CallerProfile,
    Dialogue,
    Outcome,
    Template,
    Thought,
    Turn,
    UserState,
)
from agent.domain import DomainPack, load_domain
from agent.occupation import SectorTracker, infer_sector, thought_evidence
from agent.outcome import lexicon_states
from agent.program import AgentProgram
from agent.prompt import strategy_text
from agent.thought_head import ThoughtHead
from models.embed.memo import MemoEmbedder


class SimAgent(Protocol):
    @property
    def greeting(self) -> str: ...

    dialogue: Dialogue

    def commit(self, user_text: str, agent_text: str, interrupted: bool) -> None: ...

    async def respond(self, user_text: str) -> Turn:
        """The whole reply to one user line, recorded in ``dialogue``."""
        ...


_REJECTS = re.compile(r"\b(isn'?t|not|no|don'?t|never)\b", re.I)
_MORE = re.compile(r"\b(tell me|more|how much|what does|interested|\?)", re.I)


Reading = tuple[set[str], list[tuple[str, float]]]
"""A caller line's states (accept, withdraw, goodbye, opt_out) and its evidence of the
caller's sector: (sector, confidence) pairs for the tracker."""


class Reader(Protocol):
    """How a scripted agent reads a caller's line."""

    async def __call__(self, agent_line: str, user_text: str) -> Reading: ...


async def lexicon_reader(agent_line: str, user_text: str) -> Reading:
    """Phrase lists and the occupation lexicon: microseconds, and blind to paraphrase."""
    hint = infer_sector(user_text)
    return lexicon_states(user_text), [hint] if hint else []


class HeadReader:
    """The product's learned reader (``agent/thought_head.py``: the live agent's thought in
    learned mode), without the LLM: the head's caller state, an explicit opt-out phrase
    honoured at once, the sector evidence as the live agent weighs it.

    Lines asked for in the same event-loop step are embedded in one batch (dialogues run
    concurrently wait for each other's lines), and repeated texts are embedded once."""

    def __init__(self, head: ThoughtHead | None = None) -> None:
        if head is None:
            from agent.thought_head import default_thought_head

            head = default_thought_head()
        self._head = ThoughtHead(MemoEmbedder(head.embedder), head.fields, head.meta)
        self._pending: list[tuple[str, str, asyncio.Future[Reading]]] = []

    async def __call__(self, agent_line: str, user_text: str) -> Reading:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reading] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((agent_line, user_text, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            read = self._head.predict_many([a for a, _, _ in pending], [u for _, u, _ in pending])
            if len(read) != len(pending):
                raise RuntimeError(f"the head read {len(read)} of {len(pending)} lines")
        except Exception as exc:  # every waiting dialogue gets the error, none hangs
            for *_, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, user_text, future), p in zip(pending, read, strict=True):
            if future.done():
                continue
            try:
                future.set_result(self._reading(user_text, p))
            except Exception as exc:  # this dialogue fails; the others still get theirs
                future.set_exception(exc)

    @staticmethod
    def _reading(user_text: str, p: dict[str, tuple[str, float]]) -> Reading:
        states = {p["state"][0]} - {"engaged"}
        if is_opt_out(user_text):
            states.add("opt_out")
        # As the live agent in learned mode: the occupation lexicon, then the head's
        # reading at its own probability (agent/policy.py).
        sector, probability = p["sector"]
        evidence = [e for e in (infer_sector(user_text),
                                thought_evidence(sector, user_text, probability))
                    if e is not None]
        return states, evidence


class RuleAgent:
    """Scripted salesperson: ask what the caller does, then pitch the strategy table's
    products for their sector (then the rest), one at a time, dropping each rejected one;
    confirm when the caller accepts or asks for a product. ``reader`` reads the caller
    (default: the phrase lexicon)."""

    def __init__(
        self,
        program: AgentProgram,
        *,
        domain: DomainPack | None = None,
        caller: CallerProfile | None = None,
        session: str = "rule",
        source: Literal["live", "simulated"] = "simulated",
        variant: str | None = None,
        reader: Reader = lexicon_reader,
    ) -> None:
        self.program = program
        self._read = reader
        self.domain = domain or load_domain(program.domain)
        caller = caller or CallerProfile()
        self.sectors = SectorTracker.from_metadata(
            caller.occupation, caller.sector, program.sector_threshold
        )
        self.dialogue = Dialogue(id=session, source=source, caller=caller,
                                 program_version=program.version, variant=variant)
        self._current: str | None = None
        self._rejected: set[str] = set()
        self._asked_work = False
        self._strategy_given: str | None = None

    @property
    def greeting(self) -> str:
        return self.program.greeting

    def commit(self, user_text: str, agent_text: str, interrupted: bool) -> None:
        if user_text:
            self.dialogue.turns.append(Turn(speaker="user", text=user_text))
        self.dialogue.turns.append(Turn(speaker="agent", text=agent_text,
                                        interrupted=interrupted))

    async def respond(self, user_text: str) -> Turn:
        last = self.dialogue.turns[-1].text if self.dialogue.turns else ""
        states, evidence = await self._read(last, user_text)
        for sector, confidence in evidence:
            self.sectors.observe(sector, confidence)
        mentioned = self.domain.mentioned(user_text)
        strategy = self._strategy()
        if "opt_out" in states:
            thought, text = Thought(template=Template.CHITCHAT, user_state=UserState.OPT_OUT), (
                "Understood, I've noted that and we won't call again. Goodbye.")
            self._end(Outcome.OPTED_OUT, None)
        elif "accept" in states and (mentioned or self._current):
            intent = mentioned[0] if mentioned else self._current
            thought = Thought(template=Template.CONFIRM, intent=intent,
                              user_state=UserState.ACCEPT)
            text = (f"Great, I'll set up {self.domain.product(intent or '').name} for you. "
                    "A colleague will send the details.")
            self._end(Outcome.ACCEPTED, intent)
        elif mentioned and "goodbye" not in states and (
                "withdraw" in states or _REJECTS.search(user_text)):
            # "I don't need Home Insurance" turns down one product, not the call.
            self._rejected.update(mentioned)
            thought, text = self._pivot(strategy)
        elif "withdraw" in states or "goodbye" in states:
            state = UserState.GOODBYE if "goodbye" in states else UserState.WITHDRAW
            thought = Thought(template=Template.CHITCHAT, user_state=state)
            text = "Thanks for your time. Goodbye."
            self._end(Outcome.GOODBYE if state is UserState.GOODBYE else Outcome.WITHDREW, None)
        elif mentioned:
            intent = mentioned[0]
            template = Template.CONTINUE if intent == self._current else Template.CONFIRM
            self._current = intent
            thought = Thought(template=template, intent=intent)
            text = f"{self.domain.product(intent).summary} Shall I set that up for you?"
            if template is Template.CONFIRM:
                self._end(Outcome.EXPLICIT_INTENT, intent)
        elif self._current and _MORE.search(user_text):
            thought = Thought(template=Template.CONTINUE, intent=self._current)
            product = self.domain.product(self._current)
            text = f"{product.summary} Would you like it?"
        elif not self.sectors.applies and not self._asked_work:
            self._asked_work = True
            thought = Thought(template=Template.CHITCHAT)
            text = "Glad to hear it. May I ask what you do for a living?"
        else:
            thought, text = self._pivot(strategy)
        turn = Turn(speaker="agent", text=text, thought=thought, strategy=strategy,
                    sector=self.sectors.guess)
        self.dialogue.turns.append(Turn(speaker="user", text=user_text))
        self.dialogue.turns.append(turn)
        return turn

    def _strategy(self) -> str | None:
        line = strategy_text(self.program, self.domain,
                             self.sectors.guess.sector if self.sectors.applies else None)
        if line is None or line == self._strategy_given:
            return None
        self._strategy_given = line
        return line

    def _pivot(self, strategy: str | None) -> tuple[Thought, str]:
        preferred: list[str] = []
        if self.sectors.applies:
            entry = self.program.strategy.get(self.sectors.guess.sector or "")
            preferred = list(entry.intents) if entry else []
        order = [*preferred, *self.domain.intent_ids]
        intent = next((i for i in order if i not in self._rejected and i != self._current),
                      None)
        if intent is None:
            return (Thought(template=Template.CHITCHAT),
                    "I understand. Is there anything else on your mind?")
        self._current = intent
        product = self.domain.product(intent)
        return (Thought(template=Template.PIVOT, intent=intent),
                f"Have you thought about {product.name}? {product.summary}")

    def _end(self, outcome: Outcome, intent: str | None) -> None:
        if self.dialogue.outcome is None or self.dialogue.outcome is Outcome.EXPLICIT_INTENT:
            self.dialogue.outcome = outcome
            self.dialogue.outcome_intent = intent
