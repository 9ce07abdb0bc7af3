"""Figures of the caller's own life, which no sheet states and no claim makes: their age
("since you're sixty-three"), what they said ("you mentioned a budget of 50 dollars a
month"), what they own or plan ("your mortgage has 22 years left", "a six-week trip"),
calendar years and dates. Pure.

A figure is the caller's when the nearest cue before it in its sentence is one of the
caller's (a report, "you're", "your <thing>", "a <n>-week trip") rather than one of the
sheet's (a product's name, an attribute, a limit or a quote: "premium", "up to",
"would cost").
"""

from __future__ import annotations

import re

from agent.domain import DomainPack
from agent.numbers import Figure
from agent.phrases import rx

_REPORT = (r"\byou(?:'ve| have)? (?:just |also |currently )?(?:said|mentioned|told (?:me|us)|explained"
           r"|say|earn|make|pay|spend|owe|bought|built|own|drive|got|had|want|asked (?:for|about))\b"
           # An estimate of the caller's own, up to its figure: "you reckon the trip will be ...".
           r"|\byou (?:think|reckon|guess|expect|estimate|figure|believe|imagine)\b[\w' ]{0,40}"
           r"|\byou(?:'re| are) (?:currently |really )?(?:paying|earning|making|planning|flying|going"
           r"|travell?ing|away|after|looking for|hoping for|thinking of)\b"
           r"|\byou(?:'d| would|'ll| will) (?:like|be away|be travell?ing|be going|be off|be out|need|want)\b"
           # What something of theirs cost them, or their insurer charges them now.
           r"|\b(?:it|that|which|this|trip|flight|repair|bill|treatment|last \w+) cost (?:you|them|him|her)\b"
           r"|\b(?:they|it)(?:'ve| have|'s| has)? (?:put|moved|pushed|raised|bumped|hiked|increased)"
           r" (?:you|your \w+) (?:up )?to\b")
"""What the caller said, has, earns, pays or plans: "you mentioned a budget of ..."."""
_SUBJECT = r"\b(?:you(?:'re| are| were)|(?:he|she|they)(?:'s| is|'re| are))(?: [\w'-]+,?){0,6} ?$"
"""The caller (or someone of theirs) as subject, close before the figure: "you're 41",
"you're a nurse, forty-two"."""
_POSSESSION = (r"\byour (?!premium|price|quote|cost|monthly|cover|policy|polic|excess|benefit|waiting"
               r"|deferred|term\b|payout|lump|claim|plan\b)[\w'-]+\b(?: (?:pays?|has|have|is|gives?|offers?))?")
_INSTANCE = re.compile(r"\b(?:a|an|this|that|your)\s*$", re.I)
_OUTINGS = re.compile(r"^[\s-]*(?:day|week|month|year)s?[\s-]+(?:[\w-]+\s+)?(?:trip|holiday|vacation|stay"
                      r"|visit|break|journey|tour|cruise|trek|sabbatical|secondment|contract|placement"
                      r"|absence|course|posting|assignment|honeymoon|project|job|gap)", re.I)
"""One trip or stay of the caller's: "a six-week trip", "your 100-day visit"."""
_ELSEWHERE = (r"\b(?:with|from|at|on) (?:the other|your (?:current|old|existing|previous|other|last)|another|a different)"
              r" (?:company|insurer|provider|firm|lot|policy|broker|bank)\b")
"""The caller's cover elsewhere: "your excess with the other company is 1,000"."""
_DEBTS = (r"\b(?:mortgage|loan|salary|wage|income|rent|debt|budget|savings|deposit|car finance)"
          r"(?: (?:balance|left|outstanding|remaining))? (?:of|at|around|about|is|was|'s)"
          r"(?: (?:about|around|roughly))?\s*\$?\s*$")
"""What the caller owes, earns or has, up to its amount: "a mortgage of three hundred
thousand" (a product's name in the same breath stays the caller's)."""
_WORTH = (r"\b(?:earning|earns|(?:flat|house|home|place|car|van|bike|property|ring|watch|jewel\w*"
          r"|stuff|contents|gear)(?:'s| is| was)? worth)(?: (?:about|around|roughly|maybe))?\s*\$?\s*$")
"""What the caller earns, or what a thing of theirs is worth: "earning about seventy
grand", "the flat's worth about three hundred grand"."""
_CALLER = rx(_REPORT, _POSSESSION, _ELSEWHERE, _DEBTS, _WORTH, r"\byou at\s*$", r"(?<!to )(?<!until )(?<!till )(?<!before )(?<!after )(?<!by )\byour\s*$", r"\b(?:like you|someone your age|person your age)\b")
_SHEET = rx(
    r"\b(?:premiums?|price[sd]?|costs?|quote[sd]?|excess|waiting|wait|deferred|deferral|benefit|payouts?"
    r"|lump sum|sum insured|cover amount|terms?|limits?|max(?:imum)?|min(?:imum)?|range|options?"
    r"|choose|pick|looking at|would (?:be|cost|come)|will (?:be|cost)|'d (?:pay|be|cost)|comes? (?:to|out)"
    r"|works? out|exactly|pays?|covers?|covered|protects?|insures?|aged?|ages)\b",
    # Bounds speak of the sheet only right before the figure: "up to ninety days".
    r"\b(?:up to|at least|at most|no more than|more than|less than|over|under|between|from|until|till"
    r"|within|inside|before|after|as little as|as much as|as high as|as low as|starts? at|only|just)"
    r"(?: (?:about|around|roughly|some|just))? ?$")
_OWNED = re.compile(r"^[\s-]*(?:dollars? |grand )?(?:mortgage|loan|salary|house|home|flat|car|deposit)\b", re.I)
"""The caller's own thing, sized by the figure before it: "a 250,000 mortgage"."""
_TRIP = re.compile(r"^[\s-]*(?:days?|weeks?|months?|nights?)\s+(?:in|on|at|around|across|touring|visiting)"
                   r"\s+[A-Z]")
"""A stay somewhere by name, said back: "Ten days in Italy" (case matters: a place)."""
_WITH_THEM = re.compile(r"^[\s-]*(?:years?|months?)\s+(?:with|at|on) (?:your|the other|another|a different)"
                        r" (?:\w+ )?(?:insurer|provider|company|firm|broker|bank|employer|job)\b", re.I)
"""How long the caller has been somewhere: "nine years with your current insurer"."""
_THEIRS_AFTER = re.compile(
    r"^[\s-]*(?:dollars?|grand|bucks|quid)?\s*(?:"
    # What they owe: "six thousand on the credit card", "210,000 left on the mortgage".
    r"(?:left|owing|owed|outstanding|remaining|still) (?:on|against) (?:the|your|their|a)"
    r" (?:mortgage|(?:car |student |personal )?loan|credit cards?|cards?|overdraft)\b"
    r"|on (?:the|your|their|a) (?:credit cards?|store cards?|overdraft)\b"
    # What they pay elsewhere: "a hundred and forty a month for medical through your employer".
    r"|(?:a (?:month|year|week) )?(?:for [\w-]+ )?(?:through|with|from|at) (?:your|their|his|her)"
    r" (?:old |current |previous |existing |last )?(?:employer|work|job|company|insurer|provider"
    r"|bank)\b"
    # What they own or spent: "two thousand dollars of camera gear", "at the dentist".
    r"|(?:worth )?of (?:[\w-]+ ){0,2}(?:gear|kit|equipment|stuff|things|belongings|jewel\w*"
    r"|tools|electronics|furniture|savings|debts?|bills?)\b"
    r"|(?:at|for|on) the (?:dentist|vet|garage|mechanic|optician|physio)\b)", re.I)
"""The caller's own money, by what follows it."""
_TO_RUN = re.compile(r"^[\s-]*(?:years?|months?)\s+(?:left\b|to run\b|to go\b|remaining\b"
                     r"|(?:old )?(?:mortgage|loan|lease)\b)", re.I)
"""Time left on the caller's own debt, or its length: "nineteen years to run", "a
thirty-five-year mortgage"."""
_NOTED = re.compile(r"^\s*(?:(?:a|per) (?:month|year|week))?\s*[,;:!]\s*(?:got it|gotcha|okay|ok"
                    r"|right|noted|understood|i see|wow|ouch|yikes|fair enough)\b", re.I)
"""A figure the reply opens with and acknowledges: "Fifty-two thousand a year, got it"."""
_DATE = re.compile(r"^\d+(?:st|nd|rd|th)\b", re.I)
_LIKE_YOU = re.compile(r"^[\s-]*(?:years?[- ]olds?\s+)?(?:like you|such as you|like yourself)\b", re.I)
_AT_AGE = re.compile(r"^,?\s+(?:[\w']+\s+){0,3}?you(?:'re|'d|'ll| are| would| will)?\b", re.I)
_YOU_AT = re.compile(r"\byou(?:'re| are)?\s+(?:start|begin|join|sign up|apply|take (?:it|one|this|the policy) out)"
                     r"\w*\s+at\s*$", re.I)
"""The caller's age as an age: "a fifty-five-year-old like you", "at forty-two you're
well within that", "if you start at thirty-five"."""
_FAMILY = re.compile(
    r"\b(?:kids?|children|child|sons?|daughters?|boys?|girls?|twins|grand(?:children|kids|sons?|daughters?)"
    r"|toddlers?|bab(?:y|ies)|teen(?:ager)?s?|little ones?|partner|wife|husband|spouse|mum|mom|dad|mother|father|parents?)"
    r"(?:'s)?,?\s+(?:(?:are|is|who are|who's|who is|aged|ages?|now|just|turned|turning|at)\s+){1,2}"
    r"(?:[\w-]+\s*(?:,|and|&)\s*)*$", re.I)
"""The ages of the caller's family: "two kids, aged six and nine", "my wife's just turned 40"."""
_OPENS = re.compile(r"^\W*(?:(?:so|okay|ok|right|well|ah|oh|and|great|lovely|got it)\W+)?(?P<aged>aged\s+)?$", re.I)
_ECHOED = re.compile(r"^(?:\s*(?:years?[- ]old|and a half))?\s*[,;:!\u2014]\s*(?!(?:that'?s|it'?s|is|being|which)\b)", re.I)
"""The caller's age said back to open a sentence: "Sixty-two, lovely;", "Aged thirty-one
with a mortgage, ..." (not "Sixty-five, that's the limit")."""
_NEAR = 60
"""How far (in characters) a report or possession reaches towards a figure."""


def callers_figure(domain: DomainPack, before: str, rest: str, f: Figure) -> bool:
    """Whether ``f`` (said where ``before`` ends and ``rest`` begins, in one sentence)
    is a figure of the caller's life rather than a claim about a product."""
    if f.unit == "percent":
        return False  # a share is the sheet's or a statistic, never the caller's life
    said = rest[: f.end - f.start]
    if f.unit == "" and said.isdigit() and len(said) == 4 and 1900 <= f.value <= 2100:
        return True  # a calendar year: "a 2019 estate car"
    if f.unit == "" and _DATE.match(rest):
        return True  # a date: "on the 14th"
    if (_INSTANCE.search(before) or re.match(r"an? ", said, re.I)) \
            and _OUTINGS.match(rest[len(said):]):
        return True
    if f.unit in ("", "age") and _FAMILY.search(before):
        return True
    instance = _INSTANCE.search(before) is not None or re.match(r"an? ", said, re.I) is not None
    if f.unit in ("", "money") and instance and _OWNED.match(rest[len(said):]):
        return True
    if f.unit in ("days", "weeks", "months") and _TRIP.match(rest[len(said):]):
        return True
    if f.unit in ("years", "months") and _WITH_THEM.match(rest[len(said):]):
        return True
    if (f.unit.startswith("money") or f.unit == "") and _THEIRS_AFTER.match(rest[len(said):]):
        return True
    if f.unit in ("years", "months") and _TO_RUN.match(rest[len(said):]):
        return True
    opens = _OPENS.match(before)
    if opens and not opens.group("aged") and _NOTED.match(rest[len(said):]):
        return True
    if f.unit in ("", "age") and opens and (opens.group("aged") or _ECHOED.match(rest[len(said):])):
        # Said before any product is named, only an age some product takes: "Seventy,
        # lovely; ..." may go on to offer term life to an age past its range.
        return any(fact.values[0] <= f.value <= fact.values[-1] for p in domain.products
                   if (fact := p.fact("age")) is not None and fact.form == "range")
    if f.unit in ("", "age") and (_LIKE_YOU.match(rest[len(said):]) or _YOU_AT.search(before)
                                 or (re.search(r"\bat\s*$", before, re.I)
                                     and _AT_AGE.match(rest[len(said):]))):
        return True
    spans = [(m.start(), m.end()) for m in _CALLER.finditer(before) if len(before) - m.end() <= _NEAR]
    spans += [(m.start(), m.start()) for m in re.finditer(_SUBJECT, before, re.I)]
    caller = max((b for _, b in spans), default=-1)
    # A sheet word inside the caller's own words is theirs: "you're after roughly ...".
    sheet = max([m.end() for m in [*_SHEET.finditer(before), *domain.names.finditer(before)]
                 if not any(a <= m.start() < b for a, b in spans)], default=-1)
    return caller >= 0 and caller >= sheet
