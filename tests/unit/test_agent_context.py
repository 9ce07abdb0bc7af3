"""The agent's context within a token budget (agent.context), with a scripted FakeLLM."""

from __future__ import annotations

import json
import re
from typing import ClassVar

import pytest

from agent.context import (
    MESSAGE_TOKENS,
    NOTES_HEADER,
    CallContext,
    ContextBudget,
    TokenCounter,
    budget_for,
    estimate_tokens,
    tokenizer_counter,
)
from agent.dialogue import CallerProfile
from agent.domain import load_domain
from agent.policy import SalesAgent
from agent.program import AgentProgram, load_program
from models.llm import ChatMessage, FakeLLM, LLMRequest

# Counts by Qwen2.5's tokenizer (the embedded model's, via llama.cpp /tokenize).
QWEN_COUNTS = {
    "10, 20 or 30 years": 11,
    "from age 18 to 65": 9,
    "4, 13 or 26 weeks": 10,
    "trips of up to 90 days each": 10,
    "Hello there, it costs 1,000,000 dollars a month.": 19,
    "supercalifragilisticexpialidocious antidisestablishmentarianism": 17,
    "no waiting period": 3,
}

WORDS = tokenizer_counter(lambda text: re.findall(r"\w+|[^\w\s]", text))
"""A real (if simple) tokenizer: words and punctuation, as a backend's would be used."""


def single_mode() -> AgentProgram:
    program = load_program()
    decoding = program.decoding.model_copy(update={"mode": "single"})
    return program.evolve("test", decoding=decoding.model_dump())


SINGLE = single_mode()
DOMAIN = load_domain(SINGLE.domain)
PRODUCTS = [("term_life", "premium"), ("travel", "premium"), ("home", "covers"),
            ("accident", "hospital_benefit"), ("medical", "excess")]


def caller_line(i: int) -> str:
    return [f"My daughter plays football on weekend number {i}, I worry about her knees.",
            "How does that compare with what my brother pays for his cover?",
            "We moved house last spring and I never sorted out the paperwork.",
            "Okay.", "Can you say that part again, slowly?",
            "I work nights at the hospital, so mornings are hard for me."][i % 6]


def scripted() -> FakeLLM:
    """Answers every reply request with a thought and a response naming a product and
    one of its figures, in turn."""
    turns = iter(range(10_000))

    def answer(request: LLMRequest) -> str:
        i = next(turns)
        intent, attr = PRODUCTS[i % len(PRODUCTS)]
        name = DOMAIN.product(intent).name
        return json.dumps(["continue", intent, "engaged", "?",
                           f"{name} has {{{intent}.{attr}}}."])

    return FakeLLM(answer)


def request_tokens(messages: list[ChatMessage], count: TokenCounter) -> int:
    return sum(count(m.content) + MESSAGE_TOKENS for m in messages)


def check_cuts(histories: list[list[ChatMessage]], logs: list[list[ChatMessage]]) -> int:
    """Between cuts a turn only appends (the cached prefix holds); at a cut the newest
    exchanges stay, in order, and the call notes follow them. ``logs[i]``: every message
    committed up to exchange ``i``. Returns the cuts."""
    cuts = 0
    for before, after, log in zip(histories, histories[1:], logs[1:], strict=False):
        if after[: len(before)] == before:
            continue
        cuts += 1
        assert after[0] == before[0] and after[-1].content.startswith(NOTES_HEADER)
        kept = after[1:-1]
        assert kept and log[-len(kept):] == kept
    return cuts


def exchange(user: str, agent: str, strategy: str | None) -> list[ChatMessage]:
    return [*([ChatMessage("system", strategy)] if strategy else []),
            ChatMessage("user", user), ChatMessage("assistant", agent)]


async def test_a_200_exchange_call_never_exceeds_the_budget_and_keeps_what_matters(
) -> None:
    llm = scripted()
    agent = SalesAgent(SINGLE, llm, caller=CallerProfile(occupation="nurse"), session="long")
    agent.commit("", agent.greeting, False)
    histories, lines, log, logs = [], [], [ChatMessage("assistant", agent.greeting)], []
    for i in range(200):
        lines.append(caller_line(i))
        turn = await agent.respond(lines[-1])
        assert turn.text.strip(), i
        histories.append(agent.context.messages)
        log += exchange(lines[-1], turn.text, turn.strategy)
        logs.append(list(log))
    budget = agent.context.budget
    assert budget.context_tokens == 4096 and budget.reply_tokens == SINGLE.decoding.max_tokens
    system = agent.prompt_prefix()[0]
    strategy = agent.context.strategy
    assert strategy is not None and "Critical Illness" in strategy  # a nurse's strategy
    for request in llm.requests:
        assert request_tokens(list(request.messages), estimate_tokens) <= budget.prompt_tokens
        assert request.messages[0] == system
    for request in llm.requests[1:]:  # once in force, the strategy is in every prompt
        assert "\n".join(m.content for m in request.messages).count(strategy) == 1
    last = llm.requests[-1].messages
    notes = next(m.content for m in last if m.content.startswith(NOTES_HEADER))
    # Facts given long ago are in the notes: products and which of their figures.
    assert "Term Life Insurance (premium" in notes and "Home Insurance (covers" in notes
    assert "The caller said earlier:" in notes
    said = [m.content for m in last if m.role == "user"]
    assert said[-7:] == lines[-7:]  # the last exchanges verbatim, and the caller's new line
    heard = [t.text for t in agent.dialogue.agent_turns][-7:-1]  # the last one answers it
    assert [m.content for m in last if m.role == "assistant"][-6:] == heard
    cuts = check_cuts(histories, logs)
    assert cuts == agent.context.compactions >= 2
    assert cuts <= len(histories) // 15  # rare: many append-only turns after each


def window(count: TokenCounter, exchanges: int
           ) -> tuple[CallContext, list[list[ChatMessage]], list[list[ChatMessage]]]:
    """A call's context alone, ``exchanges`` long: its history after each exchange, and
    every message committed up to then."""
    system = load_program().system_prompt
    context = CallContext(system, DOMAIN, ContextBudget(reply_tokens=90), count)
    histories, log, logs = [], [], []
    for i in range(exchanges):
        intent, attr = PRODUCTS[i % len(PRODUCTS)]
        said = f"{DOMAIN.product(intent).name} has {DOMAIN.refs[f'{intent}.{attr}']}."
        strategy = "Pivot to accident cover." if i == 3 else None
        context.commit(caller_line(i), said, strategy)
        histories.append(context.messages)
        log += exchange(caller_line(i), said, strategy)
        logs.append(list(log))
    return context, histories, logs


def test_with_a_tokenizer_the_window_moves_deterministically_within_the_budget() -> None:
    context, histories, logs = window(WORDS, 200)
    again, histories2, _ = window(WORDS, 200)
    assert histories == histories2 and context.compactions == again.compactions
    budget = context.budget
    for history in histories:
        assert request_tokens(history, WORDS) <= budget.history_tokens
        turn = [ChatMessage("user", "And what would that cost me every month?")]
        prompt = context.prompt(turn)
        assert request_tokens(prompt, WORDS) <= budget.prompt_tokens - 96
    cuts = check_cuts(histories, logs)
    assert cuts == context.compactions >= 2
    notes = histories[-1][-1].content if histories[-1][-1].role == "system" else next(
        m.content for m in histories[-1] if m.content.startswith(NOTES_HEADER))
    assert "Pivot to accident cover." in notes
    assert "Travel Insurance (premium)" in notes


def test_the_estimate_never_counts_fewer_tokens_than_qwens_tokenizer() -> None:
    for text, qwen in QWEN_COUNTS.items():
        assert qwen <= estimate_tokens(text) <= 2 * qwen, text


def test_a_backend_that_knows_its_context_sets_the_budget_and_counts_tokens() -> None:
    class SizedFake(FakeLLM):
        context_tokens: ClassVar[int] = 2048

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    budget, count = budget_for(SizedFake([]), reply_tokens=90)
    assert budget.context_tokens == 2048 and count("a b c") == 3
    budget, count = budget_for(FakeLLM([]), reply_tokens=90)
    assert budget.context_tokens == 4096 and count is estimate_tokens


def test_too_small_a_context_is_refused_with_the_setting_to_change() -> None:
    with pytest.raises(ValueError, match="n_ctx / slots"):
        ContextBudget(context_tokens=700, reply_tokens=256)
    with pytest.raises(ValueError, match="system prompt alone"):
        CallContext("word " * 2000, DOMAIN, ContextBudget(context_tokens=2048))


def test_a_caller_line_longer_than_the_turn_keeps_its_latest_words() -> None:
    context = CallContext("You sell insurance.", DOMAIN, ContextBudget(context_tokens=1400))
    rant = " ".join(f"word{i}" for i in range(2000)) + " so what does travel cost"
    prompt = context.prompt([ChatMessage("user", rant)])
    assert prompt[-1].content.endswith("so what does travel cost")
    assert sum(context.tokens_of(m) for m in prompt) <= context.budget.prompt_tokens
    context.commit(rant, "Travel Insurance costs from 5 to 30 dollars a month.")
    assert context.tokens <= context.budget.history_tokens


def test_the_notes_keep_a_cut_strategy_and_attribute_shared_wordings() -> None:
    budget = ContextBudget(context_tokens=1400, reply_tokens=90, keep_exchanges=2)
    context = CallContext("You sell insurance.", DOMAIN, budget, WORDS)
    context.commit("I'm a farmer.", "Accident Cover has no waiting period.", "Pivot to accident.")
    i = 0
    while not context.compactions:
        i += 1
        context.commit(f"I have question number {i} for you, what about it?", "Sure, ask away.")
    notes = context.messages[-1].content
    assert "Pivot to accident." in notes  # its own message was cut
    # "no waiting period" is the wording of every product's; it was said of Accident.
    assert context.facts.said == ["accident.waiting_period"]
    assert "Personal Accident Cover (waiting period)" in notes or "(waiting period)" in notes
    assert "I'm a farmer." not in notes or "The caller said earlier" in notes
    assert len([m for m in context.messages if m.role == "user"]) == 2
