"""Long-call benchmark: one call of many turns on a real backend, turn by turn.

Reports, per turn, the prompt the reply request sent (tokens by the backend's count, and
how many it had to evaluate rather than take from its prefix cache), the LLM's
first-token latency, and the agent's history size and compactions; then the early
(turns 5-15) and late (last 10) medians. Writes JSON; never asserts times.

    salesvoice bench longcall --turns 100
    python -m agent.context_bench --turns 100 --out long-call.json

(the embedded default LLM, 16-token replies, short caller lines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.context import ContextBudget, TokenCounter
from agent.dialogue import CallerProfile
from agent.policy import SalesAgent
from agent.program import AgentProgram, load_program
from models.config import LLMSettings
from models.llm.base import (
    LLM,
    Capabilities,
    ChatMessage,
    LLMRequest,
    RawChunk,
    Sampling,
    Usage,
)

CALLER_LINES = [
    "Hi, who is this?", "Okay, go on.", "I work as a nurse at the city hospital.",
    "Mostly night shifts, yes.", "What does that cover exactly?", "Is there a waiting period?",
    "Hmm, and the price?", "My partner is self-employed.", "We have two kids at school.",
    "Does it cover broken bones?", "What about time off work?", "I cycle to work every day.",
    "Can you explain that again?", "How long does a claim take?", "Is it per month?",
    "We rent our flat.", "I already have something through work.", "What is not covered?",
    "Can I change it later?", "My mother had a stroke last year.", "Tell me about that one.",
    "And for the kids?", "Is there an age limit?", "That sounds complicated.",
    "Let me think about the details.",
]


@dataclass(frozen=True, slots=True)
class Sent:
    """One request as the backend answered it."""

    session: str | None
    messages: tuple[ChatMessage, ...]
    usage: Usage
    """The backend's count (zeros when the reader stopped before the end)."""
    ttft_s: float


class Timed(LLM):
    """Another backend, with each request's token usage and first-token time recorded."""

    capabilities: ClassVar[Capabilities]
    name: ClassVar[str] = "timed"

    def __init__(self, inner: LLM) -> None:
        super().__init__(inner.defaults)
        self.inner = inner
        self.sent: list[Sent] = []
        # The agent sizes its history by the backend's context and tokenizer.
        self.count_tokens = inner.count_tokens

    @property
    def context_tokens(self) -> int | None:
        return self.inner.context_tokens

    async def _generate(self, request: LLMRequest) -> AsyncIterator[RawChunk]:
        # Recorded when the request ends, also when the reader stops early (the reply
        # ended at a sentence end): then the backend's usage never arrives (zeros).
        sampling = Sampling(request.temperature, request.top_p, request.max_tokens,
                            request.stop, request.seed, request.logit_bias)
        start = time.monotonic()
        first: float | None = None
        s = self.inner.stream(request.messages, sampling, json_schema=request.json_schema,
                              session=request.session, grammar=request.grammar)
        try:
            async with s:
                async for delta in s:
                    first = first or time.monotonic()
                    yield RawChunk(delta)
            if s.completion is not None:
                yield RawChunk(finish_reason=s.completion.finish_reason, usage=s.completion.usage)
        finally:
            usage = s.completion.usage if s.completion is not None else Usage()
            self.sent.append(Sent(request.session, request.messages, usage,
                                  (first or time.monotonic()) - start))


def timed(inner: LLM) -> Timed:
    """``inner`` behind a ``Timed`` that declares ``inner``'s capabilities."""
    cls = type("Timed" + type(inner).__name__, (Timed,), {"capabilities": inner.capabilities})
    return cls(inner)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class TurnStat:
    """One turn; its request figures are 0 when the agent answered without the LLM (a
    fixed line: the privacy or opt-out reply)."""

    turn: int
    counted_tokens: int
    """The reply request's prompt by the agent's counter."""
    prompt_tokens: int
    """By the backend (0: not reported, the reply ended early)."""
    evaluated_tokens: int
    ttft_s: float
    history_tokens: int
    compactions: int
    reply: str


def bench_program(max_tokens: int = 16) -> AgentProgram:
    """The default program with short replies (a benchmark measures the prompt, not speech)."""
    program = load_program()
    decoding = program.decoding.model_copy(update={"max_tokens": max_tokens})
    return program.evolve("long-call", decoding=decoding.model_dump())


async def long_call(llm: LLM, turns: int, *, program: AgentProgram | None = None,
                    context: ContextBudget | None = None, count_tokens: TokenCounter | None = None,
                    session: str = "long-call", progress: bool = False,
                    ) -> tuple[SalesAgent, list[TurnStat]]:
    """One call of ``turns`` caller lines (``CALLER_LINES`` in turn) in text mode."""
    wrapped = timed(llm)
    agent = SalesAgent(program or bench_program(), wrapped, caller=CallerProfile(),
                       session=session, context=context, count_tokens=count_tokens)
    await llm.prime(agent.prompt_prefix())
    agent.commit("", agent.greeting, False)
    stats = []
    for i in range(turns):
        start = len(wrapped.sent)
        turn = await agent.respond(CALLER_LINES[i % len(CALLER_LINES)])
        reply = next((s for s in wrapped.sent[start:] if s.session == session),
                     Sent(session, (), Usage(), 0.0))
        counted = sum(agent.context.tokens_of(m) for m in reply.messages)
        stats.append(TurnStat(i + 1, counted, reply.usage.prompt_tokens,
                              reply.usage.prompt_tokens - reply.usage.cached_tokens,
                              reply.ttft_s, agent.context.tokens, agent.context.compactions,
                              turn.text))
        if progress:
            print(table(stats[-1:], header=False), flush=True)
    return agent, stats


def summary(stats: list[TurnStat]) -> dict[str, float]:
    """Medians of turns 5-15 (early) and of the last 10 (late), over the turns the LLM
    answered."""
    early, late = stats[4:15], stats[-10:]
    out = {}
    for name, part in (("early", early), ("late", late)):
        part = [s for s in part if s.counted_tokens]  # the LLM answered
        out[f"{name}_ttft_s"] = statistics.median(s.ttft_s for s in part)
        out[f"{name}_counted_tokens"] = statistics.median(s.counted_tokens for s in part)
        reported = [s for s in part if s.prompt_tokens]
        if reported:
            out[f"{name}_prompt_tokens"] = statistics.median(s.prompt_tokens for s in reported)
            out[f"{name}_evaluated_tokens"] = statistics.median(
                s.evaluated_tokens for s in reported)
    out["late_over_early_ttft"] = out["late_ttft_s"] / out["early_ttft_s"]
    after = after_cuts(stats)
    out["cuts"] = len(after)
    if after:
        out["after_cut_ttft_s"] = statistics.median(s.ttft_s for s in after)
        if reported := [s for s in after if s.prompt_tokens]:
            out["after_cut_evaluated_tokens"] = statistics.median(
                s.evaluated_tokens for s in reported)
    return out


def after_cuts(stats: list[TurnStat]) -> list[TurnStat]:
    """The turns whose request was the first after a compaction (the cut history's
    cache is reused, or not, there)."""
    return [s for prev, before, s in zip(stats, [0, *(t.compactions for t in stats)],
                                          stats[1:], strict=False)
            if prev.compactions > before and s.counted_tokens]


def table(stats: list[TurnStat], *, header: bool = True) -> str:
    rows = (["turn  counted  prompt  evaluated  ttft_s  history  cuts  reply"] if header
            else [])
    rows += [f"{s.turn:4d}  {s.counted_tokens:7d}  {s.prompt_tokens:6d}  "
             f"{s.evaluated_tokens:9d}  {s.ttft_s:6.2f}  "
             f"{s.history_tokens:7d}  {s.compactions:4d}  {s.reply[:40]!r}" for s in stats]
    return "\n".join(rows)


async def run_long_call(llm_settings: LLMSettings, cache_dir: Path, turns: int, *,
                        max_tokens: int = 16, context_tokens: int | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """The benchmark on the backend ``llm_settings`` pick: its summary and turns (JSON).
    ``context_tokens`` shrinks the context per request below the backend's (cuts come
    sooner: a short run crosses them)."""
    from models.registry import build_llm

    llm = build_llm(llm_settings, cache_dir)
    try:
        context = (ContextBudget(context_tokens=context_tokens, reply_tokens=max_tokens)
                   if context_tokens else None)
        _, stats = await long_call(llm, turns, program=bench_program(max_tokens),
                                   context=context, progress=progress)
    finally:
        await llm.aclose()
    if progress:
        print(table(stats))
    return {"backend": llm_settings.backend, "context_tokens": context_tokens,
            "backend_context_tokens": llm.context_tokens,
            "tokenizer": llm.count_tokens is not None, "max_tokens": max_tokens,
            "summary": summary(stats), "turns": [asdict(s) for s in stats]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--context-tokens", type=int, default=None,
                        help="tokens per request (default: the backend's)")
    parser.add_argument("--out", type=Path, default=Path("long-call.json"))
    args = parser.parse_args()
    print(json.dumps(vars(args), default=str))
    from models.config import default_cache_dir

    result = asyncio.run(run_long_call(LLMSettings(), default_cache_dir(), args.turns,
                                       max_tokens=args.max_tokens,
                                       context_tokens=args.context_tokens))
    print(json.dumps(result["summary"], indent=2))
    args.out.write_text(json.dumps({"args": vars(args), **result}, indent=2, default=str))


if __name__ == "__main__":
    main()
