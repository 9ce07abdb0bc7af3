"""Did the caller accept, withdraw, ask for a product, say goodbye or opt out?

Three signals: the agent's own thought (its reading of the caller's line), a separate
constrained classification of that line, and a small phrase lexicon. An outcome needs
the classifier plus one other signal to agree, so neither a loose thought nor a
substring match alone can end a call.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.compliance import is_opt_out
from agent.dialogue import Outcome, Template, Thought, UserState
from agent.domain import DomainPack
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling

State = Literal["engaged", "accept", "withdraw", "goodbye", "opt_out", "explicit_intent"]

_LEXICON: dict[str, re.Pattern[str]] = {
    "accept": re.compile(
        r"\b(sign me up|i'?ll take it|let'?s do it|send (me )?(a|the) quote|go ahead|"
        r"how do i (sign up|apply|buy)|i want (to buy|it)|sounds good|yes,? please)\b", re.I),
    "withdraw": re.compile(
        r"\b(not interested|no,? thanks?|no thank you|i don'?t (want|need)|not for me|"
        r"i'?ll pass|can'?t afford)\b", re.I),
    "goodbye": re.compile(r"\b(bye|goodbye|have to go|got to go|gotta go|hang up)\b", re.I),
    # Only counts when the line names a product (checked in ``detect``).
    "explicit_intent": re.compile(
        r"\b(i'?m interested in|i am interested in|tell me (more )?about|i'?m looking for|"
        r"i'?ve been (meaning|wanting) to|i('d| would) like|can you help me with)\b", re.I),
}

_PROMPT = (
    "You label one line a caller said during an insurance sales call.\n"
    "accept: agrees to buy, apply, or get a quote.\n"
    "withdraw: firmly declines or says they are not interested.\n"
    "goodbye: ends the conversation.\n"
    "opt_out: asks not to be called or contacted again.\n"
    "explicit_intent: explicitly asks about one specific product.\n"
    "engaged: anything else (questions, small talk, hesitation).\n"
    "Products: {products}.\nReply with JSON."
)


class _Label(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"x-guidance": {"whitespace_flexible": False}}
    )

    state: State
    product: str = Field(max_length=40)


def lexicon_states(text: str) -> set[str]:
    found = {state for state, pattern in _LEXICON.items() if pattern.search(text)}
    if is_opt_out(text):
        found.add("opt_out")
    return found


def thought_state(thought: Thought | None) -> str | None:
    if thought is None:
        return None
    if thought.user_state is not UserState.ENGAGED:
        return thought.user_state.value
    if thought.template is Template.CONFIRM and thought.intent:
        return "explicit_intent"
    return None


_OUTCOME = {
    "accept": Outcome.ACCEPTED,
    "withdraw": Outcome.WITHDREW,
    "goodbye": Outcome.GOODBYE,
    "opt_out": Outcome.OPTED_OUT,
    "explicit_intent": Outcome.EXPLICIT_INTENT,
}


class OutcomeDetector:
    def __init__(self, llm: LLM, domain: DomainPack, *, session: str | None = None) -> None:
        self._llm = llm
        self._domain = domain
        self._session = session
        self._system = _PROMPT.format(products=", ".join(domain.intent_ids))

    async def classify(self, agent_line: str, user_line: str) -> tuple[str, str | None]:
        messages = [
            ChatMessage("system", self._system),
            ChatMessage("user", f"Agent said: {agent_line}\nCaller said: {user_line}"),
        ]
        out = await self._llm.complete_json(
            messages, _Label, Sampling(temperature=0.0, max_tokens=40), session=self._session
        )
        product = out.value.product if out.value.product in self._domain.intent_ids else None
        return out.value.state, product

    async def detect(
        self, agent_line: str, user_line: str, thought: Thought | None, context: str = ""
    ) -> tuple[Outcome | None, str | None, dict[str, object]]:
        """The outcome of the caller's line (None: the dialogue goes on), its product,
        and the evidence. ``context``: what the agent said earlier in the call."""
        lexical = lexicon_states(user_line)
        from_thought = thought_state(thought)
        if "opt_out" in lexical:  # an explicit opt-out phrase is honoured at once
            return Outcome.OPTED_OUT, None, {"lexicon": sorted(lexical)}
        if from_thought is None and not lexical:
            return None, None, {}
        try:
            state, product = await self.classify(agent_line, user_line)
        except SalesvoiceError as exc:  # a failed check never ends a call
            return None, None, {"classifier_error": str(exc)[:200]}
        evidence: dict[str, object] = {
            "classifier": state, "thought": from_thought, "lexicon": sorted(lexical)
        }
        if state == "engaged" or (state != from_thought and state not in lexical):
            return None, None, evidence
        # "Sure, go ahead" to "have you got a minute?" is not a sale: accepting needs a
        # product on the table, and an explicit intent must name one.
        named = self._domain.mentioned(user_line)
        on_table = named or self._domain.mentioned(agent_line + " " + context)
        if (state == "accept" and not on_table) or (
                state == "explicit_intent" and not named):
            evidence["no_product"] = True
            return None, None, evidence
        intent = product or (thought.intent if thought is not None else None)
        return _OUTCOME[state], intent, evidence
