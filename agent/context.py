"""One call's chat history, kept within the backend's context however long the call.

A request's prompt is the system prompt (with the product sheet), then the history,
then this turn's messages. The history grows one exchange a turn until it reaches its
share of the budget; then it is compacted once: the oldest exchanges go, the last
``keep_exchanges`` stay verbatim, and a *call notes* message follows them with what
the cut exchanges carried that still matters: the current strategy line (when its own
message was cut), the facts already given to the caller (which products were named,
which of their figures were said) and a short extractive summary of the caller's
earlier lines. Nothing here calls a model: the notes are taken from the text.

Why this layout: the prompt stays append-only between compactions, so each turn the
backend's prefix cache evaluates only the new messages; and the notes come *after* the
kept exchanges, so a backend that reuses cache chunks by shifting them (llama.cpp's
``n_cache_reuse``) keeps the kept exchanges too and evaluates only the notes at a
compaction. Compactions are rare: the history refills from about half the budget.

Sans-I/O: messages in, messages out; the token counter is injected (the model's own
tokenizer where the backend offers one, else ``estimate_tokens``, which never counts
fewer tokens than a BPE tokenizer for this text).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agent.domain import DomainPack
from models.llm.base import ChatMessage

TokenCounter = Callable[[str], int]
"""Tokens of a text, as the model's tokenizer counts them (or an upper estimate)."""

MESSAGE_TOKENS = 6
"""A chat message's own tokens around its text (ChatML: start, role, newline, end, newline)."""

DEFAULT_CONTEXT_TOKENS = 4096
"""Tokens per request when the backend does not say: the embedded llama.cpp default
(``n_ctx`` 8192 shared by 2 slots)."""

PLAN_TOKENS = 96
"""What a mode adds after the caller's line at most (the learned plan, the two-model
thought request, a prefilled thought)."""

NOTES_HEADER = "Call notes (older exchanges are cut from the history; do not repeat what was said):"

_PIECES = re.compile(r"\d|[^\W\d_]+|\n|[^\w\s]|_|\s(?=\d)", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """An upper estimate of a BPE tokenizer's count (Qwen2, Llama 3, SmolLM2) for ``text``:
    one token per digit (these tokenizers split numbers into digits, and a space before
    one is its own token), per punctuation mark and per line break; a word is one token,
    plus one per three letters past the sixth (rare words split finer); a non-ASCII word
    one token per letter."""
    n = 0
    for piece in _PIECES.findall(text):
        if piece.isalpha():
            n += len(piece) if not piece.isascii() else 1 + max(0, len(piece) - 4) // 3
        else:
            n += 1
    return math.ceil(n * 1.05)


def tokenizer_counter(encode: Callable[[str], Sequence[int]]) -> TokenCounter:
    """A counter from a model's tokenizer (``encode``: text → token ids)."""
    return lambda text: len(encode(text))


@runtime_checkable
class SizedLLM(Protocol):
    """A backend that says how many tokens one request may hold and counts them with
    its own tokenizer (the interface ``models.llm.base.LLM`` is asked to offer)."""

    @property
    def context_tokens(self) -> int | None: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """How a request's tokens are shared: the prompt gets what the reply (``reply_tokens``)
    and a safety ``margin_tokens`` leave; the history what this turn's own messages
    (``turn_tokens``: the caller's line, a strategy line, the plan) leave of that."""

    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    """Tokens one request may hold (llama.cpp: ``n_ctx`` / slots)."""
    reply_tokens: int = 256
    turn_tokens: int = 320
    margin_tokens: int = 64
    keep_exchanges: int = 6
    """Exchanges kept verbatim at a compaction (fewer if they are over half the room the
    system prompt and the notes leave)."""
    notes_tokens: int = 200
    """At most this much for the call notes."""

    def __post_init__(self) -> None:
        if self.history_tokens < 2 * self.notes_tokens:
            raise ValueError(
                f"a context of {self.context_tokens} tokens leaves {self.history_tokens} for "
                f"the history after the reply ({self.reply_tokens}), this turn "
                f"({self.turn_tokens}) and the margin ({self.margin_tokens}): too little for "
                "a call; give the backend more context per request (llama.cpp: n_ctx / slots)")

    @property
    def prompt_tokens(self) -> int:
        """The most a request's prompt may hold."""
        return self.context_tokens - self.reply_tokens - self.margin_tokens

    @property
    def history_tokens(self) -> int:
        """The most the system prompt and the history may hold together."""
        return self.prompt_tokens - self.turn_tokens


def budget_for(llm: object, reply_tokens: int, context_tokens: int | None = None,
               ) -> tuple[ContextBudget, TokenCounter]:
    """The budget and token counter for requests to ``llm``: its own context size and
    tokenizer where it offers them (``SizedLLM``), else ``context_tokens`` (default
    ``DEFAULT_CONTEXT_TOKENS``) and ``estimate_tokens``."""
    count: TokenCounter = estimate_tokens
    # A backend may know its context without offering a tokenizer (an OpenAI-compatible
    # server with [llm.openai] context_tokens): the size is read apart from the counter.
    context_tokens = context_tokens or getattr(llm, "context_tokens", None)
    if isinstance(llm, SizedLLM):
        count = llm.count_tokens
    size = context_tokens or DEFAULT_CONTEXT_TOKENS
    return ContextBudget(context_tokens=size, reply_tokens=reply_tokens), count


@dataclass(slots=True)
class FactsGiven:
    """What the agent has told the caller: products named, figures said (by reference)."""

    domain: DomainPack
    named: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    """Fact references (``term_life.premium``) whose sheet wording the caller heard."""

    def observe(self, agent_text: str) -> None:
        here = self.domain.mentioned(agent_text, by_id=False)
        # A wording several products share ("no waiting period") is the product's named
        # in the same line, else the one named last.
        about = here or self.named[-1:]
        for intent in here:
            if intent not in self.named:
                self.named.append(intent)
        low = agent_text.lower()
        owners: dict[str, list[str]] = {}
        for ref, wording in self.domain.refs.items():
            owners.setdefault(wording.lower(), []).append(ref.split(".")[0])
        for ref, wording in self.domain.refs.items():
            intent = ref.split(".")[0]
            if (ref in self.said or wording.lower() not in low
                    or (len(owners[wording.lower()]) > 1 and intent not in about)):
                continue
            self.said.append(ref)
            if intent not in self.named:
                self.named.append(intent)

    def render(self) -> str:
        if not self.named:
            return "No product named yet."
        parts = []
        for intent in self.named:
            attrs = [r.split(".", 1)[1].replace("_", " ") for r in self.said
                     if r.split(".")[0] == intent]
            name = self.domain.product(intent).name
            parts.append(f"{name} ({', '.join(attrs)})" if attrs else f"{name} (named)")
        return "Already told the caller: " + "; ".join(parts) + "."


_SELF = re.compile(r"\b(i|i'm|i've|i'd|i'll|my|me|we|we're|we've|our|us)\b", re.I)
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")


@dataclass(slots=True)
class CallerSummary:
    """The caller's cut lines, extractively: what they said of themselves, what they asked."""

    about: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def absorb(self, user_text: str) -> None:
        for raw in _SENTENCE.findall(user_text):
            words = raw.split()
            if len(words) < 3:
                continue  # "Okay.", "Yes, sure." carry nothing the history needs
            sentence = " ".join(words[:14]) + ("..." if len(words) > 14 else "")
            into = self.asked if sentence.endswith("?") else (
                self.about if _SELF.search(sentence) else None)
            if into is None:
                continue
            # A line said again (numbers aside) moves to the end instead of repeating.
            key = _same(sentence)
            into[:] = [s for s in into if _same(s) != key]
            into.append(sentence)

    def render(self, count: TokenCounter, room: int) -> str:
        """The newest lines that fit ``room`` tokens, taken from both kinds in turn, in
        the order they were said."""
        picked: dict[str, list[int]] = {"about": [], "asked": []}
        queues = {"about": list(range(len(self.about)))[::-1],
                  "asked": list(range(len(self.asked)))[::-1]}
        lines = {"about": self.about, "asked": self.asked}
        while any(queues.values()):
            for kind in ("about", "asked"):
                if not queues[kind]:
                    continue
                i = queues[kind].pop(0)
                cost = count(lines[kind][i]) + 2
                if cost > room:
                    queues[kind] = []
                    continue
                room -= cost
                picked[kind].append(i)
        out = []
        for kind, label in (("about", "The caller said earlier: "),
                            ("asked", "The caller asked earlier: ")):
            if picked[kind]:
                out.append(label + " ".join(f'"{lines[kind][i]}"' for i in sorted(picked[kind])))
        return "\n".join(out)


def _same(sentence: str) -> str:
    return re.sub(r"\d+", "#", sentence.lower())


@dataclass(slots=True)
class _Entry:
    message: ChatMessage
    tokens: int
    exchange: int
    """The exchange it belongs to (-1: call notes)."""


class CallContext:
    """One call's history within ``budget`` (see the module docstring)."""

    def __init__(self, system: str, domain: DomainPack, budget: ContextBudget,
                 count: TokenCounter = estimate_tokens) -> None:
        self.budget = budget
        self._count = count
        self._system = ChatMessage("system", system)
        self._system_tokens = self.tokens_of(self._system)
        if self._system_tokens + 2 * budget.notes_tokens > budget.history_tokens:
            raise ValueError(
                f"the system prompt alone is {self._system_tokens} tokens of the "
                f"{budget.history_tokens} the history may hold; shorten the playbook or "
                "give the backend more context per request")
        self._entries: list[_Entry] = []
        self._exchange = 0
        self.facts = FactsGiven(domain)
        self.summary = CallerSummary()
        self.strategy: str | None = None
        """The strategy line in force (its message may have been cut: the notes keep it)."""
        self.compactions = 0

    @property
    def messages(self) -> list[ChatMessage]:
        """The system prompt and the history, as the next request starts."""
        return [self._system, *(e.message for e in self._entries)]

    @property
    def tokens(self) -> int:
        """Tokens of ``messages``."""
        return self._system_tokens + sum(e.tokens for e in self._entries)

    def tokens_of(self, message: ChatMessage) -> int:
        return self._count(message.content) + MESSAGE_TOKENS

    def commit(self, user_text: str, agent_text: str, strategy: str | None = None) -> bool:
        """Add an exchange (what the caller said, what they heard of the reply, and the
        strategy line that came into force with it); True when it made the history
        compact."""
        self._exchange += 1
        if strategy:
            self._add(ChatMessage("system", strategy))
            self.strategy = strategy
        if user_text:
            self._add(self._clipped(ChatMessage("user", user_text), self.budget.turn_tokens))
        if agent_text:
            self._add(ChatMessage("assistant", agent_text))
            self.facts.observe(agent_text)
        if self.tokens <= self.budget.history_tokens:
            return False
        self._compact()
        return True

    def prompt(self, turn: list[ChatMessage]) -> list[ChatMessage]:
        """The request's prompt: the history, then ``turn`` (this turn's messages, the
        caller's line last). A caller's line too long for the turn's share keeps its end."""
        room = self.budget.history_tokens + self.budget.turn_tokens - self.tokens
        room -= sum(self.tokens_of(m) for m in turn[:-1]) + PLAN_TOKENS
        return [*self.messages, *turn[:-1], self._clipped(turn[-1], room)]

    def _clipped(self, message: ChatMessage, room: int) -> ChatMessage:
        """``message`` within ``room`` tokens: a long line keeps its end (the latest words)."""
        if self.tokens_of(message) <= room:
            return message
        words = message.content.split()
        while words and self._count(" ".join(words)) + MESSAGE_TOKENS > room:
            words = words[max(1, len(words) // 8):]
        return ChatMessage(message.role, " ".join(words))

    def _add(self, message: ChatMessage) -> None:
        self._entries.append(_Entry(message, self.tokens_of(message), self._exchange))

    def _compact(self) -> None:
        """Cut the oldest exchanges; the kept ones stay in place, the notes follow them."""
        exchanges = sorted({e.exchange for e in self._entries if e.exchange >= 0})
        keep = exchanges[-self.budget.keep_exchanges:]
        # At most half the room the notes leave: the history then refills for as long.
        half = (self.budget.history_tokens - self._system_tokens - self.budget.notes_tokens) // 2
        while len(keep) > 1 and sum(
                e.tokens for e in self._entries if e.exchange >= keep[0]) > half:
            keep = keep[1:]
        while True:
            first = keep[0] if keep else self._exchange + 1
            kept = [e for e in self._entries if e.exchange >= first]
            strategy_kept = any(e.message.role == "system" and e.message.content == self.strategy
                                for e in kept)
            for e in self._entries:
                if 0 <= e.exchange < first and e.message.role == "user":
                    self.summary.absorb(e.message.content)
            notes = self._notes(with_strategy=not strategy_kept)
            entries = [*kept, _Entry(notes, self.tokens_of(notes), -1)]
            if not keep or (self._system_tokens + sum(e.tokens for e in entries)
                            <= self.budget.history_tokens):
                break
            keep = keep[1:]  # only with lines far longer than a turn's share
        self._entries = entries
        self.compactions += 1

    def _notes(self, *, with_strategy: bool) -> ChatMessage:
        parts = [NOTES_HEADER]
        if with_strategy and self.strategy:
            parts.append(self.strategy)
        parts.append(self.facts.render())
        room = self.budget.notes_tokens - MESSAGE_TOKENS - sum(self._count(p) + 1
                                                               for p in parts)
        if said := self.summary.render(self._count, room):
            parts.append(said)
        return ChatMessage("system", "\n".join(parts))

