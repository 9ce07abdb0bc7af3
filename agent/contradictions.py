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

from agent.domain import DomainPack, Product
from agent.phrases import hits, rx

_NO_WAIT = rx(r"\bno (?:waiting|wait|qualifying)(?: period| time)?\b", r"\bwithout (?:a|any) wait",
               r"\b(?:from|on|starting|since) (?:the )?(?:day one|first day|day 1|1st day|very first day|very start|moment you sign|start)",
               r"\b(?:immediate(?:ly)?|instant(?:ly)?|straight away|right away|at once|the same day|same-day|from today|today)\b[\w ]{0,12}\b(?:covered|cover|protected|protection|pays|paid|claim)",
               r"\b(?:covered|cover starts|protection starts|you can claim|cover begins|pays out|claim)\b[\w ]{0,15}\b(?:immediately|instantly|straight away|right away|at once|the same day|today|from day one|day one|from the start|from the very start|the moment)",
               r"\bwaiting period (?:doesn'?t|does not) apply",
               r"\b(?:as soon as|the moment|from the moment) (?:the |your )?(?:policy|cover|it|you)\b[\w ]{0,12}\b(?:begins?|starts?|sign|buy|join|(?:is|are) in place|goes live)")
_COVER_VERB = re.compile(
    r"\b(?:covers?|covered|covering|includes?|included|including|pays? (?:out )?(?:for|on|if|when)|paid for"
    r"|protects?|takes? care of|handles?|will cover|reimburses?|comes with|extends? to|applies to"
    r"|you(?:'re| are) covered|is covered|are covered|no problem|is fine|are fine|isn'?t excluded|not excluded|part of"
    r"|(?:will|would|'ll|'d) (?:still |also )?(?:pay|replace|repair|step in|kick in)|pays? out|replaces?|provides?|gives? you|keeps? paying)\b", re.I)
_NOT_COVER = re.compile(
    r"\b(?:doesn'?t|does not|won'?t|will not|wouldn'?t|would not|can'?t|cannot|isn'?t|is not|aren'?t|are not|not|never|excludes?|excluded|excluding|except|no|outside|beyond)\b"
    r"[\w' ]{0,48}\b(?:cover|covered|include|included|pay|protect|apply|part)"
    r"|\b(?:is|are|'s|'re|be|being)\s+(?:\w+\s+)?excluded\b|\bexcludes\b"
    r"|\b(?:isn'?t|aren'?t|not) (?:on|in|part of) (?:the|its|our) (?:\w+ )?(?:list|product)\b", re.I)
_GENERIC = frozenset(
    "the a an and or of in on for to with your you our if from not any after before while "
    "policy cover covered insurance first year years day days over under conditions condition "
    "care treatment injury illness damage unless added when by is are be it its that this "
    "pre-existing existing while against unless during the product".split())
_FIXED_CHANGE = rx(r"\bpremiums?\b[\w' ]{0,25}\b(?:go up|goes up|rise|rises|increase|increases|change|changes|review|reviewed|adjust|adjusted|vary|varies|climb|inflation)",
                    r"\b(?:go up|rise|increase)s? (?:every|each) year")
_STAYS = re.compile(r"\b(?:don'?t|do not|won'?t|will not|never|stay|stays|fixed|remain|remains|can'?t|cannot)\b", re.I)
_ANY_AGE = rx(r"\b(?:any|every) age\b", r"\bno (?:upper |lower )?age (?:limit|restriction|cap)",
               r"\bwhatever (?:your|their) age\b", r"\b(?:at|from) birth\b", r"\bno matter how old")
_ANY_HEALTH = rx(r"\bwhatever (?:your|their) (?:health|medical history)", r"\bno (?:medical|health) questions",
                  r"\bpre-?existing (?:conditions? )?(?:are|is|will be|would be|get) (?:\w+ )?(?:covered|included|fine|no problem|paid)",
                  r"\b(?:covers?|covered|including|includes) (?:any |all |your )?pre-?existing",
                  r"\bhealth (?:history )?doesn'?t matter", r"\bno matter (?:your|what your) (?:health|condition)")
_UNEMPLOYMENT = rx(r"\b(?:unemploy|redundan|laid off|lay-?off|lose your job|losing your job|job loss|fired|sacked)\w*")


_STARTS_LATER = rx(r"\b(?:the|a|its|their) (?:[\w-]+ )?(?:waiting|qualifying) period(?: (?:for|on|with|of) [\w' ]{1,30}?)?"
                   r" (?:is|lasts|runs|of)\b(?! (?:zero|nil|none|nothing|not|no)\b)",
                   r"\b(?:[\w-]+)[- ](?:day|week|month) (?:waiting|qualifying) period",
                   r"\bnot from (?:the )?(?:day|start|moment)", r"\bfrom (?:the (?:first|start) of )?next (?:month|week)\b",
                   r"\bhas a (?:waiting|qualifying) period", r"\b(?:doesn'?t|does not|won'?t) (?:start|begin|kick in|apply) until",
                   r"\bkicks? in after", r"\bnot (?:protected|covered) for the first", r"\bbuy it well before",
                   r"\bcan'?t (?:drive away|claim) (?:on it )?(?:today|straight away|right away)")
_PERMITS = rx(r"\b(?:can|could|may|is allowed to|are allowed to) (?:still |also )?(?:drive|borrow|use|leave|go|travel)\b",
              r"\b(?:don'?t|doesn'?t|do not|does not|won'?t) (?:even )?(?:need|have) to be (?:named|declared|listed|mentioned|added|on)")
"""Permission for what the sheet excludes: "anyone can drive it", "they don't need to be named"."""
_ON_CONDITION = rx(r"\b(?:only if|unless|as long as|so long as|provided|must)\b",
                   r"(?<!n't )(?<!not )(?<!no )\b(?:need|needs|have|has) to be\b")
_EVEN_IF = rx(r"\b(?:even if|even though|even when|regardless|whatever|no matter|still (?:pays?|covers?|covered)|as standard|without (?:any|an|the) (?:extra|add-?on)|anyway|are fine|is fine|no problem)\b")
_MONTHLY = rx(r"\bmonthly (?:income|benefit|payments?|payouts?|amount)", r"\bregular (?:income|payments?)", r"\binstal?ments?\b",
              r"\b(?:pays?|paid) (?:you )?(?:each|every|per|a) month", r"\bincome (?:while|whilst)", r"\bpays? (?:your )?(?:hospital )?bills directly",
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
    """Ways ``clause`` contradicts the non-figure facts of ``product`` (product names
    are blanked out first: "Critical Illness Cover" is not a verb)."""
    text = domain.names.sub(" the product ", clause)
    low = text.lower()
    found = _timing(product, _own_part(domain, product, clause)) + _premiums_and_people(product, text)
    positive = _COVER_VERB.search(text) is not None and _NOT_COVER.search(text) is None
    negative = _NOT_COVER.search(text) is not None and not positive
    # "... and excludes conditions diagnosed before" states the exclusion, not a cover.
    about = [e for e in product.exclusions if _about(domain, product, e, low)]
    excluded = [] if "exclud" in low else about
    permits = _PERMITS.search(text) is not None and _ON_CONDITION.search(text) is None
    # "If you want snowboarding covered, it needs adding" speaks of the caller's wish.
    wish = re.search(r"\bif you (?:want|'d like|would like|need|wanted)\b", low) is not None
    if excluded and (positive or permits or _EVEN_IF.search(text)) and not negative and not wish:
        found.append(f"{product.id} excludes {excluded[0]}")
    if negative and not about:
        denied = _denied_part(low)
        for cover in product.covers:
            if re.search(r"\bif added|\bon \w+ cover", cover) and re.search(
                    r"\badd|\bon \w+|\bautomatic|\bas standard|\bby default", low):
                continue
            head = _head_words(cover)
            if head and any(_said(domain, w, denied) for w in head):
                found.append(f"{product.id} covers {cover}")
                break
    elif positive:
        found += _others_covers(domain, product, low)
    return found + _how_it_pays(product, text) + _options(product, text) + _as_standard(
        domain, product, text, negative) + _notes_denied(product, low)


_PASSIVE = re.compile(r"\b(?:is|are|'s|'re|isn'?t|aren'?t)\b[\w' ]{0,12}\b(?:excluded|covered|included"
                      r"|on the|on its|part of|available)", re.I)
_ACTIVE_NO = re.compile(r"\b(?:doesn'?t|does not|won'?t|will not|wouldn'?t|can'?t|cannot|don'?t|not|never"
                        r"|no|excludes?|excluding|except)\b", re.I)


def _denied_part(low: str) -> str:
    """What a negative clause denies: all of it when the thing denied comes first
    ("Smoke damage is excluded"), else what follows the negation ("covers fire but
    excludes wear and tear": not fire)."""
    if _PASSIVE.search(low):
        return low
    m = _ACTIVE_NO.search(low)
    return low[m.start():] if m else low


_OPPOSITES = {"new-for-old": r"second-hand|used value|depreciat\w*|market value|(?:what|how much) (?:it|they)(?:'s|'re| is| are) worth"}
"""A feature a note offers → words that say its opposite."""


def _notes_denied(product: Product, low: str) -> list[str]:
    """A note's offer ("New-for-old replacement of belongings.") said not to be there,
    or its opposite said ("the second-hand value")."""
    for note in product.notes:
        if " or " in note or ", not" in note:
            continue  # options and scopes are read elsewhere
        head = _head_words(note)
        compound = [w for w in head if w.count("-") >= 2]
        if compound:
            key = r"[- ]".join(re.escape(p) for p in compound[0].split("-"))
        elif len(head) == 2:
            key = rf"{re.escape(head[0])}\w* {re.escape(head[1])}"
        else:
            continue
        opposite = next((o for k, o in _OPPOSITES.items() if k in note.lower()), None)
        if re.search(rf"\b(?:not|no|isn'?t|aren'?t|without|never|instead of)\b[\w' -]{{0,30}}\b{key}", low) \
                or re.search(rf"\b{key}\w*[\w' ]{{0,25}}\b(?:isn'?t|aren'?t|is not|are not|not) "
                             r"(?:available|included|offered|part|provided|standard)", low) \
                or (opposite is not None and re.search(rf"\b(?:{opposite})", low)):
            return [f"{product.id}: {note}"]
    return []


_STANDARD = rx(r"\bas standard\b", r"\bautomatic(?:ally)?\b", r"\bcomes? with\b", r"\bevery (?:\w+ )?(?:policy|level)",
               r"\balready includes?\b", r"\bincluded (?:anyway|by default)", r"\bby default\b", r"\bon (?:all|any) (?:levels?|policies)",
               r"\bwithout (?:adding|an add-?on|paying extra)", r"\bdon'?t need to add")


def _as_standard(domain: DomainPack, product: Product, text: str, negative: bool) -> list[str]:
    """A cover the sheet makes conditional ("accidental damage if added", "on
    comprehensive cover") said to come with every policy."""
    if negative and not re.search(r"don'?t need to add|without adding", text, re.I):
        return []
    low = text.lower()
    for cover in product.covers:
        condition = re.search(r"\b(?:if added|on (\w+) cover)\b", cover)
        if condition is None or not all(_said(domain, w, low) for w in _head_words(cover)):
            continue
        level = condition.group(1)
        other_level = level is not None and level not in low and re.search(
            r"\bthird-party|\bbasic|\bevery|\ball|\bany\b", low)
        if (level is None and any(hits(_STANDARD, text))) or other_level:
            return [f"{product.id}: {cover}"]
    return []


def _about(domain: DomainPack, product: Product, exclusion: str, low: str) -> bool:
    """The clause speaks of what ``exclusion`` excludes. An exclusion phrased with "not"
    ("drivers not named on the policy") needs the clause to say the "not" too."""
    if "unless added" in exclusion and re.search(r"\badd", low):
        return False
    if "waiting period" in exclusion:
        return False  # the waiting-period rule reads these
    if (m := re.search(r"\bnot (\w+)", exclusion)) is not None:
        key = m.group(1)
        return bool(re.search(rf"\b(?:not|un|without being|isn'?t|aren'?t) ?{key}"
                              rf"|\b(?:no need|(?:don'?t|doesn'?t) (?:even )?(?:need|have)|needn'?t) (?:\w+ )?to be {key}",
                              low)) or any(
            re.search(rf"\b{re.escape(t)}", low) for t in domain.terms.get(key, []))
    words = (_keywords([exclusion]) - _keywords(product.covers)
             - _keywords([product.name, *product.aliases]))
    seen = [w for w in words if _said(domain, w, low)]
    # A word the pack lists people's words for is the exclusion's core ("alcohol").
    return bool(words) and (len(seen) * 2 >= len(words) or any(w in domain.terms for w in seen))


def _own_part(domain: DomainPack, product: Product, clause: str) -> str:
    """The parts of a clause said of ``product`` when it names several: from each of its
    mentions to the next product's ("Critical illness has a 90-day wait, whereas
    personal accident has none": only the second part is personal accident's). Text
    before the first mention belongs to the first product named."""
    mentions = domain.mentions(clause, by_id=False)
    if len({pid for _, pid in mentions}) < 2 or re.search(r"\b(?:neither|nor|both|either|all of|none of)\b", clause, re.I):
        return domain.names.sub(" the product ", clause)
    cuts = [0, *(pos for pos, _ in mentions[1:]), len(clause)]
    parts = [clause[a:b] for (a, b), (_, pid) in zip(itertools.pairwise(cuts), mentions, strict=True)
             if pid == product.id]
    return domain.names.sub(" the product ", " ".join(parts))


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


def _timing(product: Product, text: str) -> list[str]:
    wait = product.fact("waiting_period")
    if wait is None:
        return []
    if wait.values[0] > 0 and any(hits(_NO_WAIT, text)) and not _exempt(product, text.lower()):
        return [f"{product.id} has a waiting period"]
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
    if "pre-existing" in " ".join(product.exclusions).lower() and any(hits(_ANY_HEALTH, text)):
        found.append(f"{product.id} excludes pre-existing conditions")
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
            key = "(?:" + "|".join(re.escape(w) for w in words) + ")"
            verb = r"(?:is|are|comes?|available|offers?|do|does|sells?|get|sold)\w*"
            only = (rf"\b{verb} (?:as |in )?(?:only|just) (?:an? |the )?(?:\w+ )?{key}"
                    rf"|\b(?:only|just) {verb} (?:as |in )?(?:an? |the )?(?:\w+ )?{key}"
                    rf"|\b{key}[\w-]* only[,;.]? (?:we|there)")
            denied = (rf"\bno (?:\w+ )?{key}|\b(?:don'?t|do not|doesn'?t|can'?t|cannot) "
                      rf"(?:do|offer|have|get|cover|sell)\w* (?:an? |the |any )?(?:\w+ )?{key}")
            if (re.search(only, text, re.I) and not re.search(r"\bnot? \w* ?only", text, re.I)) \
                    or re.search(denied, text, re.I):
                return [f"{product.id} offers {note.rstrip('.')}"]
    return []


_ALSO = re.compile(r"\b(?:also|as well|too|even|extends? to|on top)\b", re.I)
_KINDS = {"car": "auto", "vehicle": "auto", "death": "term_life", "die": "term_life",
          "hospital": "medical", "illness": "critical_illness", "ill": "critical_illness",
          "injury": "accident", "injured": "accident", "house": "home", "belongings": "home",
          "abroad": "travel", "trip": "travel"}
"""Words that name what another product is for: "Travel Insurance also covers your car"."""


def _others_covers(domain: DomainPack, product: Product, low: str) -> list[str]:
    """A cover only another product has, said to be this one's."""
    own = _keywords([*product.covers, product.summary, *product.notes])
    if _ALSO.search(low):
        words = set(re.findall(r"[a-z]+", " ".join(
            [*product.covers, product.summary, *product.notes, product.name]).lower()))
        for word, kind in _KINDS.items():
            if kind != product.id and kind in domain.intent_ids and word not in words \
                    and re.search(rf"\b{word}\b", low):
                return [f"{product.id} does not cover what {kind} does ({word})"]
    for other in domain.products:
        if other is product:
            continue
        for cover in other.covers:
            words = _keywords([cover]) - own
            if len(words) >= 2 and all(re.search(rf"\b{re.escape(w)}", low) for w in words):
                return [f"{product.id} does not cover {cover} ({other.id} does)"]
        # Another product's summary said of this one ("a fixed benefit after an
        # accident, disability or death" of Income Protection).
        words = _keywords([other.summary]) - own - _keywords([product.name, *product.aliases]) - {"pays", "covers"}
        said = [w for w in words if re.search(rf"\b{re.escape(w)}", low)]
        if len(said) >= 3 and len(said) * 2 >= len(words):
            return [f"{product.id} is not {other.id} ({other.summary})"]
    return _unlisted(product, low)


_ALSO_AT_END = re.compile(r"\b(?:covers?|includes?|pays? for)\b(?P<what>[\w' -]{3,60}?)\b(?:as well|too|also)\b"
                          r"|\b(?:also|even) (?:covers?|includes?|pays? for)\b(?P<also>[\w' -]{3,60})", re.I)
_FILLER = frozenset("your their regular normal things stuff other those these them just every things".split())


def _unlisted(product: Product, low: str) -> list[str]:
    """Something said to be covered "as well" that no word of the product's sheet
    names ("covers your GP appointments and prescriptions as well")."""
    m = _ALSO_AT_END.search(low)
    if m is None:
        return []
    said = m.group("what") or m.group("also")
    what = [w for w in re.findall(r"[a-z][a-z-]+", said)
            if len(w) >= 4 and w not in _GENERIC and w not in _FILLER]
    sheet = " ".join([product.name, product.summary, *product.covers, *product.exclusions,
                      *product.notes, *product.aliases, *(f.spoken() for f in product.facts)]).lower()
    if what and not any(re.search(rf"\b{re.escape(w[:5])}", sheet) for w in what):
        return [f"{product.id} does not list {said.strip()}"]
    return []


def _head_words(cover: str) -> list[str]:
    """What a cover is about: its first two words that are not generic ("terminal" of
    "terminal illness diagnosed with under 12 months to live")."""
    words = [w for w in re.findall(r"[a-z][a-z-]+", cover.lower().split(" with ")[0])
             if w not in _GENERIC]
    return words[:2]


def _said(domain: DomainPack, word: str, low: str) -> bool:
    """The sheet word, or a word people use for it, is in the clause."""
    return any(re.search(_inflected(w), low) for w in [word, *domain.terms.get(word, [])])


def _inflected(term: str) -> str:
    """A term whose first word may take a verb ending ("let you go": "lets you go")."""
    first, _, rest = term.partition(" ")
    return rf"\b{re.escape(first)}" + (rf"(?:s|es|ed|ing)?\s+{re.escape(rest)}" if rest else "")


def _keywords(texts: list[str]) -> set[str]:
    words: set[str] = set()
    for text in texts:
        words.update(w for w in re.findall(r"[a-z][a-z-]+", text.lower()) if w not in _GENERIC)
    return words
