"""A long call on the real embedded LLM: the agent's context is cut to its budget,
every turn is answered, and late turns are not slower than early ones.

The 100-turn call at the full context per slot (n_ctx 8192 / 2 slots) takes far longer
than a test should on two shared cores (a turn is 10-30 s there: the reply, the outcome
classifier, under load): it is the benchmark ``python -m agent.context_bench --turns
100``. This smoke gives the same call a smaller context, so that 18 turns cross the
cuts a 100-turn call makes (it still takes several minutes).
"""

from __future__ import annotations

import statistics

import httpx
import pytest

from agent.context import ContextBudget, TokenCounter, tokenizer_counter
from agent.context_bench import bench_program, long_call, table
from models.llm import LLM

pytestmark = pytest.mark.real

TURNS = 18
LATENCY_FACTOR = 1.5
"""Late turns' median first-token latency may be at most this times the early turns'."""


def qwen_tokens(llm: LLM) -> TokenCounter:
    """The model's own tokenizer, through llama.cpp's /tokenize."""
    # The fixture's backend is llama.cpp, which serves its tokenizer on loopback.
    http = httpx.Client(base_url=llm.listening_address)  # type: ignore[attr-defined]
    return tokenizer_counter(lambda text: http.post(
        "/tokenize", json={"content": text}).raise_for_status().json()["tokens"])


async def test_a_long_call_is_cut_to_its_budget_and_does_not_slow_down(qwen: LLM) -> None:
    count = qwen_tokens(qwen)
    program = bench_program(max_tokens=16)
    # Room for about ten exchanges above the system prompt: cuts from turn ~10 on.
    budget = ContextBudget(context_tokens=1900, reply_tokens=16, keep_exchanges=4)
    agent, stats = await long_call(qwen, TURNS, program=program, context=budget,
                                   count_tokens=count, session="long-call-smoke", progress=True)
    print(table(stats))
    assert all(s.reply.strip() for s in stats), [s.turn for s in stats if not s.reply.strip()]
    assert agent.context.compactions >= 2
    for s in stats:
        # Each reply's prompt, by the model's tokenizer and by the backend, fits.
        assert s.counted_tokens <= budget.prompt_tokens, s
        assert s.prompt_tokens <= budget.prompt_tokens, s
        assert s.history_tokens <= budget.history_tokens, s
    first_cut = next(s.turn for s in stats if s.compactions)
    early = [s.ttft_s for s in stats[2:first_cut - 1] if s.counted_tokens]
    late = [s.ttft_s for s in stats[-5:] if s.counted_tokens]
    print(f"first cut after turn {first_cut}; median first-token latency before "
          f"{statistics.median(early):.2f} s, last 5 turns {statistics.median(late):.2f} s")
    assert statistics.median(late) <= LATENCY_FACTOR * statistics.median(early)
