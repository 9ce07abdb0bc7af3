"""Card-like numbers taken out of what the call store keeps. Pure.

A caller who reads out a payment card number ("4111 1111 1111 1111", or as a speech
recognizer writes it, "four one one one, one one one one, ...", "forty-one eleven ...")
has it replaced by ``CARD_MARKER`` before the transcript is stored. A card-like number
is a run of digit groups joined only by spaces, dashes, pause punctuation or fillers
("uh") that holds 13-19 digits and passes the Luhn check. Phone numbers (at most 12
digits), amounts written with thousands separators or decimals ("250,000", "85.50"),
quantities in words ("two hundred thousand") and numbers that fail the Luhn check stay.

Digits read one by one are a different reading from quantities: ``agent.numbers``
reads "four one one" as figures, this module as the digit string "411".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CARD_MARKER = "[card number removed]"
MIN_DIGITS, MAX_DIGITS = 13, 19
"""Payment card numbers (ISO/IEC 7812) are 13 to 19 digits long."""

_DIGIT_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_ZERO_LETTERS = {"oh", "o"}
"""Zero as read aloud; only inside a run ("oh, four one..." starts at "four")."""
_TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
          "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
          "nineteen": "19"}
_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6",
         "seventy": "7", "eighty": "8", "ninety": "9"}
_REPEATS = {"double": 2, "triple": 3}
_FILLERS = {"uh", "um", "umm", "er", "erm", "ah", "hmm", "mm"}

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z]+")
_JOINER = re.compile(r"[\s\-\u2010-\u2014,.;:]*")
"""What may stand between two groups of one number."""
_PAUSE = re.compile(r"[,.;:]")


@dataclass(frozen=True, slots=True)
class _Group:
    digits: str
    start: int
    end: int
    pause_before: bool


def redact_card_numbers(text: str) -> str:
    """``text`` with every card-like number replaced by ``CARD_MARKER``."""
    spans = [span for run in _runs(text) for span in _card_spans(run)]
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + CARD_MARKER + text[end:]
    return text


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_spans(run: list[_Group]) -> list[tuple[int, int]]:
    """Character spans of the card numbers in one run, longest first, not overlapping.

    A candidate starts at the run's start or after a pause, and ends at the run's end,
    before a pause, or anywhere before the next pause (a card read straight on into its
    expiry date)."""
    n = len(run)
    pauses = [i for i in range(1, n) if run[i].pause_before]
    found: list[tuple[int, int, int]] = []  # (digits, first group, end group)
    for a in [0, *pauses]:
        next_pause = next((p for p in pauses if p > a), n)
        ends = {b for b in [*pauses, n] if b > a} | set(range(a + 1, next_pause + 1))
        for b in ends:
            digits = "".join(g.digits for g in run[a:b])
            if MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn_valid(digits):
                found.append((len(digits), a, b))
    taken: set[int] = set()
    spans = []
    for _, a, b in sorted(found, reverse=True):
        if taken.isdisjoint(range(a, b)):
            taken.update(range(a, b))
            spans.append((run[a].start, run[b - 1].end))
    return spans


def _runs(text: str) -> list[list[_Group]]:
    """Runs of digit groups: digits as written or read out in words, joined only by
    spaces, dashes, pause punctuation or fillers."""
    tokens = list(_TOKEN.finditer(text))
    runs: list[list[_Group]] = []
    run: list[_Group] = []
    last_end = 0  # where the open run's last group (or filler) ends
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        gap = text[last_end : tok.start()]
        if run and not _JOINER.fullmatch(gap):
            runs.append(run)
            run = []
        if run and tok.group(0).lower() in _FILLERS:
            last_end, i = tok.end(), i + 1
            continue
        read = _read_group(text, tokens, i, in_run=bool(run))
        if read is None:
            if run:
                runs.append(run)
                run = []
            i += 1
            continue
        digits, used = read
        end = tokens[i + used - 1].end()
        run.append(_Group(digits, tok.start(), end, bool(run) and bool(_PAUSE.search(gap))))
        last_end, i = end, i + used
    if run:
        runs.append(run)
    return runs


def _read_group(
    text: str, tokens: list[re.Match[str]], i: int, *, in_run: bool
) -> tuple[str, int] | None:
    """The digits token ``i`` (with the next, for "forty-one" or "double four") reads
    as, and how many tokens that took; None when it is no digit group."""
    said = tokens[i].group(0)
    if said[0].isdigit():
        # "250,000" or "85.50" is an amount, never part of a card number.
        return (said, 1) if said.isdigit() else None
    word = said.lower()
    if word in _DIGIT_WORDS:
        return _DIGIT_WORDS[word], 1
    if word in _ZERO_LETTERS:
        return ("0", 1) if in_run else None
    if word in _TEENS:
        return _TEENS[word], 1
    nxt = _next_word(text, tokens, i)
    if word in _TENS:
        if nxt in _DIGIT_WORDS and nxt != "zero":
            return _TENS[word] + _DIGIT_WORDS[nxt], 2
        return _TENS[word] + "0", 1
    if word in _REPEATS and nxt is not None and (nxt in _DIGIT_WORDS or nxt in _ZERO_LETTERS):
        return _DIGIT_WORDS.get(nxt, "0") * _REPEATS[word], 2
    return None


def _next_word(text: str, tokens: list[re.Match[str]], i: int) -> str | None:
    """The word right after token ``i`` when only a space or hyphen stands between."""
    if i + 1 >= len(tokens):
        return None
    if text[tokens[i].end() : tokens[i + 1].start()] not in (" ", "-"):
        return None
    return tokens[i + 1].group(0).lower()
