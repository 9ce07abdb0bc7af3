"""Phrase patterns with negation: the small machinery the claim rules share. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable


def rx(*parts: str) -> re.Pattern[str]:
    """One case-insensitive pattern from alternatives."""
    return re.compile("|".join(parts), re.I)


_NEGATED = re.compile(
    r"\b(?:can'?t|cannot|can not|won'?t|will not|wouldn'?t|not|never|nor|don'?t|doesn'?t"
    r"|isn'?t|aren'?t|unable to|rather not|without|no)\b"
    # "Don't worry about being declined, it won't happen" reassures; it negates nothing.
    r"(?!\s+(?:even\s+)?(?:need\s+to\s+)?(?:worry|fret|panic|think\s+about))"
    r"(?:\s+[\w']+){0,3}\s*$", re.I)


def hits(
    pattern: re.Pattern[str], text: str, *, negatable: bool = True
) -> Iterable[re.Match[str]]:
    """Matches of ``pattern``; with ``negatable``, not those negated by the two or three
    words before them ("I can't promise")."""
    for m in pattern.finditer(text):
        if not negatable or not _NEGATED.search(text[max(0, m.start() - 40) : m.start()]):
            yield m
