"""Figures in a clause, attributed: each must be the sheet's figure, in a compatible unit,
of the product it is said of (the product named last before it in the reply), and a
period said of an exclusion or cover must be that exclusion's period. Pure."""

from __future__ import annotations

import re

from agent.claim_callers import callers_figure
from agent.claim_covers import implied_products
from agent.claim_products import product_mentions
from agent.domain import DomainPack, Fact, Product
from agent.numbers import Figure, figures_in, same_unit
from agent.phrases import ends_sentence, rx, sentence_so_far

_QUOTE = rx(r"\bfor you\b", r"\byour (?:premium|price|quote|cost|monthly)",
            r"\byou(?:'d| would| will|'ll) (?:pay|be paying)", r"\bwould (?:be|cost|come to)\b",
            r"\bcomes? (?:to|out at)\b", r"\bexactly\b", r"\bjust \$?\d", r"\bonly\b")
_RANGE_WORDS = rx(r"\bfrom\b", r"\bbetween\b", r"\bup to\b", r"\bstart(?:s|ing)? (?:at|from)\b",
                  r"\brange", r"\bas little as\b")


def figure_problems(domain: DomainPack, clause: str, before: str) -> list[str]:
    """Figures in ``clause`` that are not the sheet's for the product they are attached to.
    ``before`` is what the reply said earlier (its last product is the focus)."""
    found = []
    figures = figures_in(clause)
    text = before + clause
    offset = len(before)
    mentions = product_mentions(domain, text)
    question = clause.rstrip().endswith("?")
    sentence = sentence_so_far(before)
    said = figures
    callers = [f for f in said
               if callers_figure(domain, sentence + clause[: f.start], clause[f.start :], f)]
    # The caller's age past the sheet's range is theirs only said as outside it: "at
    # seventy you'd be outside it", not "at 70 you can still get term life".
    callers = [f for f in callers if not _age_stretched(domain, mentions, text, offset, f)]
    # A range or list is said whole: "you're between twenty-one and sixty-five".
    figures = [f for f in said if f not in callers
               or any(g not in callers for g in said if _in_range(clause, f, [g]))]
    for f in figures:
        if question and ((not f.unit.startswith("money") and f.unit != "percent")
                         or _ECHO_OPEN.fullmatch(sentence + clause[: f.start])):
            continue  # a question about the caller's life, or their figure asked back
        if f.unit in ("", "count") and f.value <= 12 and not any(ch.isdigit() for ch in f.text):
            continue  # "three options", "eight products": words, not sheet figures
        if _CORRECTED.search(clause[: f.start]) or (
                _SAID_EARLIER.search(sentence + clause[: f.start]) and _RETRACTED.search(text)):
            continue  # "ninety days, not thirty", "I said sixty earlier; that was wrong"
        end = offset + _list_end(clause, f, said)
        product = _focus(mentions, offset + f.start, domain, text, end)
        if product is None:
            product = _owner_of_attribute(domain, sentence + clause, f)
        if product is None and len(implied := implied_products(domain, sentence + clause)) == 1:
            product = implied[0]  # "each trip can last up to ...": travel's, named or not
        ages = [g for g in said if g.unit == "age"]
        if product is not None and f.unit == "age" and _within_age(product, f.value) \
                and len(_caller_ages(product, ages)) == 1 and not _in_range(clause, f, ages):
            continue  # the caller's age, beside the sheet's own bounds if any
        pool = product.figures if product else [g for p in domain.products for g in p.figures]
        example = product is not None and _example(
            product, sentence + clause[: f.start], clause[f.end:], f)
        timed = product is not None and (
            _same_time(product, f) or _a_sheet_period(domain, product, f, text))
        if not any(g.value == f.value and same_unit(f.unit, g.unit) for g in pool) \
                and not timed and not (
                product and (_worded_elsewhere(domain, product, text, f) or example)):
            where = f" for {product.id}" if product else ""
            found.append(f"{f.text}{where}")
        elif product is not None \
                and (named := _attribute_named(clause, product, f, figures)) is not None \
                and same_unit(f.unit, named.unit) and f.value not in named.values and not example:
            found.append(f"{f.text} as the {named.attribute} of {product.id}")
    money = [f for f in figures if f.unit.startswith("money")]
    if len(money) == 1 and len(figures) == 1 and _QUOTE.search(clause) \
            and not _RANGE_WORDS.search(clause):
        found.append(f"{money[0].text} as one exact price (the sheet gives ranges)")
    return found + period_problems(domain, clause, before)


_FIRST = re.compile(r"\b(?:first|initial|opening) (?:(?P<n>[\w-]+) )?(?:policy )?"
                    r"(?P<unit>year|month|week|day)s?\b", re.I)
_IN_DAYS = {"year": 365.0, "years": 365.0, "month": 30.4, "months": 30.4, "week": 7.0,
            "weeks": 7.0, "day": 1.0, "days": 1.0}
_PLAIN = frozenset("the a an in of for from any after during conditions condition policy "
                   "while with under".split())
_EXCLUDED = re.compile(r"\bexclu|\b(?:not|n't) (?:be )?(?:covered|included)", re.I)


def _first_period(text: str) -> tuple[int, float] | None:
    """Where "the first 2 years" (or "the first policy year") is said, and its length in
    days; None without one."""
    m = _FIRST.search(text)
    if m is None:
        return None
    n = 1.0
    if m.group("n") is not None:
        said = figures_in(m.group("n"))
        if not said:
            return None  # "the first full year": not a count
        n = said[0].value
    return m.start(), n * _IN_DAYS[m.group("unit").lower()]


def period_problems(domain: DomainPack, clause: str, before: str) -> list[str]:
    """A period said of an exclusion or cover the sheet bounds in time ("pre-existing
    conditions in the first 2 years") that is not the sheet's period for the product in
    focus: "... excluded for the first year" of Private Medical Insurance."""
    said = _first_period(clause)
    if said is None:
        spans = [f for f in figures_in(clause) if f.unit in ("years", "months", "weeks", "days")]
        if len(spans) != 1 or not _EXCLUDED.search(clause):
            return []
        said = (spans[0].start, spans[0].value * _IN_DAYS[spans[0].unit])
    low = clause.lower()
    mentions = product_mentions(domain, before + clause)
    focus = _focus(mentions, len(before) + said[0], domain)
    bounded = [(p, item, days) for p in ([focus] if focus is not None else domain.products)
               for item, days in _bounds_said(domain, p, low)]
    if not bounded or any(abs(days - said[1]) < 1 for _, _, days in bounded):
        return []
    p, item, _ = bounded[0]
    return [f"{clause.strip()[:40]}: the sheet says {item} for {p.id}"]


def _bounds_said(domain: DomainPack, product: Product, low: str) -> list[tuple[str, float]]:
    """The covers and exclusions of ``product`` the sheet bounds in time ("pre-existing
    conditions in the first 2 years") that ``low`` speaks of, with their periods in days."""
    bounded = []
    for item in [*product.exclusions, *product.covers]:
        sheet = _first_period(item)
        core = re.split(r"\b(?:in|for|during|after) the first\b", item.lower())[0]
        words = [w for w in re.findall(r"[a-z][a-z-]+", core) if w not in _PLAIN]
        if sheet is not None and words and any(
                re.search(rf"\b{re.escape(t)}", low)
                for w in words for t in [w, *domain.terms.get(w, [])]):
            bounded.append((item, sheet[1]))
    return bounded


_ATTRIBUTE_CUES = {
    # "costs" as what the product pays ("medical costs", "repair costs") names no premium.
    "premium": re.compile(r"\b(?:premiums?|(?<!medical )(?<!legal )(?<!repair )(?<!funeral )"
                          r"(?<!hospital )(?<!treatment )(?<!travel )costs?|price[sd]?|monthly"
                          r"|a month|per month)\b", re.I),
    "waiting_period": re.compile(r"\bwait", re.I),
    "cover_amount": re.compile(
        r"\b(?:pays? out|payouts?|lump sum|cover(?:age)? amount|sum insured)\b", re.I),
    "excess": re.compile(r"\bexcess\b", re.I),
}


def _attribute_named(clause: str, product: Product, f: Figure,
                     figures: list[Figure]) -> Fact | None:
    """The one attribute of ``product`` the clause names ("the annual premium is ..."),
    if exactly one: its figure must be that attribute's. "A month" said right after
    another figure is that figure's unit ("5 to 30 dollars a month with medical cover up
    to 10,000,000 dollars"), no attribute of ``f``."""
    def own(m: re.Match[str]) -> bool:
        return not any(g is not f and g.end <= m.start() and re.fullmatch(
            r"\s*(?:dollars?|usd|bucks)?\s*", clause[g.end : m.start()]) for g in figures)
    named = [a for a, cue in _ATTRIBUTE_CUES.items()
             if any(own(m) for m in cue.finditer(clause)) and product.fact(a)]
    return product.fact(named[0]) if len(named) == 1 else None


def _caller_ages(product: Product, ages: list[Figure]) -> list[Figure]:
    """Ages said that are not the product's own age bounds."""
    fact = product.fact("age")
    return [g for g in ages if fact is None or g.value not in fact.values]


def _list_end(clause: str, f: Figure, said: list[Figure]) -> int:
    """Where the range or list ``f`` opens ends ("forty-five to three hundred")."""
    later = [g for g in said if g.start >= f.end]
    end = f
    for g in later:
        if not _in_range(clause, end, [g]):
            break
        end = g
    return end.end


def _in_range(clause: str, f: Figure, others: list[Figure]) -> bool:
    """``f`` is one end of a range or list of figures ("from 18 to 60")."""
    return any(re.fullmatch(r"\s*(?:-|to|and|through|or|,)\s*",
                            clause[min(f.end, g.end):max(f.start, g.start)]) is not None
               for g in others if g is not f)


_OUTSIDE = re.compile(r"\b(?:not|no longer|outside|too (?:old|young)|over|past|beyond|above|under"
                      r"|below|cannot)\b|n't\b", re.I)


def _age_stretched(domain: DomainPack, mentions: list[tuple[int, str]], text: str,
                   offset: int, f: Figure) -> bool:
    """An age outside the age range of the product in focus, said without saying so."""
    product = _focus(mentions, offset + f.start, domain, text, offset + f.end)
    fact = product.fact("age") if product is not None else None
    return (f.unit in ("", "age") and f.value <= 120 and fact is not None and fact.form == "range"
            and not fact.values[0] <= f.value <= fact.values[1]
            and _OUTSIDE.search(text[offset:]) is None)


_FOR_EXAMPLE = re.compile(r"\b(?:say|for example|for instance|e\.g\.|such as|imagine|suppose"
                          r"|if you (?:chose|choose|picked?|went for|go for|took|take|opted for"
                          r"|wanted|want))"
                          r"\W*(?:an? |of )?(?:about |around )?\$?$", re.I)
_WITHIN = re.compile(r"\b(?:sits?|is|falls?|comes?)? ?(?:well |comfortably |easily |right )?"
                     r"(?:within|inside|in the middle of) (?:the|our|that|what|its|their)\b", re.I)
"""An amount said to lie inside the sheet's range: "half a million is well within it"."""
_AN_INSTANCE = re.compile(r"^[\w\s-]{0,30}?\b(?:policy|plan|cover|lump sum|payout)\b", re.I)


def _example(product: Product, before: str, after: str, f: Figure) -> bool:
    """An amount inside one of the product's ranges said as an example ("could pay, say,
    150,000 dollars", "a 250k term life policy"): not a figure of the sheet's own."""
    inside = any(fact.form == "range" and same_unit(f.unit, fact.unit)
                 and fact.values[0] <= f.value <= fact.values[1] for fact in product.facts)
    instance = re.search(r"\ban?\s*$", before, re.I) is not None and _AN_INSTANCE.match(after)
    return inside and (_FOR_EXAMPLE.search(before) is not None or bool(instance)
                       or _WITHIN.search(after[:60]) is not None)


def _owner_of_attribute(domain: DomainPack, text: str, f: Figure) -> Product | None:
    """With no product named, the one product whose fact the text names by its attribute
    and whose figure ``f`` is ("the hospital benefit is a flat hundred dollars a day")."""
    low = text.lower()
    owners = {p.id: p for p in domain.products for fact in p.facts
              if fact.attribute.replace("_", " ") in low and f.value in fact.values
              and same_unit(f.unit, fact.unit)}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _within_age(product: Product, age: float) -> bool:
    """An age inside the product's age range (the caller's own age, not a new limit)."""
    fact = product.fact("age")
    return fact is not None and fact.form == "range" and fact.values[0] <= age <= fact.values[1]


def _worded_elsewhere(domain: DomainPack, focus: Product, clause: str, f: Figure) -> bool:
    """The figure is another product's, and that product's wording of it names what the
    clause named ("Travel Insurance's medical cover up to 10,000,000 dollars": the
    medical cover here is travel's, not Private Medical Insurance)."""
    low = clause.lower()
    for p in domain.products:
        for fact in p.facts:
            if p is not focus and f.value in fact.values and same_unit(f.unit, fact.unit):
                named = [m.group(0).lower() for m in domain.names.finditer(clause)]
                if any(n in fact.say.lower() for n in named) \
                        and (p.id in domain.mentioned(low) or p in implied_products(domain, low)):
                    return True
    return False


def _focus(mentions: list[tuple[int, str]], at: int, domain: DomainPack,
           text: str = "", end: int = -1) -> Product | None:
    """The product a figure at ``at`` (ending at ``end`` of ``text``) is said of: one
    named in its own phrase before it, else one its phrase attaches it to right after
    ("ninety days on critical illness"), else the product named last before it, else the
    first named after it."""
    before = [(pos, pid) for pos, pid in mentions if pos <= at]
    if text and end >= 0:
        ends = [m.end() for m in _PHRASE_END.finditer(text, 0, at)]
        start = ends[-1] if ends else 0
        if not any(pos >= start for pos, _ in before):
            later = next(((pos, pid) for pos, pid in mentions if pos >= end), None)
            if later is not None and _ATTACHED.match(text[end : later[0]]) \
                    and not _COMPARED.search(text[end : later[0]]):
                return domain.product(later[1])
    if before:
        return domain.product(before[-1][1])
    after = [pid for pos, pid in mentions if pos > at]
    return domain.product(after[0]) if after else None


_PHRASE_END = re.compile(
    r"[,;:.!?]\s|\b(?:and|but|whereas|while|whilst|though|although|plus)\b", re.I)
_UNIT_WORDS = (r"(?:[\s-]*(?:days?|weeks?|months?|years?|dollars?|bucks|percent|per ?cent|%"
               r"|(?:a|per|each|every) (?:day|week|month|year)|monthly|annual(?:ly)?|yearly)\b)*")
_ATTACHED = re.compile(rf"^{_UNIT_WORDS}[\s-]*(?:(?:[\w'-]+\s+){{0,4}}?"
                       r"(?:on|for|with|under|in|of)\s+(?:the\s+|your\s+|an?\s+|our\s+)?)?$", re.I)
"""What may come between a figure and the product its phrase names after it: its unit
and a few words ending in a preposition ("days on", "a month for a")."""
_COMPARED = re.compile(
    r"\b(?:than|like|as|unlike|compared|versus|vs|same|cheaper|dearer|more|less)\b", re.I)
_ECHO_OPEN = re.compile(r"\W*(?:(?:so|and|okay|ok|right|sorry|wait|hang on|about|around|roughly"
                        r"|a|an)\W+)*", re.I)
"""Nothing but fillers before a figure that opens a question: the caller's figure asked
back ("Seven hundred grand on critical illness? ...")."""
_CORRECTED = re.compile(
    r"(?:\bnot|\bnever|\bno|\brather than|\binstead of|n't)\s+(?:(?:the|a|an)\s+)?\$?\s*$", re.I)
"""A figure said to be wrong ("ninety days, not thirty"; "ninety rather than thirty")."""
_SAID_EARLIER = re.compile(
    r"\bi(?:'d| had)? (?:think i )?(?:told you|said|quoted|gave you|mentioned)\b[^.;!?]{0,40}$",
    re.I)
_RETRACTED = re.compile(r"\b(?:actually|wrong|mistake|my bad|i meant|correct(?:ion)?|misspoke"
                        r"|got (?:that|it) wrong|sorry)\b", re.I)
"""A figure the agent says it said before, in a reply that takes it back."""


def _same_time(product: Product, f: Figure) -> bool:
    """``f`` is a length of time a fact of ``product`` gives in another unit ("the first
    three months" of a 90-day waiting period, "four weeks" for 28 days). Months and years
    are calendar lengths, so they match roughly; days and weeks match exactly ("ninety
    days" is not the 13 weeks of a deferred period)."""
    return f.unit in _IN_DAYS and any(
        _lasts(f.value * _IN_DAYS[f.unit], v * _IN_DAYS[fact.unit], f.unit)
        for fact in product.facts if fact.unit in _IN_DAYS for v in fact.values)


def _lasts(said: float, sheet: float, unit: str) -> bool:
    """Two lengths of time in days are the same, roughly when said in a calendar unit."""
    if unit in ("months", "years"):
        return sheet > 0 and abs(said / sheet - 1) <= 0.05
    return said == sheet


def _a_sheet_period(domain: DomainPack, product: Product, f: Figure, text: str) -> bool:
    """``f`` is the period, in any unit, of a cover or exclusion of ``product`` the text
    speaks of ("pre-existing conditions in the first year" said as "for one year")."""
    return f.unit in _IN_DAYS and any(_lasts(f.value * _IN_DAYS[f.unit], days, f.unit)
                                   for _, days in _bounds_said(domain, product, text.lower()))


_TAKE_BACK = re.compile(
    r"^\W*(?:no\b|nope\b|sorry\b|pardon\b|oops\b|whoops\b|scratch that\b|hang on\b|hold on\b"
    r"|wait\b|no wait\b|i mean\b|i meant\b|correction\b|rather\b|let me (?:correct|rephrase)\b"
    r"|my (?:mistake|bad)\b|(?:i )?(?:got|read) (?:that|it|the wrong)\b)", re.I)
"""A clause that takes back what was just said: "..., no, ninety", "..., sorry, forty"."""
_ONLY_UNIT = re.compile(r"^\W*(?:(?:a|per|each|every) )?(?:day|week|month|year)s?\W*$", re.I)
"""A clause that only says another unit: "fifteen to ninety a year, a month, sorry, ..."."""


def self_corrected(parts: list[str], i: int, wrong: list[bool]) -> bool:
    """Whether the figure of clause ``i`` of a whole reply is taken back in the same
    sentence: the next clause takes it back ("no", "sorry", "I mean", or a bare unit said
    instead) and a figure follows in that sentence that is not wrong itself (``wrong``:
    which clauses had a wrong figure). Only a whole reply can know this: before speech,
    the first clause is stopped."""
    if i + 1 >= len(parts) or ends_sentence(parts[i]):
        return False
    if not (_TAKE_BACK.match(parts[i + 1]) or _ONLY_UNIT.match(parts[i + 1])):
        return False
    for j in range(i + 1, min(len(parts), i + 6)):
        if figures_in(parts[j]) or _ONLY_UNIT.match(parts[j]):
            if not wrong[j]:
                return True
        if ends_sentence(parts[j]):
            break
    return False
