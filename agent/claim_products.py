"""Products the pack does not have: any insurance line (or other financial product)
a clause offers that is not on the sheet. Pure.

A line is named by the word nearest "insurance", "cover", "plan" ... when that word is
none of the pack's ("pet insurance"), by a word that makes a new line of a sheet word
("identity theft protection"), or by a name in title case whose words are not the
pack's ("Whole of Life cover"); a denial ("we don't sell pet insurance") names none.
"""

from __future__ import annotations

import re

from agent.domain import DomainPack
from agent.insurables import INSURER
from agent.numbers import NUMBER_WORDS
from agent.phrases import hits, rx

_LINE = re.compile(
    r"(?<!')\b((?:[a-z][\w-]*\s+){0,2}[a-z][\w-]*)\s+(insurance|cover|coverage|policy|policies"
    r"|plan|plans|protection|bundle|package|scheme|add-on|rider|warranty|assurance|service"
    r"|membership|extension)\b", re.I)
_NAMED_LINES = rx(
    r"\b(?:employers'? liability|public liability|professional indemnity|umbrella liability"
    r"|breakdown (?:recovery|cover)|home emergency|boiler cover|(?<!the )(?<!your )(?<!their )credit cards?|cash ?back"
    r"|vintage car|classic car|motorbike|motorcycle|scooter|student contents"
    r"|platinum|gold shield|all-in-one|bundles?|package|equity release|lifetime mortgages?"
    r"|stocks and shares|(?:savings|junior|cash|stocks) isas?|isas?|(?:investment|share|stock) portfolios?"
    r"|premium bonds?|payday loans?|buy-to-let|commercial (?:vehicle|van|property|fleet)s?"
    r"|roadside (?:recovery|assistance|rescue|cover)|debt consolidation|waiver[- ]of[- ]premium)\b",
    # What no line of the pack insures, named as a line: "pet travel cover", "a joint
    # life policy", "a children's critical illness extension".
    r"\b(?:pet|pets|dog|cat|horse|equine|cruise|joint|child(?:ren)?'?s|kids'?|builder'?s|wedding|gadget"
    r"|mobile phone|bicycle|cycle|boat|caravan|motorhome|taxi|landlord'?s?|tenant'?s?|funeral|cyber|identity"
    r"|gap|key|tyre|legal expenses)(?: [\w-]+){0,2} (?:insurance|cover|policy|plan|add-?on|extension|rider"
    r"|warranty|product)\b",
    # A rider or add-on in the name of a product's own words: "a critical illness rider".
    r"\b(?:illness|life|waiver|benefit|income|accident|health|medical|premium|disability|cover)\s+riders?\b",
    # Lines whose names hold a word of the pack's own: "whole of life", "mobile home".
    r"\b(?:whole(?:[- ]of)?[- ]life|universal life|variable life|over[- ]?50s?|mobile home"
    r"|holiday home|second home|landlords?'?)\s+(?:insurance|cover|policy|plan|assurance)\b")
_FINANCE = (r"(?:pensions?|annuit(?:y|ies)|mortgages?|remortgag\w*|loans?|credit cards?"
            r"|savings (?:accounts?|plans?)|isas?"
            r"|bonds?|stocks|shares|investments?|investment plans?|unit trusts?|funds|crypto\w*|debt consolidation"
            r"|warrant(?:y|ies)|will writing)")
_UNINSURED = "(?:" + "|".join(word for word, pid in INSURER.items() if pid is None) + ")"
"""What no product of the pack insures, one pattern."""
_OTHER_FINANCE = rx(
    rf"\b(?:we|i|acme)(?:'ll|'d|'ve)?(?: can| could| will| would| also| even| happily| got){{0,2}} (?:cover|insure|look after"
    rf"|do|sort(?: out)?|take care of|protect|put)(?: (?:your|the|that|a|an|those|their))?(?: \w+'s)? {_UNINSURED}\b",
    rf"\b(?:(?:a|an|our) )?(?:plan|policy|cover|product|something) (?:for|on|to cover) (?:your |the |a |an )?(?:\w+'s )?{_UNINSURED}\b",
    rf"\b(?:put|insure|cover) (?:the|your|that) (?:\w+ )?{_UNINSURED} (?:with us|with acme|too|as well)\b",
    r"\b(?:we|i|acme)(?:'ll|'d)?(?: can| could| will| would| also){0,2} (?:lend|loan|advance|roll|consolidate)\b"
    r"(?: you| your| all)?(?: the)? ?(?:money|debts?|cash|loans?|\w+ )?",
    r"\b(?:we|i|acme|our company)(?:'ve|'d)?(?: \w+)? (?:also )?(?:offer|sell|do|does|have|has|got|provide|arrange|sort"
    rf"|set you up with|can get you)(?: you)?(?: an?| our| some)?(?: [\w'-]+){{0,2}} {_FINANCE}\b",
    rf"\b(?:an?|our) (?:[\w'-]+ )?{_FINANCE} (?:with|from|through) (?:us|acme)\b",
    # Offered as a service: "we can sort your mortgage out", "open a savings ISA with us".
    r"\b(?:we|i|acme)(?:'ll|'d| can| could| will| would| also| even| happily){0,2} (?:sort|arrange|handle"
    r"|take care of|set up|look after|help (?:you )?with|manage|organi[sz]e|pop|put|invest|move)\b"
    rf"(?: (?!cover|insurance|polic)[\w'-]+){{0,4}} {_FINANCE}\b"
    r"(?! (?:payments?|repayments?|covered|paid|protection|cover|insurance|life|term|balance|debt|would|will|is|if))",
    rf"\b(?:open(?:ing)?|tak(?:e|ing) out|start(?:ing)?|set(?:ting)? up) (?:an?|our|one of our)(?: [\w'-]+)? {_FINANCE}\b"
    r"[\w' ]{0,20}\b(?:with us|with acme|from us|from acme|through us)\b",
    r"\b(?:pensions?|annuit(?:y|ies)|mortgages?|loans?|savings accounts?|investment plans?)\b"
    r"[\w ]{0,20}\b(?:we|i) (?:can|could) (?:quote|offer|sell|arrange|set up|get)",
    r"\bour (?:[\w-]+ )?(?:pensions?|annuit(?:y|ies)|mortgages?|loans?"
    r"|savings (?:accounts?|plans?)|investments?"
    r"|investment plans?|funds|warrant(?:y|ies))\b")
_FINE_WORDS = frozenset(
    "this that the a an your our my any some new good basic own existing current right same other "
    "extra which what one each every such their his her its more less better cheaper full "
    "bigger smaller larger higher lower enough "
    "proper suitable affordable simple flexible great solid decent standard single annual "
    "insurance cover coverage policy plan protection kind type sort level form bit piece "
    "family's company's acme acme's whole level of to for with and or in on about from "
    "accidental private personal fire flood theft medical emergency is are be has have was "
    "no not ever good-value right-sized short long term life after before first can could would "
    "will should may might must do does did t s you we they it i he she savings also still "
    "then just really only too so but as at by years months weeks days how much many enough "
    "extra what which sports dangerous eight pure customer additional further "
    # How much cover, not which: "the right cover rather than the most cover".
    "than most least max maximum minimum lots little same adequate sufficient "
    "biggest smallest highest lowest largest widest broadest fullest greatest ideal "
    # Said of a plan, not naming one (a statistic, if anything): "our most popular plan".
    "popular different various separate individual respective several "
    "own".split())


_NOT_SOLD = rx(
    r"\b(?:isn'?t|is not|aren'?t|are not|not)\b[\w' ]{0,12}\b(?:part of|something|one of"
    r"|on (?:our|the)|offered|available|in our|a product|sold|among|ours)\b",
    r"\b(?:we|acme|i|they)\b[\w' ]{0,10}\b(?:don'?t|do not|doesn'?t|does not|can'?t|cannot"
    r"|won'?t|never)\b[\w' ]{0,10}\b(?:sell|offer|do|provide|have|carry|arrange|cover)\b",
    r"\b(?:no|not)\b[\w' ]{0,20}\b(?:from acme|we sell|we offer|we do)\b", r"^\s*no\b",
    r"\boutside (?:our|the) range\b")


def names_a_line(domain: DomainPack, text: str) -> bool:
    """Whether ``text`` could name a line the pack lacks: a word outside the pack's
    words right before "insurance", "cover", "plan" ..., or "we insure ..."; "our
    insurance products" and "home and car insurance" cannot."""
    if re.search(r"\binsur(?:e|es|ed|ing)\b", text, re.I):
        return True
    return any((w := m.group(1).lower()) not in _FINE_WORDS and w not in domain.vocabulary
               for m in _BEFORE_LINE.finditer(text))


_BEFORE_LINE = re.compile(r"\b([a-z][\w-]*)\s+(?=(?:insurance|cover|coverage|policy|policies"
                          r"|plans?|protection|add-on|rider|warranty|assurance|membership)\b)",
                          re.I)


def unknown_products(domain: DomainPack, clause: str) -> list[str]:
    if _NOT_SOLD.search(clause):
        return []
    found = []
    for m in hits(_LINE, clause):
        words = [w for w in re.findall(r"[a-z][a-z'-]*", m.group(1).lower())]
        odd = [w for w in words if w not in _FINE_WORDS and w not in domain.vocabulary
               and not w.endswith("ly") and not _known_compound(domain, w)]
        # A verb after a subject or modal names no line: "if you need cover", "you'd
        # like cover", "you can pick cover".
        lead = re.findall(r"[a-z']+", clause[: m.start()].lower())[-1:] or [""]
        odd = [w for prev, w in zip([*lead, *words], words, strict=False)
               if w in odd and not (prev in _SUBJECTS or prev.endswith(("'d", "'ll")))]
        # The word nearest "insurance" names the line ("pet insurance", "a cyber policy"),
        # or makes a new line of a sheet word that names no product ("identity theft").
        if not odd:
            continue
        after = words[words.index(odd[-1]) + 1:]
        compound = odd[-1] not in _VERBS and not odd[-1].endswith(("ing", "ed")) \
            and bool(_cover_words(domain) & set(after)) and not _name_words(domain) & set(after)
        if (odd[-1] == words[-1] or compound) and not _is_sheet_phrase(domain, m.group(0)) \
                and not _in_covers(domain, " ".join([odd[-1], *after])):
            found.append(m.group(0).strip())
    for m in _TITLED.finditer(clause):
        words = [w.lower() for w in re.findall(r"[A-Za-z][\w'-]*", m.group(1))]
        named = [w for w in words if w not in _CONNECTIVES]
        if re.search(r"(?:^|[.!?;:]\s*)$", clause[:m.start()]):
            named = named[1:]  # a sentence's first word is capitalised anyway
        # A name in title case ("Whole of Life cover") whose words are not the pack's:
        # two capitalised words, so a sentence's first word alone is not a name.
        if len(named) >= 2 and any(w not in domain.vocabulary for w in named) \
                and named[0] not in _LEADS:
            found.append(m.group(0))
    found += [m.group(0) for m in hits(_OTHER_FINANCE, clause)]
    found += [m.group(0) for m in hits(_NAMED_LINES, clause)]
    return found


_TITLED = re.compile(r"\b((?:[A-Z][\w'-]*\s+(?:(?:of|and|&)\s+)?){1,3})"
                     r"(?:Insurance|Cover|Assurance|Plan|Policy|Protection|Warranty|insurance|cover|policy|plan)\b")
_VERBS = frozenset("like want need add choose pick get buy take offer explain recommend consider "
                   "prefer mean call keep discuss review compare arrange quote tell show give sell "
                   "provide include includes covers see find look think".split())
"""Words before a sheet word that make no new line of it ("add theft cover")."""
_CONNECTIVES = frozenset({"of", "and", "&"})
_SUBJECTS = frozenset("i you we they he she it can could would will should may might must to "
                      "don't doesn't didn't won't wouldn't can't".split())


def _known_compound(domain: DomainPack, word: str) -> bool:
    """A hyphenated word the sheet says with spaces: "fixed-benefit" (a summary says
    "a fixed benefit"), unlike "whole-of-life"."""
    parts = word.split("-")
    sheet = " ".join(t for p in domain.products for t in [p.summary, *p.covers, *p.notes]).lower()
    return len(parts) > 1 and re.search(rf"\b{re.escape(' '.join(parts))}\b", sheet) is not None
_LEADS = frozenset("our the your my a an this that acme acme's any every with for".split())


def _name_words(domain: DomainPack) -> set[str]:
    """Words of the products' names, aliases and ids."""
    return {w for p in domain.products for t in [p.name, p.id.replace("_", " "), *p.aliases]
            for w in re.findall(r"[a-z][a-z-]*", t.lower())}


def _cover_words(domain: DomainPack) -> set[str]:
    """Content words of what the products cover ("theft", "damage")."""
    return {w for p in domain.products for t in [*p.covers, *p.notes]
            for w in re.findall(r"[a-z][a-z-]{3,}", t.lower())} - _FUNCTION_WORDS


_FUNCTION_WORDS = frozenset(
    "with after before under over while from that this your their when unless added during "
    "first year years months days policy cover insurance yours both".split())


def _in_covers(domain: DomainPack, words: str) -> bool:
    """The words are said together in a cover, note or summary ("accidental damage
    cover" names what a product covers, not a new line; "dental plan" names what one
    excludes)."""
    return any(re.search(rf"\b{re.escape(words)}\b", t.lower())
               for p in domain.products for t in [p.summary, *p.covers, *p.notes])


def _is_sheet_phrase(domain: DomainPack, phrase: str) -> bool:
    low = phrase.lower()
    return any(low.endswith(c.lower()) or c.lower().endswith(low)
               for p in domain.products for c in [*p.covers, *p.exclusions, *p.notes])


_UNDER = re.compile(r"^\s+(?:on|under|with|in)\s+(?:your\s+|the\s+|a\s+|our\s+)?([a-z]+)\b", re.I)


def product_mentions(domain: DomainPack, text: str) -> list[tuple[int, str]]:
    """Every place a product is named (offset, product id), a name said as part of
    another product's ("travel medical cover", "medical cover on travel": Travel
    Insurance's medical cover, not Private Medical Insurance) counted as that product's."""
    keys = domain.name_words
    found = []
    for m in domain.names.finditer(text):
        pid = next((p for pos, p in domain.mentions(m.group(0), by_id=False) if pos == 0), None)
        if pid is None:
            continue
        prior = re.search(r"\b([a-z]+)(?:'s)?[\s-]+$", text[: m.start()], re.I)
        after = _UNDER.match(text[m.end():])
        for word in (prior, after):
            owner = word and next((o for o, ws in keys.items() if o != pid
                                   and word.group(1).lower() in ws - keys[pid]), None)
            if owner:
                pid = owner
                break
        found.append((m.start(), pid))
    # A product's own word said bare as its name: "on travel", "car is ...", "the life'd pay".
    named = [(m.start(), m.end()) for m in domain.names.finditer(text)]
    for pid, words in domain.bare_names.items():
        for w in words:
            found += [(m.start(), pid) for m in re.finditer(rf"\b{w}\b", text, re.I)
                      if not any(a <= m.start() < b for a, b in named)
                      and _said_as_name(text, m.start())]
    return sorted(found)


_AS_NAME_BEFORE = re.compile(
    r"(?:^|[.;:,!?]\s*|\b(?:on|for|with|under|and|or|nor|both|whereas|but|than|then|separately"
    r"|plus|while|meanwhile|also)\s+)$", re.I)
_AS_NAME_AFTER = re.compile(
    r"^[a-z]+(?:'s\b|\s+(?:covers?|has|have|is|isn'?t|pays?|excludes?|includes?|doesn'?t|does"
    r"|won'?t|will|would|only|also|still|waiting|premiums?|excess|polic(?:y|ies)|and|or|applies"
    rf"|starts|runs|costs?|goes|kicks|at \$?\d|at (?:a )?(?:{'|'.join(sorted(NUMBER_WORDS))})"
    r"|before|after|too)\b|\s*[,.;?!])", re.I)
"""A product's own word said bare as its name ("on travel", "Medical's waiting period",
"Travel covers ..."), not as an ordinary word ("take-home pay", "when you travel")."""


_THE_NAME_AFTER = re.compile(
    r"^[a-z]+(?:'ll|'d|'s (?:got|not|only|also|still)|\s+(?:won'?t|doesn'?t|does|covers?|pays?"
    r"|excludes?|includes?|will|would|only|also|still|kicks|starts))\b", re.I)
"""What after "the <word>" makes it a product's name ("the medical won't touch it", "the
life'd still pay"), not a thing ("the car is in the garage")."""


def _said_as_name(text: str, pos: int) -> bool:
    """The word at ``pos`` names its product: "on travel", "the medical waiting period"."""
    if re.search(r"\b(?:on|under|with|for) the\s+$", text[:pos], re.I) \
            and re.match(r"^[a-z]+\s*(?:[,.;?!]|$)", text[pos:], re.I):
        return True  # "not covered on the travel, ..."
    if re.search(r"\bthe\s+$", text[:pos], re.I):
        return re.match(r"^[a-z]+\s+(?:waiting|premiums?|excess|polic|form|side|application|plan"
                        r"|insurance|one\b|product|quote|price|cost)",
                        text[pos:], re.I) is not None or _THE_NAME_AFTER.match(text[pos:]) is not None
    return _AS_NAME_BEFORE.search(text[:pos]) is not None \
        and _AS_NAME_AFTER.match(text[pos:]) is not None


def products_named(domain: DomainPack, text: str) -> list[str]:
    """Products a line names, in order of first mention (see ``product_mentions``)."""
    return list(dict.fromkeys(pid for _, pid in product_mentions(domain, text)))
