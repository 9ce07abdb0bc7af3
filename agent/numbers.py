"""The house's one reader of figures in text: digits and spoken number words, with the
unit each figure is said in. Pure.

"Premiums from twelve to 85 dollars a month" → two figures, 12 and 85, both
``money_month``: a unit said after the last number of a list or range holds for the
numbers before it. The product sheet, the claim checker and the optimizer's prompt
filters all read figures through ``figures_in``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = ("money", "money_month", "money_day", "money_week", "money_year", "money_claim",
         "percent", "days",
         "weeks", "months", "years", "age", "count", "")
"""What a figure measures; "" when the text does not say."""

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
NUMBER_WORDS = frozenset([*_SMALL, *_SCALES])
"""Words that say a number (the response grammar does not let the model type them)."""

_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER = re.compile(
    rf"(?P<cur>\$\s?)?(?:(?P<digits>{_DIGITS})(?:\s*(?P<dscale>hundred|thousand|million|billion|k)\b)?"
    rf"|(?P<words>\b(?:a\s+)?(?:(?:{_WORD})\b(?:\s*-\s*(?:and\s*-\s*)?|\s+and\s+|\s+)?)+))",
    re.I,
)
# Between two numbers of one list or range.
_JOIN = re.compile(
    r"^\s*(?:%|percent|per ?cent|dollars?|usd|\$)?\s*(?:-|\u2013|to|or|and|through|,|, or|, and"
    r"|and up to|or even)\s*(?:\$\s?)?$", re.I)
_AFTER: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (unit, re.compile(pattern, re.I)) for unit, pattern in (
        ("money_month", r"^\s*(?:us\s+)?(?:dollars?|usd|bucks)?\s*(?:a|per|each|every)\s+month"
                        r"|^\s*(?:dollars?|usd)?\s*monthly"),
        ("money_day", r"^\s*(?:dollars?|usd|bucks)?\s*(?:a|per|each|every)\s+day"),
        ("money_week", r"^\s*(?:dollars?|usd|bucks)?\s*(?:a|per|each|every)\s+week"),
        ("money_year", r"^\s*(?:dollars?|usd|bucks)?\s*(?:a|per|each|every)\s+year"
                       r"|^\s*(?:dollars?|usd)\s*(?:annually|yearly)"),
        ("money_claim", r"^\s*(?:dollars?|usd|bucks)?\s*(?:(?:a|per|each|every|on each|for each)"
                        r"\s+claim\b|(?:each|every) time you claim)"),
        ("money", r"^\s*(?:us\s+)?(?:dollars?|usd|bucks)\b"),
        ("percent", r"^\s*(?:%|percent\b|per ?cent\b)"),
        ("age", r"^\s*(?:-\s*)?years?[- ]old|^\s*(?:and|or)\s+(?:over|older|above|under)"),
        ("days", r"^\s*(?:-\s*)?days?\b"),
        ("weeks", r"^\s*(?:-\s*)?weeks?\b"),
        ("months", r"^\s*(?:-\s*)?months?\b"),
        ("years", r"^\s*(?:-\s*)?years?\b"),
        ("count", r"^\s*(?:\w+\s+)?(?:listed\s+)?(?:conditions|illnesses|diseases|products"
                  r"|policies|plans|people|customers|clients)\b"),
    )
)
_MONEY_PER = tuple((unit, p) for unit, p in _AFTER if unit.startswith("money_"))
"""The money units with a period or a claim: what a figure said with "$" may be per."""
_AGE_BEFORE = re.compile(r"(?:\b(?:age[sd]?|aged|you'?re|you are|i'?m|turning|turned)"
                         r"|(?:^|[,.;:]\s*)at)\s*"
                         r"(?:of\s+|from\s+|between\s+|up to\s+)?$", re.I)


_A_DOLLAR = re.compile(r"\b(?:a|one)(?= (?:dollar|buck)\b)", re.I)
_SHARES = {"half": 50.0, "a third": 100 / 3, "one third": 100 / 3, "a quarter": 25.0,
           "one quarter": 25.0, "two thirds": 200 / 3, "three quarters": 75.0}
_PART = r"half|a third|one third|a quarter|one quarter|two thirds|three quarters"
_PART_OF = re.compile(
    rf"\b(?P<part>{_PART})(?: of)? (?:a|one) (?P<scale>hundred|thousand|million|billion)\b"
    rf"|\b(?P<whole>{_WORD}|\d+) and (?P<part2>{_PART.replace('half|', 'a half|')}) "
    r"(?P<scale2>hundred|thousand|million|billion)\b", re.I)
"""A share of a scale ("half a million", "two and a half thousand") is one figure."""
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
             **{w[:-1] + "ieth" if w.endswith("y") else w + "th": v
                for w, v in _SMALL.items() if 13 <= v <= 90}}
_TENS = "|".join(w for w, v in _SMALL.items() if v >= 20)
_BIRTHDAY = re.compile(
    rf"\b(?P<ord>(?:(?:{_TENS})[- ])?(?:{'|'.join(sorted(_ORDINALS, key=len, reverse=True))})"
    r"|\d+(?:st|nd|rd|th))(?= birthday)", re.I)
"""An ordinal before "birthday" is an age ("up to your seventieth birthday")."""
_ORDINAL_TAIL = re.compile(r"[- ]?(?:first|second|third|fourth|fifth|sixth|seventh|eighth"
                           r"|ninth)\b", re.I)
"""What makes the number words before it an ordinal ("twenty-fifth"), not a figure."""
_SHARE = re.compile(r"\b(half|a third|one third|a quarter|one quarter|two thirds|three quarters)"
                    r"(?= (?:of )?(?:your|the|all|our|their|my|his|her|what)\b)", re.I)
"""A share said in words ("half your income") is a percentage figure."""


@dataclass(frozen=True, slots=True)
class Figure:
    value: float
    unit: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Raw:
    value: float
    worded: bool
    start: int
    end: int
    currency: bool


def figures_in(text: str) -> list[Figure]:
    """Every figure in ``text`` with its unit. A lone "one" or "two" without a unit is a
    word ("one of our plans"), not a figure."""
    raw: list[_Raw] = []
    for m in _NUMBER.finditer(text):
        if m.group("digits"):
            value = float(m.group("digits").replace(",", ""))
            scale = (m.group("dscale") or "").lower()
            value *= 1000 if scale == "k" else _SCALES.get(scale, 1)
            raw.append(_Raw(value, False, m.start(), m.end(), bool(m.group("cur"))))
            continue
        raw += _worded(m.group("words"), m.start("words"), bool(m.group("cur")))
    raw += [_Raw(1.0, True, m.start(), m.end(), False) for m in _A_DOLLAR.finditer(text)]
    parts = [(m, _part_of(m)) for m in _PART_OF.finditer(text)]
    if parts:
        raw = [r for r in raw if not any(m.start() <= r.start < m.end() for m, _ in parts)]
        raw += [_Raw(v, True, m.start(), m.end(), bool(re.search(r"\$\s?$", text[:m.start()])))
                for m, v in parts]
    raw = [_grand(text, r) for r in raw]
    raw.sort(key=lambda r: r.start)
    units = [_unit_of(text, r) for r in raw]
    # A unit said after the last number of a range or list holds for all of them.
    for i in range(len(raw) - 2, -1, -1):
        if not units[i] and _JOIN.match(text[raw[i].end : raw[i + 1].start]):
            units[i] = units[i + 1]
    for i in range(1, len(raw)):
        if units[i - 1] == "age" and not units[i] and _JOIN.match(
                text[raw[i - 1].end : raw[i].start]):
            units[i] = "age"
    out = [Figure(_SHARES[m.group(1).lower()], "percent", m.start(), m.end(), m.group(0))
           for m in _SHARE.finditer(text)
           if not any(pm.start() <= m.start() < pm.end() for pm, _ in parts)]
    birthdays = list(_BIRTHDAY.finditer(text))
    out += [Figure(_ordinal(m.group("ord")), "age", m.start(), m.end(), m.group(0))
            for m in birthdays]
    for r, unit in zip(raw, units, strict=True):
        if any(m.start() <= r.start < m.end() for m in birthdays):
            continue  # read as an ordinal age above
        if r.worded and _ORDINAL_TAIL.match(text, r.end - 1 if text[r.end - 1] == "-" else r.end):
            continue  # the tens of an ordinal: "on the twenty-fifth" is a date
        said = text[r.start : r.end].strip()
        if r.worded and not unit and r.value in (1, 2) and len(said.split()) == 1:
            continue
        out.append(Figure(r.value, unit, r.start, r.end, said))
    return sorted(out, key=lambda f: f.start)


_GRAND = re.compile(r"\s*(?:grand|k)\b", re.I)
"""Thousands of money, said casually: "fifty grand", "250 grand"."""


def _grand(text: str, r: _Raw) -> _Raw:
    """``r`` times a thousand, and money, when "grand" follows it."""
    m = _GRAND.match(text, r.end)
    if m is None or r.value >= 1000 or (not r.worded and m.group(0).strip().lower() == "k"):
        return r
    return _Raw(r.value * 1000, r.worded, r.start, m.end(), True)


def _part_of(m: re.Match[str]) -> float:
    """The value of "half a million" or "two and a half thousand"."""
    if m.group("part"):
        return _SHARES[m.group("part").lower()] / 100 * _SCALES[m.group("scale").lower()]
    whole = m.group("whole").lower()
    value = float(whole) if whole.isdigit() else (_words_value(whole) or 0.0)
    share = _SHARES[m.group("part2").lower().replace("a half", "half")] / 100
    return (value + share) * _SCALES[m.group("scale2").lower()]


def _ordinal(said: str) -> float:
    """ "seventieth" → 70, "sixty-fifth" → 65, "70th" → 70."""
    low = said.lower()
    if low[0].isdigit():
        return float(re.sub(r"\D", "", low))
    *tens, last = re.split(r"[- ]", low)
    return float(sum(_SMALL[t] for t in tens) + _ORDINALS[last])


def _worded(words: str, base: int, currency: bool) -> list[_Raw]:
    """The numbers in a run of number words: "eight and forty" is two, "one hundred and
    twenty" is one."""
    out: list[_Raw] = []
    group: list[re.Match[str]] = []
    tokens: list[re.Match[str] | None] = [*re.finditer(r"[a-z]+", words, re.I), None]
    for i, w in enumerate(tokens):
        joins = w is not None and (w.group(0).lower() != "and" or (
            bool(group) and group[-1].group(0).lower() in _SCALES
            and _smaller_follows(tokens[i + 1 :], _SCALES[group[-1].group(0).lower()])))
        if joins and w is not None:
            group.append(w)
            continue
        if group:
            value = _words_value(" ".join(g.group(0) for g in group))
            if value is not None:
                out.append(_Raw(value, True, base + group[0].start(), base + group[-1].end(),
                                currency and not out))
        group = []
    return out


def _smaller_follows(rest: list[re.Match[str] | None], scale: int) -> bool:
    """After "<n> thousand and", the words up to the next "and" belong to the same
    number only if they stay below the thousand ("two thousand and five" is one
    number, "twenty-five thousand and five hundred thousand" two)."""
    if scale == 100:
        return True  # "four hundred and fifty thousand" is one number
    for w in rest:
        if w is None or w.group(0).lower() == "and":
            return True
        if _SCALES.get(w.group(0).lower(), 0) >= scale:
            return False
    return True


def _words_value(words: str) -> float | None:
    tokens = [w for w in re.findall(r"[a-z]+", words.lower()) if w != "and"]
    if tokens and tokens[0] == "a":
        tokens = tokens[1:]  # "a hundred" is one hundred; "a sixty-day" is sixty
    if not tokens:
        return None
    if (len(tokens) in (2, 3) and 1 <= _SMALL.get(tokens[0], 0) <= 9
            and _SMALL.get(tokens[1], 0) >= 10 and all(t in _SMALL for t in tokens[2:])):
        # Hundreds said the short way: "one-twenty" is 120, "two fifty-five" 255.
        return float(_SMALL[tokens[0]] * 100 + sum(_SMALL[t] for t in tokens[1:]))
    total = current = 0
    for w in tokens:
        if w in _SMALL:
            current += _SMALL[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[w]
            current = 0
    return float(total + current)


def _unit_of(text: str, r: _Raw) -> str:
    if r.currency:
        after = text[r.end : r.end + 24]
        for unit, pattern in _MONEY_PER:
            if pattern.match(" dollars " + after.lstrip()) or pattern.match(after):
                return unit
        return "money"
    after = text[r.end : r.end + 40]
    for unit, pattern in _AFTER:
        if pattern.match(after):
            return unit
    if _AGE_BEFORE.search(text[max(0, r.start - 24) : r.start]):
        return "age"
    return ""


def same_unit(said: str, sheet: str) -> bool:
    """May a figure said in unit ``said`` stand for a sheet figure in unit ``sheet``?
    An unsaid unit may; plain "dollars" may stand for any money figure."""
    if not said or said == sheet:
        return True
    return said == "money" and sheet.startswith("money")


def spoken_number(value: float) -> str:
    """A figure as the sheet writes it for speech: digits with thousands separators (the
    TTS engines read them aloud; transcripts stay checkable)."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,}"
