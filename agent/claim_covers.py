"""Covers and exclusions, read from the sheet itself: an exclusion said to be covered,
a cover said not to be, a cover the sheet makes conditional said to be standard, a
note's offer denied, and what only another product covers. Pure. Words people use for
the sheet's terms come from the pack's ``terms`` table ("a few drinks" for "alcohol").
"""

from __future__ import annotations

import re

from agent.domain import DomainPack, Product
from agent.insurables import INSURER
from agent.phrases import hits, rx

_COVER_VERB = re.compile(
    r"\b(?:covers?|covered|covering|includes?|included|including|pays? (?:out )?(?:for|on|if|when)|paid for"
    r"|protects?|takes? care of|handles?|will cover|reimburses?|comes with|extends? to|applies to"
    r"|you(?:'re| are) covered|is covered|are covered|no problem|is fine|are fine|isn'?t excluded|not excluded|part of"
    r"|(?:will|would|'ll|'d) (?:still |also )?(?:pay|replace|repair|step in|kick in)|pays? out|replaces?|provides?|gives? you|keeps? paying"
    r"|helps? (?:you )?with|(?:will|would|'ll|'d) (?:sort|deal with|fix)|sorts? out|deals? with|(?:would|will|'d|'ll) be (?:fine|ok|okay|no problem)"
    r"|fine to claim|(?:can|could) (?:still )?claim|(?:stays?|remains?|still) valid|keeps? you covered"
    r"|(?:would|will|'d|'ll) look after|looks? after|comes? under|falls? under)\b", re.I)
_NOT_COVER = re.compile(
    r"\b(?:doesn'?t|does not|won'?t|will not|wouldn'?t|would not|can'?t|cannot|isn'?t|is not|aren'?t|are not|not|never|excludes?|excluded|excluding|except|no|outside|beyond)\b"
    r"[\w' ]{0,48}\b(?:cover|covered|include|included|pay|paid|protect|apply|part|trigger|count|qualif|come with|help|sort|deal)"
    r"|\b(?:is|are|'s|'re|be|being)\s+(?:\w+\s+)?excluded\b|\bexcludes\b"
    r"|\b(?:isn'?t|aren'?t|not) (?:on|in|part of|one of|among) (?:the|its|our) (?:\w+ )?(?:list|product|conditions|illnesses|covers)\b"
    # Left out in other words: "leaves out", "steers clear of", "you'd pay for it yourself".
    r"|\b(?:leaves?|leaving|left) (?:\w+ )?(?:out|off)\b|\bsteers? clear of\b|\bfalls? outside\b|\bout of your own pocket\b"
    r"|\bpay for (?:it |that |them |those )?yourself\b|\b(?:stays?|keeps?) out of\b"
    # Said after what is covered, the verb left out: "covers consultations, though not scans".
    r"|\b(?:covers?|covered|includes?|included|pays? for)\b[^.;]*?,\s*(?:but |though |although |just |and )?not\b(?! (?:just|only|to|if|when|unless|that|even)\b)", re.I)
_GENERIC = frozenset(
    "the a an and or of in on for to with your you our if from not any after before while "
    "policy cover covered insurance first year years day days over under conditions condition "
    "care treatment injury illness damage unless added when by is are be it its that this "
    "pre-existing existing while against unless during the product".split())
_PERMITS = rx(r"\b(?:can|could|may|is allowed to|are allowed to) (?:still |also )?(?:drive|borrow|use|leave|go|travel)\b",
              r"\b(?:don'?t|doesn'?t|do not|does not|won'?t) (?:even )?(?:need|have) to be (?:named|declared|listed|mentioned|added|on)")
"""Permission for what the sheet excludes: "anyone can drive it", "they don't need to be named"."""
_ON_CONDITION = rx(r"\b(?:only if|unless|as long as|so long as|provided|must)\b",
                   r"(?<!n't )(?<!not )(?<!no )\b(?:need|needs|have|has) to be\b")
_EVEN_IF = rx(r"\b(?:even if|even though|even when|regardless|whatever|no matter|doesn'?t matter|still (?:pays?|covers?|covered)|as standard|without (?:any|an|the) (?:extra|add-?on)|anyway|are fine|is fine|no problem)\b")


def cover_problems(domain: DomainPack, product: Product, text: str) -> list[str]:
    """Covers said to be excluded, exclusions said to be covered, conditional covers
    said to be standard, notes denied and other products' covers claimed, in ``text``
    (the part of a clause said of ``product``, its names blanked out)."""
    low = text.lower()
    found = []
    positive = _COVER_VERB.search(text) is not None and _NOT_COVER.search(text) is None
    negative = _NOT_COVER.search(text) is not None and not positive
    # "... and excludes conditions diagnosed before" states the exclusion, not a cover.
    about = [e for e in product.exclusions if _about(domain, product, e, low)]
    excluded = [] if "exclu" in low else about
    permits = _PERMITS.search(text) is not None and _ON_CONDITION.search(text) is None
    # "If you want snowboarding covered, it needs adding" speaks of the caller's wish.
    # "If you want snowboarding covered, ..." speaks of a wish; "... covered too, if you
    # wanted one" states the cover first.
    wants = re.search(r"\bif you (?:want|'d like|would like|need|wanted)\b", low)
    stated = _COVER_VERB.search(text)
    wish = wants is not None and (stated is None or wants.start() < stated.start() or re.search(
        r"\badd|\bextra\b|\bneeds?\b|\boption|\bupgrad|\bbolt", low) is not None)
    # "..., as long as alcohol wasn't involved", "only named drivers are covered": the
    # exclusion said as the condition of cover.
    condition = excluded and _as_condition(domain, product, excluded[0], low)
    if excluded and (_EVEN_IF.search(text) or ((positive or permits) and not condition)) \
            and not negative and not wish:
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
    return found + _as_standard(domain, product, text, negative) + _as_extra(domain, product, low) \
        + _notes_denied(product, low)


_EXTRA = rx(r"\bonly (?:covered |included |there |yours )?if you (?:pay|add|buy|take|upgrade)", r"\bcosts? (?:you )?extra\b",
            r"\b(?:an? )?(?:optional |paid )?(?:add-?on|extra)(?! (?:cost|charge)s? to)\b", r"\bat an? extra (?:cost|charge)",
            r"\bfor an? (?:small )?(?:extra|additional) (?:fee|cost|charge|premium)", r"\bhave to (?:add|buy|pay for) (?:it|that|them)\b",
            r"\bneeds? (?:to be )?(?:adding|added|bolting on)\b", r"\bnot (?:included|covered) as standard\b")


def _as_extra(domain: DomainPack, product: Product, low: str) -> list[str]:
    """A cover the sheet gives as standard said to need adding or paying extra for
    ("theft is only covered if you pay extra")."""
    extra = next(iter(hits(_EXTRA, low)), None)
    if extra is None:
        return []
    # The cover named close before the extra (the nearest): "theft is only covered if ...".
    near = low[max(0, extra.start() - 40):extra.start()]
    if re.search(r"\b(?:accidental|dangerous|sports?)\b", near):
        return []
    said = [(m.start(), cover) for cover in product.covers
            if not re.search(r"\bif added|\bon \w+ cover", cover) and (head := _head_words(cover))
            for m in [re.search(_inflected(head[0]), near)] if m is not None]
    return [f"{product.id} covers {max(said)[1]} as standard"] if said else []


_PASSIVE = re.compile(r"\b(?:is|are|'s|'re|isn'?t|aren'?t)\b[\w' ]{0,12}\b(?:excluded|covered|included"
                      r"|on the|on its|part of|available|one of|among|left (?:off|out))"
                      # What is denied named first: "X is the one thing it won't pay for".
                      r"|\b(?:is|are|'s|'re) (?:one of )?(?:the )?(?:one |only )?(?:things?|something|one thing)\b"
                      r"|\b(?:doesn'?t|don'?t|wouldn'?t|won'?t) (?:count|qualify|trigger|apply)", re.I)
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


_NEGATED = re.compile(r"\b(?:not|no|never|rather than|instead of|than)\b[\w' -]*$|n't\b[\w' -]*$")
"""The opposite itself denied: "new ones, not second-hand", "you wouldn't get a
second-hand value"."""


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
                or (opposite is not None and any(
                    _NEGATED.search(low[max(0, m.start() - 30):m.start()]) is None
                    for m in re.finditer(rf"\b(?:{opposite})", low))):
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
    # Notes may carry a level too: "A courtesy car while yours is repaired on comprehensive cover."
    for cover in [*product.covers, *(n for n in product.notes if " or " not in n)]:
        condition = re.search(r"\b(?:if added|on (\w+) cover)\b", cover)
        if condition is None or not all(_said(domain, w, low) for w in _head_words(cover)):
            continue
        level = condition.group(1)
        other_level = level is not None and level not in low and re.search(
            r"\bthird-party|\bbasic|\bevery|\ball|\bany\b", low)
        if (level is None and any(hits(_STANDARD, text))) or other_level:
            return [f"{product.id}: {cover}"]
    return []


_CONDITION = rx(r"\bonly\b", _ON_CONDITION.pattern)


def _as_condition(domain: DomainPack, product: Product, exclusion: str, low: str) -> bool:
    """The exclusion is said as the condition of cover: what follows "as long as",
    "only", "need to be" speaks of it ("..., as long as alcohol wasn't involved";
    "they'd need to be named on the policy")."""
    key = re.search(r"\bnot (\w+)", exclusion)
    for m in _CONDITION.finditer(low):
        after = low[m.end():]
        if _about(domain, product, exclusion, after) or (
                key is not None and re.search(rf"^\W*(?:\w+\W+){{0,3}}{key.group(1)}\b", after)):
            return True
    return False


def _about(domain: DomainPack, product: Product, exclusion: str, low: str) -> bool:
    """The clause speaks of what ``exclusion`` excludes. An exclusion phrased with "not"
    ("drivers not named on the policy") needs the clause to say the "not" too."""
    if "unless added" in exclusion and re.search(r"\badd", low):
        return False
    if "waiting period" in exclusion:
        return False  # the waiting-period rule reads these
    if (m := re.search(r"\bnot (\w+)", exclusion)) is not None:
        key = m.group(1)
        # The verb itself waived: "you don't need to declare it" for "not declared".
        verb = key[:-1] if key.endswith("ed") else key
        return bool(re.search(rf"\b(?:not|un|without being|isn'?t|aren'?t) ?{key}"
                              rf"|\b(?:no need|(?:don'?t|doesn'?t) (?:even )?(?:need|have)|needn'?t) (?:\w+ )?to (?:be {key}|{verb}\b)",
                              low)) or any(
            re.search(rf"\b{re.escape(t)}", low) for t in domain.terms.get(key, []))
    # A phrase the pack gives for a term ("diagnosed before" for "pre-existing") makes
    # the exclusion about that term in all its words ("diagnosed last year").
    if any(_said(domain, key, low) for key, said in domain.terms.items()
           if any(re.search(rf"(?<![\w-]){re.escape(p)}", exclusion.lower()) for p in said if " " in p)):
        return True
    own = _keywords(product.covers) | _keywords([product.name, *product.aliases])
    for alternative in re.split(r"\s+or\s+", exclusion):
        # "before" is what makes "diagnosed before the policy started" an exclusion.
        words = (_keywords([alternative]) | ({"before"} & set(alternative.lower().split()))) - own
        seen = [w for w in words if _said(domain, w, low)]
        # Most of its words, not one of two ("diagnosed" alone is how any claim starts).
        if words and (len(seen) * 2 > len(words) or any(w in domain.terms for w in seen)):
            return True
    return False


_OBJECTS = {word: pid for word, pid in INSURER.items() if pid is not None}
"""What only one product insures, each word → that product."""


def implied_products(domain: DomainPack, text: str) -> list[Product]:
    """Products a clause speaks of by what they insure ("your house would be covered"),
    for a clause that names none."""
    ids = dict.fromkeys(pid for word, pid in _OBJECTS.items()
                        if pid in domain.intent_ids and re.search(rf"\b{word}s?\b(?!-)", text, re.I))
    return [domain.product(pid) for pid in ids]


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
    # One word may come between: "diagnosed with last year" for "diagnosed last year".
    return rf"\b{re.escape(first)}" + (rf"(?:s|es|ed|ing)?\s+(?:\w+\s+)?{re.escape(rest)}" if rest else "")


def _keywords(texts: list[str]) -> set[str]:
    words: set[str] = set()
    for text in texts:
        words.update(w for w in re.findall(r"[a-z][a-z-]+", text.lower()) if w not in _GENERIC)
    return words


_SURE = re.compile(r"guarant|promis|definite|certain|assur|swear|absolute|100", re.I)


def notes_blanked(domain: DomainPack, text: str) -> str:
    """``text`` with what restates a product's note ("premiums are fixed for the whole
    term") said as "the sheet's note": the sheet's own statement is no promise, whatever
    is said around it ("Whatever you choose, ...")."""
    words = list(re.finditer(r"[a-z][a-z-]+", text.lower()))
    for note in (n for p in domain.products for n in p.notes):
        keys = sorted(_keywords([note]))
        need = max(2, -(-3 * len(keys) // 4))
        said = [(i, k) for i, w in enumerate(words) for k in keys if w.group(0)[:5] == k[:5]]
        for a, (i, _) in enumerate(said):
            window = [(j, k) for j, k in said[a:] if j - i <= 2 * len(keys) + 2]
            start, end = words[i].start(), words[window[-1][0]].end()
            if len({k for _, k in window}) >= need and not _SURE.search(text, start, end):
                return notes_blanked(domain, text[:start] + "the sheet's note" + text[end:])
    return text
