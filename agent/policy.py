"""The sales agent: a private thought, then the spoken response, every turn.

Single-model mode (live default, ``agent.single``): one constrained generation of a
compact JSON array ``[template, product, caller state, sector, response]``; the response
streams to TTS as soon as it starts. Learned mode (``agent.learned``): a small trained
head makes the thought, the LLM says the response. Two-model mode (as in the paper): a
thought model writes the thought as constrained JSON, then a response model writes the
reply given that thought.

Either way the caller's sector conditions the reply once known (from metadata, or
inferred turn by turn), every clause passes the compliance guard before it is spoken,
and only what the caller actually heard enters the history.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any, Literal

from agent.compliance import (
    ComplianceGuard,
    DoNotCall,
    Violation,
    asks_if_human,
    is_opt_out,
)
from agent.context import CallContext, ContextBudget, TokenCounter, budget_for
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
from agent.injection import asks_for_instructions
from agent.learned import learned_fields, plan_text, respond_to_thought, with_plan
from agent.occupation import SectorTracker, infer_sector, thought_evidence
from agent.outcome import OutcomeDetector
from agent.program import AgentProgram
from agent.prompt import (
    render_system_prompt,
    strategy_text,
    thought_array_schema,
    thought_object_model,
)
from agent.refs import plain_grammar
from agent.single import SingleModel, thought_of
from agent.speech import Note, SpeechGate
from agent.thought_head import ThoughtHead, default_thought_head
from models.llm.base import LLM, ChatMessage, Sampling

_ENDS_CALL = {Outcome.WITHDREW, Outcome.GOODBYE, Outcome.OPTED_OUT}
_THOUGHT_TOKENS = 100
"""The two-model thought's reply limit."""


class SalesAgent:
    """One call's agent. Implements the voice pipeline's Responder protocol."""

    def __init__(
        self,
        program: AgentProgram,
        llm: LLM,
        *,
        domain: DomainPack | None = None,
        caller: CallerProfile | None = None,
        session: str | None = None,
        thought_llm: LLM | None = None,
        do_not_call: DoNotCall | None = None,
        source: Literal["live", "simulated"] = "live",
        variant: str | None = None,
        thought_head: ThoughtHead | None = None,
        context: ContextBudget | None = None,
        count_tokens: TokenCounter | None = None,
    ) -> None:
        """``context`` and ``count_tokens``: the history's token budget and counter (by
        default the backend's context size and tokenizer where it offers them, see
        ``agent.context.budget_for``)."""
        self.program = program
        self.domain = domain or load_domain(program.domain)
        self._llm = llm
        self._thought_llm = thought_llm or llm
        self._session = session or uuid.uuid4().hex
        self._dnc = do_not_call
        self.caller = caller or CallerProfile()
        self.sectors = SectorTracker.from_metadata(
            self.caller.occupation, self.caller.sector, program.sector_threshold
        )
        # The instructions the agent must not recite: the SOP without the product facts.
        self.guard = ComplianceGuard(self.domain, render_system_prompt(program, self.domain, ""))
        self.dialogue = Dialogue(
            id=self._session,
            source=source,
            caller=self.caller,
            program_version=program.version,
            variant=variant,
        )
        reply_tokens = program.decoding.max_tokens
        if program.decoding.mode == "two-model":
            reply_tokens = max(reply_tokens, _THOUGHT_TOKENS)
        budget, count = budget_for(llm, reply_tokens)
        self.context = CallContext(self._system_prompt(), self.domain, context or budget,
                                   count_tokens or count)
        """The history the model sees, within the backend's context (``agent.context``)."""
        bias = program.decoding.reference_bias
        self._sampling = Sampling(
            temperature=program.decoding.temperature,
            top_p=program.decoding.top_p,
            max_tokens=program.decoding.max_tokens,
            logit_bias=((" {", bias), ("{", bias)) if bias else (),
        )
        self._turn: dict[str, Any] = {}
        refs = list(self.domain.refs)
        self._single = SingleModel(llm, self._sampling, session=self._session,
                                   schema=thought_array_schema(self.domain), refs=refs)
        self._plain_grammar = plain_grammar(refs)
        self._grammars_warm = False
        self._thought_head = thought_head
        if program.decoding.mode == "learned" and thought_head is None:
            default_thought_head()  # load (and verify) now, not on the first turn
        self._outcomes = OutcomeDetector(llm, self.domain, session=self._session + "-outcome")

    # -- Responder protocol -----------------------------------------------------------
    @property
    def greeting(self) -> str:
        return self.program.greeting

    @property
    def cache_key(self) -> str:
        return self.program.version

    @property
    def outcome(self) -> Outcome | None:
        return self.dialogue.outcome

    @property
    def ended(self) -> bool:
        return self.dialogue.outcome in _ENDS_CALL

    async def warm(self) -> None:
        # Evaluates the prompt into the cache and, once, compiles the mode's grammars. At
        # call start the greeting is evaluated too: it is nearly always heard whole, so
        # the first turn costs no more than any other.
        history = self.context.messages
        if len(history) == 1 and self.program.greeting:
            history = [*history, ChatMessage("assistant", self.program.greeting)]
        await self._llm.complete(history, Sampling(max_tokens=1), session=self._session)
        if self._llm.capabilities.grammar and not self._grammars_warm:
            self._grammars_warm = True
            grammars = (self._single.grammars if self.program.decoding.mode == "single"
                        else (self._plain_grammar,))
            for grammar in grammars:
                await self._llm.complete(
                    self.context.messages, Sampling(max_tokens=1), grammar=grammar,
                    session=self._session,
                )

    async def prepare(self, user_text: str) -> None:
        """The caller paused. Evaluate the prompt reply() would build for this line (with
        its sector evidence, on a copy of the tracker); in single-model mode, where the
        backend can continue a prefilled answer, already write the thought: if the final
        transcript is the same line, the reply starts straight with the spoken response."""
        messages = self._prompt_if_said(user_text)
        speculate = (self._llm.capabilities.grammar and self._llm.capabilities.prefill
                     and self.program.decoding.mode == "single"
                     and not is_opt_out(user_text))
        if not speculate:
            await self._llm.complete(messages, Sampling(max_tokens=1), session=self._session)
            return
        await self._single.speculate(user_text, messages)

    async def listen(self, partial_text: str) -> None:
        """The caller is still speaking: evaluate the prompt up to what they said so far
        (no thought yet: it comes after the whole line)."""
        await self._llm.complete(self._prompt_if_said(partial_text, planned=False),
                                 Sampling(max_tokens=1), session=self._session)

    def _prompt_if_said(self, user_text: str, *, planned: bool = True) -> list[ChatMessage]:
        """The prompt reply() would build for this line, with its sector evidence, on a
        copy of the tracker (nothing is decided until the line is final)."""
        tracker = self.sectors
        self.sectors = replace(tracker)
        try:
            if (hint := infer_sector(user_text)) is not None:
                self.sectors.observe(*hint)
            messages = self._prompt(user_text)[0]
            if (planned and self.program.decoding.mode == "learned"
                    and not is_opt_out(user_text)):
                messages = with_plan(messages, self._learned_thought(user_text)[0])
            return messages
        finally:
            self.sectors = tracker

    async def llm_thought(self, user_text: str) -> list[str] | None:
        """The thought fields (template, product, state, sector) the LLM writes for the
        caller's line in the single-model format, without answering (for comparing the
        learned head with the LLM); None when the backend has no grammars or it failed."""
        if not self._llm.capabilities.grammar:
            return None
        return await self._single.written_thought(self._prompt(user_text)[0])

    async def reply(self, user_text: str) -> AsyncIterator[str | Note]:
        if (hint := infer_sector(user_text)) is not None:
            self.sectors.observe(*hint)
        messages, strategy = self._prompt(user_text)
        self._turn = {"strategy": strategy, "thought": None, "compliance": []}
        fixed = (self._opt_out("opt-out phrase") if is_opt_out(user_text)
                 else self._keep_private() if asks_for_instructions(user_text) else None)
        if fixed is not None:
            for piece in fixed:
                yield piece
            return
        mode = self.program.decoding.mode
        pieces: AsyncIterator[str | Note]
        if mode == "learned":
            fields, sector_p = self._learned_thought(user_text)
            pieces = self._respond_to_thought(with_plan(messages, fields), thought_of(fields),
                                              fields[3], user_text, sector_p)
        elif mode == "single":
            pieces = self._single.stream(
                messages, user_text,
                lambda thought, sector: self._note_thought(thought, sector, user_text))
        else:
            pieces = self._two_model(messages, user_text)
        gate = SpeechGate(self.program, self.domain, self.guard, self._turn,
                          self._product_in_focus)
        # Delegation closes what it delegates to: a generator left open when the caller
        # stops early would be closed later, by the garbage collector, as a stray task.
        async with aclosing(gate.stream(pieces, user_text,
                                        needs_ai=asks_if_human(user_text))) as spoken:
            async for piece in spoken:
                yield piece

    def commit(self, user_text: str, agent_text: str, interrupted: bool) -> None:
        turn = self._turn
        self._turn = {}
        self.context.commit(user_text, agent_text, turn.get("strategy") if user_text else None)
        if user_text:
            self.dialogue.turns.append(Turn(speaker="user", text=user_text))
        self.dialogue.turns.append(
            Turn(
                speaker="agent",
                text=agent_text,
                thought=turn.get("thought"),
                strategy=turn.get("strategy"),
                sector=self.sectors.guess,
                interrupted=interrupted,
                compliance=turn.get("compliance", []),
                compliance_detail=turn.get("compliance_detail", []),
            )
        )

    def prompt_prefix(self) -> list[ChatMessage]:
        """The part of the prompt every call of this program shares (to prime caches)."""
        return self.context.messages[:1]

    # -- simulation API ------------------------------------------------------------------
    async def respond(self, user_text: str) -> Turn:
        """Text mode: the whole reply, committed to the history as heard in full."""
        parts = [p async for p in self.reply(user_text) if isinstance(p, str)]
        await self.settle(user_text)
        self.commit(user_text, "".join(parts).strip(), interrupted=False)
        return self.dialogue.turns[-1]

    # -- internals --------------------------------------------------------------------
    def _system_prompt(self) -> str:
        p = self.program
        return render_system_prompt(p, self.domain, self.domain.sheet())

    def _strategy_line(self) -> str | None:
        return strategy_text(self.program, self.domain, self._sector_in_play())

    def _sector_in_play(self) -> str | None:
        """The caller's sector once confident enough to condition the strategy."""
        return self.sectors.guess.sector if self.sectors.applies else None

    def _agent_line(self) -> str:
        """The agent's last line in the history ("" before it has said anything)."""
        return next((m.content for m in reversed(self.context.messages)
                     if m.role == "assistant"), "")

    def _prompt(self, user_text: str) -> tuple[list[ChatMessage], str | None]:
        # The strategy enters the history once, when it starts to apply or changes; it
        # stays there (or in the call notes), so the cached prefix of later turns holds.
        strategy = self._strategy_line()
        if strategy == self.context.strategy:
            strategy = None
        extra = [ChatMessage("system", strategy)] if strategy else []
        return self.context.prompt([*extra, ChatMessage("user", user_text)]), strategy

    def _note_thought(self, thought: Thought, sector: str, user_text: str,
                      sector_p: float | None = None) -> Note:
        """``sector_p``: the learned head's probability for ``sector`` (None: an LLM's)."""
        if (evidence := thought_evidence(sector, user_text, sector_p)) is not None:
            self.sectors.observe(*evidence)
        self._turn["thought"] = thought
        return {
            "thought": thought.model_dump(mode="json"),
            "strategy": self._turn.get("strategy"),
            "sector": self.sectors.guess.model_dump(mode="json"),
        }

    async def settle(self, user_text: str) -> Note:
        """After the reply: did this exchange end the dialogue, and how?"""
        if self._turn.get("settled"):
            return {}  # decided already (an opt-out phrase)
        agent_line = self._agent_line()
        # The whole call's agent lines (the history the model sees may be cut).
        earlier = " ".join(t.text for t in self.dialogue.turns if t.speaker == "agent")
        outcome, intent, evidence = await self._outcomes.detect(
            agent_line, user_text, self._turn.get("thought"), context=earlier
        )
        current = self.dialogue.outcome
        if outcome is not None and (current is None or current is Outcome.EXPLICIT_INTENT):
            self.dialogue.outcome = outcome
            self.dialogue.outcome_intent = intent
            if outcome is Outcome.OPTED_OUT:
                self._opted_out("classified as opt-out")
        return {
            "outcome": self.dialogue.outcome.value if self.dialogue.outcome else None,
            "outcome_evidence": evidence,
            "end_call": self.ended,
        }

    def _learned_thought(self, user_text: str) -> tuple[list[str], float]:
        """The learned head's thought fields for this line (``agent.learned``) and its
        probability for the sector it read."""
        agent_line = self._agent_line()
        predicted = (self._thought_head or default_thought_head()).predict(agent_line, user_text)
        fields = learned_fields(predicted, agent_line, program=self.program, domain=self.domain,
                                sector=self._sector_in_play())
        return fields, predicted["sector"][1]

    async def _two_model(
        self, messages: list[ChatMessage], user_text: str
    ) -> AsyncIterator[str | Note]:
        schema = thought_object_model(self.domain)
        ask = ChatMessage(
            "system",
            "First, only the thought: choose the template, the product, the caller's state "
            "and sector, and a short note on why. The response comes next.",
        )
        out = await self._thought_llm.complete_json(
            [*messages, ask], schema, Sampling(temperature=0.3, max_tokens=_THOUGHT_TOKENS),
            session=self._session + "-thought",
        )
        data = out.value.model_dump(mode="json")
        thought = Thought(
            template=Template(data["template"]),
            intent=None if data["intent"] == "none" else data["intent"],
            user_state=UserState(data["user_state"]),
            note=data["note"],
        )
        plan = ChatMessage("system", plan_text(thought) + " Now say your response as plain "
                           "spoken text only.")
        async with aclosing(self._respond_to_thought([*messages, plan], thought,
                                                     data["sector"], user_text)) as response:
            async for piece in response:
                yield piece

    def _respond_to_thought(
        self, messages: list[ChatMessage], thought: Thought, sector: str, user_text: str,
        sector_p: float | None = None,
    ) -> AsyncGenerator[str | Note, None]:
        """The response, as plain text, to a thought already made and in ``messages``."""
        return respond_to_thought(
            self._llm, messages, self._sampling, session=self._session,
            grammar=self._plain_grammar,
            note=lambda: self._note_thought(thought, sector, user_text, sector_p))

    def _product_in_focus(self, said: str) -> str:
        """The product the reply is about so far: the last one it named, else the one
        its thought chose; "" (no product: no figure may be said) when neither."""
        named = self.domain.mentions(said, by_id=False)
        if named:
            return named[-1][1]
        thought = self._turn.get("thought")
        return thought.intent if thought is not None and thought.intent else ""

    def _opt_out(self, why: str) -> list[str | Note]:
        thought = Thought(template=Template.CHITCHAT, user_state=UserState.OPT_OUT, note=why)
        self._turn["compliance"] = ["opt_out"]
        note = self._note_thought(thought, "?", "")
        self.dialogue.outcome = Outcome.OPTED_OUT
        self._opted_out(why)
        self._turn["settled"] = True
        return [note, {"outcome": Outcome.OPTED_OUT.value, "end_call": True},
                self.program.opt_out_reply]

    def _keep_private(self) -> list[str | Note]:
        """The caller asks for the instructions or tries to override them: the privacy
        line, without asking the model (which may comply)."""
        thought = Thought(template=Template.CHITCHAT, note="asks for the instructions")
        self._turn["compliance"] = ["injection"]
        return [self._note_thought(thought, "?", ""), self.program.privacy_reply]

    def _opted_out(self, reason: str) -> None:
        if self._dnc is not None and self.caller.caller_id:
            self._dnc.add(self.caller.caller_id, reason)

    def violations(self, text: str) -> list[Violation]:
        """What the guard would object to in ``text`` as a whole reply."""
        return self.guard.check_reply(text)
