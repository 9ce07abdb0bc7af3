"""Phrase patterns with negation: the small machinery the claim rules share. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable


def rx(*parts: str) -> re.Pattern[str]:
    """One case-insensitive pattern from alternatives."""
    return re.compile("|".join(parts), re.I)


_NO_WORDS = (r"can'?t|cannot|can not|won'?t|will not|wouldn'?t|not|never|nor|don'?t|doesn'?t"
             r"|isn'?t|aren'?t|unable to|rather not|no|neither|none")
"""Words that say no to what they govern and to the clause they are in."""
_INSTEAD_WORDS = r"without|rather than|instead of"
"""Words that negate only what follows them: "it pays out without a wait" says no to nothing."""

_NEGATED = re.compile(
    # "Why not start ...", "why don't you add ..." suggest; they negate nothing.
    rf"(?<!why )\b(?:{_NO_WORDS}|{_INSTEAD_WORDS})\b"
    # "Don't worry about being declined, it won't happen" reassures; it negates nothing.
    r"(?!\s+(?:even\s+)?(?:need\s+to\s+)?(?:worry|fret|panic|think\s+about))"
    r"(?:\s+[\w']+){0,3}\s*$", re.I)

_DISOWN = rx(
    # "I'd be misleading you if I said ...", "it would be wrong of me to say ...".
    r"\b(?:i'?d|i would|it'?d|it would|that'?d|that would|i'?m|i am|it'?s|it is|that'?s|that is)"
    r" (?:\w+ ){0,2}(?:wrong|misleading|lying|dishonest|untrue|unfair|inventing|guessing"
    r"|overselling|overstating|irresponsible|a lie|making (?:it|that|this|things|numbers?|\w+) up)\b",
    r"\b(?:wouldn'?t|would not|isn'?t|is not|won'?t|will not) be (?:\w+ )?(?:honest|true|fair|right|accurate|truthful)\b",
    r"\b(?:isn'?t|is not|not) (?:true|the case)(?: that)?\b",
    # "I won't tell you it's the cheapest", "I can't give you a percentage of ...".
    r"\b(?:i|we)(?:'m|'d|'ll|'re| am| are| would| will)? (?:\w+ )?(?:won'?t|will not|can'?t|cannot|not going to|not able to|unable to|wouldn'?t|would not|don'?t want to|do not want to"
    r"|(?:would|'d)? ?rather not|refuse to|never) (?:\w+ ){0,2}(?:tell you|say|claim|pretend|invent"
    r"|make up|put (?:a|any) (?:number|figure|percentage|\w+)|quote you|suggest|imply|guess|give you (?:a|an|any)"
    r" (?:\w+ )?(?:number|figure|percentage|statistic|rate|guarantee|promise))\b(?! (?:how|enough|no)\b)",
    r"\bnot (?:something|anything) (?:that )?(?:i|we)(?:'m| am| are|'re)? (?:\w+ ){0,2}(?:guarantee|promise|say|claim|know)\b",
    r"\bthere'?s no (?:catch|trick|gimmick|such (?:deadline|offer|thing)|deadline)\b",
    r"\b(?:i'?m|i am) not (?:claiming|saying|suggesting|promising)\b", r"\brather than (?:guess|invent|make up|speculate)",
    # Not knowing: "I genuinely don't know whether you'll be accepted".
    r"\b(?:don'?t|do not|can'?t|cannot) (?:\w+ )?know (?:whether|if|how many|how much|what)\b", r"\bnot sure (?:if|whether)\b",
)
"""A frame that says what follows is not being claimed: what it governs, up to a "but",
is no claim (a promise, a statistic, urgency or a product fact said only to be disowned)."""
_SCOPE_END = re.compile(r"\b(?:but|however|though|although|yet)\b|[.!?;](?:\s|$)"
                        r"|,\s*(?:so|and so|which is why|that'?s why)\b", re.I)


_NO = re.compile(rf"\b(?:{_NO_WORDS})\b", re.I)


def has_negation(text: str, *, extra: re.Pattern[str] | None = None) -> bool:
    """Whether ``text`` says no anywhere: one of the words ``hits`` reads as negating
    (bar "without", "instead of" ...), or a match of ``extra``, a caller's own further
    words ("exclu" for "excluded")."""
    return _NO.search(text) is not None or (extra is not None and extra.search(text) is not None)


def has_frame(text: str) -> bool:
    """Whether ``text`` holds a disowning frame anywhere."""
    return _DISOWN.search(text) is not None


def disowned(before: str) -> bool:
    """Whether what comes after ``before`` is governed by a disowning frame in it that
    no "but" (or sentence end) has closed: "I won't tell you it's the cheapest"."""
    ends = [m.end() for m in _DISOWN.finditer(before)]
    return bool(ends) and _SCOPE_END.search(before, ends[-1]) is None


def unframed(before: str, text: str) -> str:
    """What of ``text`` is claimed when it follows ``before`` in one sentence: all of it,
    unless a disowning frame in ``before`` is still open, then what follows the "but"
    that closes it ("" when none does)."""
    if not disowned(before):
        return text
    end = _SCOPE_END.search(text)
    return "" if end is None else text[end.start():]


def claimed_part(text: str) -> str:
    """``text`` without what disowning frames govern ("It isn't true that X; it's Y"
    claims nothing; "I won't say X, but Y" claims Y)."""
    out, at = [], 0
    while (m := _DISOWN.search(text, at)) is not None:
        out.append(text[at : m.start()])
        end = _SCOPE_END.search(text, m.end())
        if end is None:
            return "".join(out)
        at = end.start()
    return "".join(out) + text[at:]


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")


_SENTENCE_DONE = re.compile(r"[.!?][\"')\]]*\s*$")


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with the end of a sentence ("... a month." or '... "no."')."""
    return _SENTENCE_DONE.search(text) is not None


def sentence_so_far(said: str) -> str:
    """The words of ``said`` after its last sentence end ("" when it ended one)."""
    ends = list(_SENTENCE_END.finditer(said + " "))
    return said[ends[-1].end():] if ends else said


def hits(
    pattern: re.Pattern[str], text: str, *, negatable: bool = True
) -> Iterable[re.Match[str]]:
    """Matches of ``pattern``; with ``negatable``, not those negated by the two or three
    words before them ("I can't promise") or governed by a disowning frame ("I'd be
    making it up if I said ...")."""
    for m in pattern.finditer(text):
        if not negatable or not (_NEGATED.search(text[max(0, m.start() - 40) : m.start()])
                                 or disowned(text[: m.end()])):
            yield m
