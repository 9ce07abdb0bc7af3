"""Compliance for regulated insurance calls: opt-outs, do-not-call, and what may be said.

A reply is checked clause by clause before it is spoken: every number must appear in the
product sheets, only the domain's products may be offered, no guarantees, and nothing of
the agent's instructions or private thought may leak. A clause that fails is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from agent.domain import DomainPack, normalize_number, number_kind

_OPT_OUT = re.compile(
    r"\b(stop calling|(don'?t|do not|never) (ever )?(call|contact|ring|phone) (me|us|this number)"
    r"|do[- ]not[- ]call|take me off|remove (me|my (number|name|details))|unsubscribe"
    r"|opt(ed)?[- ]out|opt me out|put me on (the|your) (do not call|dnc)|stop contacting"
    r"|no more calls|(don'?t|do not) want (any )?(more|further|these|your) calls"
    r"|lose my number)\b",
    re.I,
)
_HUMAN_QUESTION = re.compile(
    r"\bare you (a |an )?(real|human|person|robot|bot|machine|computer|ai|recording)\b"
    r"|\b(am i|is this) (talking|speaking) (to|with) (a |an )?"
    r"(real|human|person|robot|bot|machine|ai)",
    re.I,
)
_AI = re.compile(r"\b(AI|artificial intelligence|virtual assistant)\b", re.I)
_LEAK = re.compile(
    r"system prompt|my (instructions|prompt|sop|rules|guidelines)|i was (told|instructed)"
    r"|\bthought\s*:|\btemplate\b|\bstrategy\b|json|\[\s*\"|\{\s*\"|statistics say",
    re.I,
)
_QUOTE = re.compile(r"\b(premium|cost|costs|price|pay|quote|would be|will be)\b", re.I)
_RANGE = re.compile(r"\b(to|between|from|up to|starting|range|ranges|as little as)\b", re.I)
_GUARANTEE = re.compile(r"\bguarantee[ds]?\b|\b(always|never) (pay|paid|pays|approve)", re.I)
_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD = "|".join(sorted([*_UNITS, *_SCALES], key=len, reverse=True))  # longest first
_NUMBER_WORDS = re.compile(rf"\b(?:(?:{_WORD})\b(?:[\s-]+(?:and\s+)?)?)+", re.I)
_SCALED_DIGITS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s+(hundred|thousand|million|billion)\b", re.I)
# Ordinary words that name a small count, not a claim: "one of our plans", "a couple".
_HARMLESS_WORDS = {"one", "two"}
_PRODUCT_WORDS = re.compile(
    r"\b(pet|dental|boat|wedding|gadget|phone|funeral|mortgage|business|landlord|bike"
    r"|bicycle|motorcycle|long[- ]term care|annuit(y|ies)|pension|investment|savings)\b"
    r"(?=\s+(insurance|cover|plan|policy|policies|product))",
    re.I,
)


def numbers_in(text: str) -> list[str]:
    """Every number in ``text``, normalized: digits, digits with a scale word
    ("500 million" → "500000000") and spelled-out numbers ("fifty thousand" → "50000")."""
    out = []
    for m in _SCALED_DIGITS.finditer(text):
        value = float(m.group(1).replace(",", "")) * _SCALES[m.group(2).lower()]
        out.append(normalize_number(f"{value:f}"))
    rest = _SCALED_DIGITS.sub(" ", text)
    out += [normalize_number(n) for n in _DIGITS.findall(rest)]
    return out + words_to_numbers(rest)


def words_to_numbers(text: str) -> list[str]:
    """Spelled-out numbers in ``text`` as digit strings ("fifty thousand" → "50000")."""
    out = []
    for m in _NUMBER_WORDS.finditer(text):
        words = re.findall(r"[a-z]+", m.group(0).lower())
        words = [w for w in words if w != "and"]
        if not words or (len(words) == 1 and words[0] in _HARMLESS_WORDS):
            continue
        total, current = 0, 0
        for w in words:
            if w in _UNITS:
                current += _UNITS[w]
            elif w == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * _SCALES[w]
                current = 0
        out.append(str(total + current))
    return out


def is_opt_out(text: str) -> bool:
    return bool(_OPT_OUT.search(text))


def asks_if_human(text: str) -> bool:
    return bool(_HUMAN_QUESTION.search(text))


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    """unsupported_number, unknown_product, guarantee, leak"""
    detail: str


class ComplianceGuard:
    def __init__(self, domain: DomainPack, system_prompt: str) -> None:
        self.domain = domain
        self._prompt_ngrams = _ngrams(system_prompt, 6)

    def check(self, text: str, said_before: str = "") -> list[Violation]:
        """What is wrong with saying ``text`` after ``said_before`` in the same reply
        (empty: it may be said). Recited instructions are looked for across both."""
        found: list[Violation] = []
        # A number must appear in the sheets as the same kind of quantity: "85%" is not
        # supported by "85 USD a month".
        allowed = self.domain.allowed_by_kind[number_kind(text)]
        for n in numbers_in(text):
            if n not in allowed:
                found.append(Violation("unsupported_number", n))
        for m in _PRODUCT_WORDS.finditer(text):
            found.append(Violation("unknown_product", m.group(0)))
        if _QUOTE.search(text) and number_kind(text) == "money" and not _RANGE.search(text):
            found.append(Violation("unsupported_quote", "an exact price; the sheets give ranges"))
        if _GUARANTEE.search(text):
            found.append(Violation("guarantee", _GUARANTEE.search(text).group(0)))  # type: ignore[union-attr]
        # A phrase may straddle the cut between already-spoken words and this piece.
        if (leak := _LEAK.search(said_before[-80:] + text)) is not None:
            found.append(Violation("leak", leak.group(0)))
        elif self._prompt_ngrams & _ngrams(said_before + " " + text, 6):
            found.append(Violation("leak", "repeats the instructions"))
        return found

    def check_reply(self, text: str) -> list[Violation]:
        """A whole reply, clause by clause as it is checked before being spoken (what a
        number measures is read from its own clause)."""
        found: list[Violation] = []
        said = ""
        for clause in clauses(text):
            found += self.check(clause, said)
            said += clause
        return found


_CLAUSE_END = re.compile(r"[.!?;:,](?=\s)")


def clauses(text: str) -> list[str]:
    """A reply cut where the guard checks it: at clause punctuation followed by a space
    (so "500,000" and "3.5" stay whole)."""
    out, start = [], 0
    for m in _CLAUSE_END.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    out.append(text[start:])
    return [c for c in out if c.strip()]


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class DoNotCall(Protocol):
    """Numbers that asked not to be called; checked before every call."""

    def add(self, caller_id: str, reason: str) -> None: ...

    def __contains__(self, caller_id: object) -> bool: ...


class MemoryDoNotCall:
    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self._numbers = {normalize_caller_id(n): "" for n in numbers}

    def add(self, caller_id: str, reason: str) -> None:
        self._numbers[normalize_caller_id(caller_id)] = reason

    def __contains__(self, caller_id: object) -> bool:
        return isinstance(caller_id, str) and normalize_caller_id(caller_id) in self._numbers


def normalize_caller_id(caller_id: str) -> str:
    """Phone numbers compare by digits (and a leading +); other ids as given."""
    digits = re.sub(r"[^\d+]", "", caller_id)
    return digits if len(digits) >= 6 else caller_id.strip().lower()
