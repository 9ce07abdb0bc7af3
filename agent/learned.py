"""Learned mode: a small trained head makes the thought; the LLM only says the response.

The head (``agent.thought_head``) reads the agent's last line and the caller's and
predicts the single-model answer's leading fields. ``learned_fields`` makes them
consistent with the call, ``with_plan`` puts them after the caller's line as a short
private plan, and ``respond_to_thought`` streams the plain-text response. Two-model
mode, whose thought a thought model writes instead, answers through the same plan
(``plan_text``) and ``respond_to_thought``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

from agent.dialogue import Template, Thought
from agent.domain import DomainPack
from agent.occupation import SECTORS
from agent.program import AgentProgram
from agent.single import thought_of
from agent.speech import Note
from models.llm.base import LLM, ChatMessage, Sampling


def learned_fields(predicted: dict[str, tuple[str, float]], agent_line: str, *,
                   program: AgentProgram, domain: DomainPack, sector: str | None) -> list[str]:
    """The learned head's thought (``ThoughtHead.predict`` on the agent's last line,
    ``agent_line``, and the caller's), as the single-model answer's leading fields
    (template, product, state, sector), made consistent with the call so far:
    ``sector`` is the caller's once it applies."""
    p = {name: label for name, (label, _) in predicted.items()}
    template, product = p["template"], p["product"]
    if product not in domain.intent_ids:
        product = "none"
    if template == Template.CHITCHAT.value:
        product = "none"
    elif product == "none":
        # Continue or confirm the product on the table; pivot to the strategy's.
        on_table = domain.mentioned(agent_line)
        entry = program.strategy.get(sector or "")
        pick = on_table[:1] if template != Template.PIVOT.value or entry is None else [
            i for i in entry.intents if i in domain.intent_ids][:1]
        product = pick[0] if pick else "none"
        if product == "none":
            template = Template.CHITCHAT.value
    said_sector = p["sector"] if p["sector"] in SECTORS else "?"
    return [template, product, p["state"], said_sector]


def plan_text(thought: Thought) -> str:
    """The thought as a private plan the model reads but must not say."""
    return (f"Private plan, never say it: {thought.template.value}"
            + (f" toward {thought.intent}" if thought.intent else "") + ".")


def with_plan(messages: list[ChatMessage], fields: list[str]) -> list[ChatMessage]:
    """The learned thought as a short private plan after the caller's line (the line is
    evaluated while it is spoken; the plan costs a few tokens once it is final)."""
    plan = plan_text(thought_of(fields)) + " Reply in plain spoken words."
    return [*messages, ChatMessage("system", plan)]


async def respond_to_thought(
    llm: LLM, messages: list[ChatMessage], sampling: Sampling, *, session: str,
    grammar: str, note: Callable[[], Note],
) -> AsyncGenerator[str | Note, None]:
    """The response, as plain text, to a thought already made and in ``messages``:
    first the thought's ``note``, then the text (constrained by ``grammar`` where the
    backend takes grammars)."""
    yield note()
    request: dict[str, Any] = {"grammar": grammar} if llm.capabilities.grammar else {}
    async with llm.stream(messages, sampling, session=session, **request) as stream:
        async for delta in stream:
            yield delta
