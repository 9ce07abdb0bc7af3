"""Contradictions of a product's non-figure facts, read from the sheet itself. Pure.

Each check is derived from what the sheet says of the product in focus: a waiting
period (or none), fixed premiums, an age range, exclusions (said to be covered), covers
(said not to be), how it pays (a lump sum, tax-free, part of income), the options its
notes list, and covers that belong to other products. Words people use for the sheet's
terms come from the pack's ``terms`` table ("a few drinks" for "alcohol").
"""

from __future__ import annotations

import itertools
import re

from agent.claim_covers import _head_words, _keywords, cover_problems
from agent.claim_products import product_mentions
from agent.domain import DomainPack, Product
from agent.phrases import has_negation, hits, rx

_NO_WAIT = rx(r"\bno (?:waiting|wait|qualifying)(?: period| time)?\b", r"\bwithout (?:a|any) wait",
               r"\b(?:neither|none)(?: of (?:them|those|the two))?(?: one)? (?:has|have) (?:a|any) (?:waiting|qualifying) period",
               r"\b(?:from|on|starting|since) (?:the )?(?:day one|first day|day 1|1st day|very first day|very start|moment you sign|start|day you (?:join|sign|start|buy|take it out))",
               r"\b(?:immediate(?:ly)?|instant(?:ly)?|straight away|right away|at once|the same day|same-day|from today|today)\b[\w ]{0,12}\b(?:covered|cover|protected|protection|pays|paid|claim)",
               r"\b(?:covered|cover starts|protection starts|you can claim|cover begins|pays out|claim)\b[\w ]{0,15}\b(?:immediately|instantly|straight away|right away|at once|the same day|today|from day one|day one|from the start|from the very start|the moment)",
               r"\b(?:waiting|qualifying) period (?:doesn'?t|does not|won'?t|will not|wouldn'?t|would not|isn'?t going to) apply",
               r"\b(?:as soon as|the moment|from the moment) (?:the |your )?(?:policy|cover|it|you)\b[\w ]{0,12}\b(?:begins?|starts?|sign|buy|join|(?:is|are) in place|goes live)")
_FIXED_CHANGE = rx(r"\bpremiums?\b[\w' ]{0,25}\b(?:go up|goes up|creeps? up|rise|rises|increase|increases|change|changes|review|reviewed|adjust|adjusted|vary|varies|climb|inflation)",
                    r"\b(?:go up|rise|increase)s? (?:every|each) year",
                    r"\b(?:lower|raise|change|adjust|increase|decrease|reduce|vary)\b (?:or \w+ )?(?:your |the )?premiums?\b")
_STAYS = re.compile(r"\b(?:don'?t|do not|won'?t|will not|never|stay|stays|fixed|remain|remains|can'?t|cannot)\b", re.I)
_ANY_AGE = rx(r"\b(?:any|every) age\b", r"\bno (?:upper |lower )?age (?:limit|restriction|cap)",
               r"\bwhatever (?:your|their) age\b", r"\b(?:at|from) birth\b", r"\bno matter how old")
_ANY_HEALTH = rx(r"\bwhatever (?:your|their) (?:health|medical history)", r"\bno (?:medical|health) questions",
                  r"\bpre-?existing (?:conditions? )?(?:are|is|will be|would be|get) (?:\w+ )?(?:covered|included|fine|no problem|paid)",
                  r"\b(?:covers?|covered|including|includes) (?:any |all |your )?pre-?existing",
                  r"\bhealth (?:history )?doesn'?t matter",
                  r"\b(?:cover|covers|covered|pay for|pays for|include|includes)\b[\w' ]{0,25}\b(?:conditions?|illness(?:es)?|problems?|ailments?)\b"
                  r"[\w' ]{0,15}\b(?:already|before)\b(?! (?:excluded|ruled out))", r"\bno matter (?:your|what your) (?:health|condition)")
_REIMBURSED = re.compile(r"\breimburs\w*|\bactual (?:medical )?(?:bills|costs)|\brather than (?:paying )?a (?:set|fixed)", re.I)
_LUMP_ON_DIAGNOSIS = rx(r"\bpays? (?:you )?(?:out )?a (?:\w+ )?lump sum\b")
_DIAGNOSED_EARLIER = re.compile(
    r"\bdiagnosed\b.{0,40}\b(?:last (?:year|month)|before|already|previously|years ago|in the past)\b"
    r".{0,60}\b(?:still pays?|would pay|will pay|pays out|covered|cover it|fine|can claim)\b", re.I)
"""A condition diagnosed before the policy said to be paid for."""
_DENIED_TOO = re.compile(r"n't\b|exclu", re.I)
"""What denies such a payment beyond ``has_negation``'s words: any contraction ("hasn't",
"shouldn't") and "excluded", "exclusion"."""
_NO_EXCLUSIONS = re.compile(r"\bno exclusions\b|\bnothing(?: at all)? (?:is )?excluded\b|\bevery cause\b", re.I)
_UNEMPLOYMENT = rx(r"\b(?:unemploy|redundan|laid off|lay-?off|lose your job|losing your job|job loss|fired|sacked)\w*")


_STARTS_LATER = rx(r"\b(?:the|a|its|their) (?:[\w-]+ )?(?:waiting|qualifying) period(?: (?:for|on|with|of) [\w' ]{1,30}?)?"
                   r" (?:is|lasts|runs|of)\b(?! (?:zero|nil|none|nothing|not|no)\b)",
                   r"\b(?:[\w-]+)[- ](?:day|week|month) (?:waiting|qualifying) period",
                   r"\bhas a (?:[\w-]+ )?(?:waiting|qualifying) period", r"\bnot from (?:the )?(?:day|start|moment)", r"\bfrom (?:the (?:first|start) of )?next (?:month|week)\b",
                   r"\bhas a (?:waiting|qualifying) period", r"\b(?:settling[- ]in|initial|probationary|qualifying) (?:period|phase|time)\b", r"\b(?:doesn'?t|does not|won'?t) (?:start|begin|kick in|apply) until",
                   r"\bkicks? in after", r"\bthere'?s (?:a|an) (?:[\w-]+ )?(?:waiting|qualifying) period\b",
                   r"\b(?:waiting|qualifying) period (?:before|until)\b", r"\bnot (?:protected|covered) for the first", r"\bbuy it well before",
                   r"\bcan'?t (?:drive away|claim) (?:on it )?(?:today|straight away|right away)")
_MONTHLY = rx(r"\bmonthly (?:income|benefit|payments?|payouts?|amount)", r"\bregular (?:income|payments?)", r"\binstal?ments?\b",
              r"\b(?:pays?|paid) (?:you )?(?:each|every|per|a) month", r"\bincome (?:while|whilst)", r"\b(?:pays?|settles?|covers?) (?:your )?(?:private )?(?:hospital )?bills directly",
              r"\bspread over", r"\bweekly\b")
_LUMP = rx(r"\blump sum", r"\bone-?off", r"\bsingle payment", r"\bone payment", r"\ball at once")
_TAXED = rx(r"\btax(?:ed|able)\b", r"\bincome tax\b", r"\bpay tax\b", r"\bcounts? as (?:taxable )?income")
_NET = rx(r"\btake-?home", r"\bnet (?:income|pay|salary)", r"\bafter tax", r"\bwhat lands in your (?:bank|account)", r"\bafter deductions")
_ANY_JOB = rx(r"\bany (?:job|work|occupation) at all", r"\bcan'?t (?:do|work) any (?:job|work)", r"\bonly if you can'?t work at all")
_ONLY = re.compile(r"\b(?:only|just)\b|\bno\b|\b(?:don'?t|do not|can'?t|cannot|doesn'?t) (?:do|offer|have|get|cover|sell)", re.I)
_BACK = rx(r"\b(?:premiums?|money)(?: \w+)? (?:back|returned|refunded)", r"\bmoney-?back", r"\bcash(?:-in)? value", r"\bcash (?:it )?in",
           r"\bsavings plan", r"\binvest(?:ed|ment)", r"\bpays? (?:out )?(?:a lump sum )?when the term ends",
           r"\beven if you'?re still alive")


def contradictions(domain: DomainPack, product: Product, clause: str) -> list[str]:
    """Ways ``clause`` contradicts the non-figure facts of ``product``, read from the
    part of it said of ``product`` (product names are blanked out first: "Critical
    Illness Cover" is not a verb)."""
    text = _own_part(domain, product, clause)
    return (_timing(product, text) + _premiums_and_people(product, text)
            + cover_problems(domain, product, text) + _how_it_pays(product, text)
            + _options(product, text))


def _own_part(domain: DomainPack, product: Product, clause: str) -> str:
    """The parts of a clause said of ``product`` when it names several: from each of its
    mentions to the next product's ("Critical illness has a 90-day wait, whereas
    personal accident has none": only the second part is personal accident's). Text
    before the first mention belongs to the first product named."""
    mentions = product_mentions(domain, clause)  # bare names too: "..., accident's got none"
    if len({pid for _, pid in mentions}) < 2 or re.search(r"\b(?:all of|none of)\b", clause, re.I):
        return _blank(domain, clause)
    cuts = [0, *(pos for pos, _ in mentions[1:]), len(clause)]
    spans = [(a, b, pid) for (a, b), (_, pid) in zip(itertools.pairwise(cuts), mentions, strict=True)]
    # Products named together share what is said of them: "Both term life and travel
    # have no waiting period", "Neither X nor Y has ...".
    groups: list[list[tuple[int, int, str]]] = []
    apart = re.search(r"\b(?:the other|respectively|whereas|different)\b", clause, re.I) is not None
    for span in spans:
        if groups and not apart and _JOINED.fullmatch(domain.names.sub(" ", clause[groups[-1][-1][0]:groups[-1][-1][1]])):
            groups[-1].append(span)
        else:
            groups.append([span])
    parts = [clause[g[0][0]:g[-1][1]] for g in groups if any(pid == product.id for _, _, pid in g)]
    return _blank(domain, " ".join(parts))


def _blank(domain: DomainPack, text: str) -> str:
    """``text`` with product names as "the product", spaced once: "isn't on the
    critical illness list" → "isn't on the product list"."""
    said = domain.names.sub(" product ", text)
    return re.sub(r"\s+", " ", re.sub(r"\b(?:the|our|your|a|an)\s+product\b", "the product", said, flags=re.I))


_JOINED = re.compile(r"[\s,]*(?:(?:both|either|neither|the|our|and|or|nor|as well as|plus|policy|policies|insurance|cover)[\s,]*)*",
                     re.I)


def _exempt(product: Product, low: str) -> bool:
    """The clause says what a note exempts from the waiting period ("The waiting period
    applies to illness, not to accidents.") starts at once, and not that the rest does:
    "a 30-day wait for illness, but accidents are covered from the start"."""
    for note in product.notes:
        m = re.match(r"(?:the )?waiting period applies to (.+?), not (?:to )?(.+?)\.?$", note.lower())
        if m is None:
            continue
        exempt = [w[:6] for w in _keywords([m.group(2)])]
        subject = [w[:6] for w in _keywords([m.group(1)])]
        if any(re.search(rf"\b{re.escape(w)}", low) for w in exempt) and (
                not any(re.search(rf"\b{re.escape(w)}", low) for w in subject)
                or re.search(r"\bwait|\b\d+[- ]day", low)):
            return True
    return False


def _exempt_waited(product: Product, low: str) -> str:
    """A note's exemption from the waiting period ("The waiting period applies to illness,
    not to accidents.") said to be waited for too: "the waiting period applies to
    accidents as well"."""
    for note in product.notes:
        m = re.match(r"(?:the )?waiting period applies to (.+?), not (?:to )?(.+?)\.?$", note.lower())
        if m is None or not re.search(r"\b(?:wait|qualifying)", low):
            continue
        for w in (w[:6] for w in _keywords([m.group(2)])):
            if re.search(rf"\b(?:appl(?:y|ies)|counts?|includes?|covers?)(?: to| for)?(?: [\w'-]+){{0,2}} {re.escape(w)}"
                         rf"|\beven (?:if|for|with|after)\b[\w' ]{{0,40}}\b{re.escape(w)}"
                         rf"|\b{re.escape(w)}\w*\b[\w' ,-]{{0,20}}\b(?:too|as well|also)\b", low) \
                    and not re.search(rf"\b(?:not|no|except|but)\b[\w' ]{{0,12}}\b{re.escape(w)}|n't\b[\w' ]{{0,20}}\b{re.escape(w)}", low):
                return note
    return ""


_PAYS_IN_WAIT = rx(r"\b(?:even|still)\b.{0,60}\b(?:during|in|within|inside) (?:the|your|that|its) (?:[\w-]+ )?(?:waiting|qualifying) period"
                   r"(?!.{0,30}\b(?:not|no|isn'?t|won'?t|doesn'?t|excluded)\b)",
                   r"\b(?:during|in|within|inside) (?:the|your|that|its) (?:[\w-]+ )?(?:waiting|qualifying) period\b.{0,60}\b(?:still|even|anyway)\b"
                   r"(?!.{0,30}\b(?:not|no|isn'?t|won'?t|doesn'?t|excluded)\b)")
"""A claim during the waiting period said to be paid: "even if you're diagnosed during
the waiting period, it would still pay out"."""


_COUNTED_FROM = re.compile(r"\b(?:days?|weeks?|months?|period|wait)(?: (?:runs?|counts?|counted|starts?|begins?|measured|is counted))?\s*$", re.I)
"""Where a waiting period is counted from, not its absence: "ninety days from the start"."""


def _timing(product: Product, text: str) -> list[str]:
    wait = product.fact("waiting_period")
    if wait is None:
        return []
    no_wait = [m for m in hits(_NO_WAIT, text) if not _COUNTED_FROM.search(text, 0, m.start())]
    if wait.values[0] > 0 and (no_wait or any(hits(_PAYS_IN_WAIT, text))) \
            and not _exempt(product, text.lower()):
        return [f"{product.id} has a waiting period"]
    if wait.values[0] > 0 and (exempt := _exempt_waited(product, text.lower())):
        return [f"{product.id}: {exempt}"]
    if wait.values[0] == 0 and any(hits(_STARTS_LATER, text)):
        return [f"{product.id} has no waiting period"]
    return []


def _premiums_and_people(product: Product, text: str) -> list[str]:
    found = []
    if any("fixed" in n.lower() for n in product.notes) and (any(
            not _STAYS.search(m.group(0)) for m in hits(_FIXED_CHANGE, text))
            or re.search(r"\b(?:aren'?t|are not|not) fixed\b", text, re.I)):
        found.append(f"{product.id} premiums are fixed")
    if product.fact("age") is not None and any(hits(_ANY_AGE, text)):
        found.append(f"{product.id} has an age range")
    excluded = " ".join(product.exclusions).lower()
    if "pre-existing" in excluded and any(hits(_ANY_HEALTH, text)):
        found.append(f"{product.id} excludes pre-existing conditions")
    elif "diagnosed before" in excluded and _DIAGNOSED_EARLIER.search(text) \
            and not has_negation(text, extra=_DENIED_TOO):
        found.append(f"{product.id} excludes conditions diagnosed before the policy")
    if product.exclusions and _NO_EXCLUSIONS.search(text):
        found.append(f"{product.id} has exclusions: {', '.join(product.exclusions)}")
    return found


def _how_it_pays(product: Product, text: str) -> list[str]:
    summary = product.summary.lower()
    found = []
    if "lump sum" in summary and any(hits(_MONTHLY, text)):
        found.append(f"{product.id} pays a lump sum")
    if "income" in summary and "lump sum" not in summary and any(hits(_LUMP, text)):
        found.append(f"{product.id} replaces income, not a lump sum")
    if "tax-free" in summary and any(hits(_TAXED, text)):
        found.append(f"{product.id} pays tax-free")
    facts = " ".join(f.spoken() for f in product.facts).lower()
    if "gross" in facts and any(hits(_NET, text)):
        found.append(f"{product.id} pays on gross income")
    if "own job" in " ".join(product.covers).lower() and _ANY_JOB.search(text):
        found.append(f"{product.id} covers your own job")
    if "fixed benefit" in summary and _REIMBURSED.search(text):
        found.append(f"{product.id} pays a fixed benefit")
    if "lump sum" not in summary and "income" not in summary and any(hits(_LUMP_ON_DIAGNOSIS, text)):
        found.append(f"{product.id} does not pay a lump sum ({product.summary})")
    if product.id.startswith("term") or "die during" in summary:
        if any(hits(_BACK, text)):
            found.append(f"{product.id} pays only on death or terminal illness")
    return found


def _options(product: Product, text: str) -> list[str]:
    """A note that lists options ("Single-trip or annual multi-trip policies."): saying
    one of them is the only one, or that another is not offered, contradicts it."""
    for note in product.notes:
        if " or " not in note:
            continue
        options = [o.strip(" .").lower() for o in re.split(r",\s*(?:or\s+)?|\s+or\s+", note)]
        for option in options:
            words = sorted(_keywords([option]) - {"policies", "both"}, key=len, reverse=True)
            if not words:
                continue
            if any(re.search(rf"\bon {re.escape(w)} cover", c.lower()) and all(
                    re.search(rf"\b{re.escape(h)}", text.lower()) for h in _head_words(c))
                    for c in [*product.covers, *product.notes] for w in words):
                continue  # "accidental damage is only on comprehensive": the sheet's level
            key = "(?:" + "|".join(re.escape(w[:-1]) + "s?" if w.endswith("s") else re.escape(w)
                                   for w in words) + ")"
            verb = r"(?:is|are|comes?|available|offers?|do|does|sells?|get|sold)\w*"
            only = (rf"\b{verb} (?:as |in )?(?:only|just) (?:an? |the )?(?:\w+ )?{key}"
                    rf"|\b(?:only|just) {verb} (?:as |in )?(?:an? |the )?(?:\w+ )?{key}"
                    rf"|\b{key}[\w-]* only[,;.]? (?:we|there)|\b(?:is|are|'s|comes?|sold|available) (?:as )?(?:\w+ )?{key}[- ]only\b"
                    rf"|\bthe only (?:\w+ )?(?:level|option|type|kind|one|choice)\b.{{0,30}}\b{key}"
                    rf"|\b{key}\b.{{0,30}}\bthe only (?:\w+ )?(?:level|option|type|kind|one|choice)"
                    rf"|\bonly (?:covers?|insures?|protects?|offers?|does|do|sells?) (?:the |your |an? )?(?:\w+ )?{key}")
            denied = (rf"\bno (?:\w+ )?{key}|\b(?:don'?t|do not|doesn'?t|can'?t|cannot) "
                      rf"(?:do|offer|have|get|cover|sell)\w* (?:an? |the |any )?(?:\w+ )?{key}")
            if (re.search(only, text, re.I) and not re.search(r"\bnot? \w* ?only", text, re.I)) \
                    or re.search(denied, text, re.I):
                return [f"{product.id} offers {note.rstrip('.')}"]
    return []


