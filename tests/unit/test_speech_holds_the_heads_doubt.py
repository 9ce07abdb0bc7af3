"""The learned head reads a sentence so far; a sentence can take back what its start
seemed to say. Speech holds a clause only the head doubts until its sentence ends, and a
whole reply is judged the same way (a scripted head stands in for the trained one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agent.claim_head import ClaimHead
from agent.compliance import ComplianceGuard
from agent.domain import load_domain
from agent.program import load_program
from agent.speech import Note, SpeechGate


class PersonHead(ClaimHead):
    """Reads "a person" as a human pose unless the text also says it is an AI, and
    (to show that only a taking back settles a doubt) not once "at heart" follows."""

    def __init__(self) -> None:  # no embedder: the verdict is scripted
        self.seen: list[str] = []

    def flag(self, text: str) -> list[tuple[str, float]]:
        self.seen.append(text)
        doubt = "a person" in text and "an AI" not in text and "at heart" not in text
        return [("denies_ai", 0.99)] if doubt else []


async def _words(text: str) -> AsyncIterator[str | Note]:
    for word in text.split(" "):
        yield word + " "


async def speak(text: str) -> tuple[str, dict[str, Any]]:
    domain = load_domain("insurance")
    guard = ComplianceGuard(domain, "", head=PersonHead())
    turn: dict[str, Any] = {}
    gate = SpeechGate(load_program(), domain, guard, turn, lambda said: "")
    pieces = [p async for p in gate.stream(_words(text), "Are you a bot?", needs_ai=False)]
    return "".join(p for p in pieces if isinstance(p, str)), turn


TAKEN_BACK = "Well, I'm flattered you thought I was a person, but I'm an AI, no pretending."
KEPT = "Well, I'm flattered you thought I was a person, and I really am one at heart."


async def test_a_clause_the_sentence_takes_back_is_spoken_whole() -> None:
    spoken, turn = await speak(TAKEN_BACK)
    assert spoken.split() == TAKEN_BACK.split()
    assert "compliance" not in turn


async def test_a_doubt_the_sentence_does_not_take_back_is_never_spoken() -> None:
    # The head reads the whole sentence as clean, but nothing in it takes back its start.
    spoken, turn = await speak(KEPT)
    program = load_program()
    assert "person" not in spoken
    assert program.fallback_reply.split()[0] in spoken
    assert turn["compliance"] == ["denies_ai"]


async def test_a_doubt_at_the_end_of_the_reply_is_not_left_held() -> None:
    spoken, turn = await speak("Honestly, I was a person all along")
    assert "person" not in spoken and turn["compliance"] == ["denies_ai"]


def test_a_whole_reply_is_judged_by_its_whole_sentences() -> None:
    guard = ComplianceGuard(load_domain("insurance"), "", head=PersonHead())
    assert guard.check_reply(TAKEN_BACK) == []
    assert [v.rule for v in guard.check_reply(KEPT)] == ["denies_ai"]
    # The clause-by-clause check still reports the doubt about the start.
    assert [v.learned for v in guard.check("Well, I'm flattered you thought I was a person,")] \
        == [True]
