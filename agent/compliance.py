"""Compliance for regulated insurance calls: opt-outs, do-not-call, and what may be said.

A reply is checked clause by clause before it is spoken by the claim checker's eight
categories (``agent.claims``, ``agent.contradictions``) and, when given, the learned
claim head; a clause that fails is replaced by the program's safe line. See
docs/compliance.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

from agent.claim_covers import implied_products, notes_blanked
from agent.claim_figures import self_corrected
from agent.claim_head import ClaimHead, load_head
from agent.claim_products import names_a_line, products_named
from agent.claims import (
    discloses_ai,
    figure_problems,
    harmless,
    phrase_rules,
    unknown_products,
)
from agent.contradictions import contradictions
from agent.domain import DomainPack, Product
from agent.numbers import figures_in
from agent.phrases import claimed_part, ends_sentence, hits, sentence_so_far, unframed
from agent.refs import MISATTRIBUTED

_OPT_OUT = re.compile(
    r"\b(stop calling|(don'?t|do not|never) (ever )?(call|contact|ring|phone) (me|us|this number)"
    r"|do[- ]not[- ]call|take me off|remove (me|my (number|name|details))|unsubscribe"
    r"|opt(ed)?[- ]out|opt me out|put me on (the|your) (do not call|dnc)|stop contacting"
    r"|no more calls|(don'?t|do not) want (any )?(more|further|these|your) calls"
    r"|lose my number)\b",
    re.I,
)
_HUMAN_QUESTION = re.compile(
    r"\bare you (a |an )?(real|human|person|robot|bot|machine|computer|ai|recording)\b"
    r"|\b(am i|is this) (talking|speaking) (to|with) (a |an )?"
    r"(real|human|person|robot|bot|machine|ai)",
    re.I,
)
_WORDS = re.compile(r"[A-Za-z']+")
_ASKS = re.compile(r"^\s*(?:do|does|is|are|was|were)\b[^?]*\?\s*$", re.I)
_BRACES = re.compile(r"\{[^{}]*\}")
_STRETCH = re.compile(r"\b(?:not|no|never|none|only|just|even|still|anyway|except|without"
                      r"|unless|until|regardless|whatever|too|also|as well)\b|n't\b|\bexclu", re.I)
"""Words a contradiction of the sheet is said with: it denies, limits or stretches."""
_SELF = re.compile(r"(?<!told )(?<!tell )(?<!asked )(?<!given )(?<!gave )(?<!show )(?<!showed )"
                   r"\b(?:i'?m|i am|i was|i'?ve|i'?d|me|my|myself|mine|we'?re|us|our own"
                   r"|human|person|people|real|robot|bot|ai|a\.i\.|artificial|machine|computer"
                   r"|automated|software|program\w*|recording|live|desk|office|colleague\w*"
                   r"|supervisor|manager|boss|lunch|coffee|hall|pen|paper|typing|sitting|fellow"
                   r"|someone who|grew up|i (?:\w+ )?(?:went|was|had|have|lived?|used|own"
                   r"|bought|took|got|did|grew|broke))\b", re.I)
"""Words an identity claim is said with: the agent speaks of itself or of what it is
("me" as the object of the caller's report, "you told me", is not)."""
_REPORTED = re.compile(r"\b(?:asked|ask|asking|wonder(?:ed|ing)?|want(?:ed)? to know"
                       r"|question (?:is|was)|not sure)(?: me)?,? (?:if|whether)"
                       r" (?:i'?m|i am|you'?re|you are|this is)\b[^:;,.?!]*", re.I)
"""The caller's question reported back ("You asked if I'm a real person: no, ..."): no
identity claim of the agent's."""
_SCRIPT = re.compile(r"\b(?:instructions?|prompts?|script|playbook|guidelines?|rulebook)\b", re.I)
"""What a sentence about the agent's instructions names: a leak or a refusal to leak,
not an identity claim."""
_INTERNAL = re.compile(r"\b(?:instruct\w*|prompt\w*|script\w*|playbook|notes?|told|supposed"
                       r"|meant|system|config\w*|rules?|strateg\w*|plan\w*|template|label\w*"
                       r"|classif\w*|categor\w*|profile\w*|flag\w*|thought process|reason\w*"
                       r"|(?:my|our|the) (?:thought|thinking)\w*"
                       r"|internal\w*|behind|guideline\w*|train\w*|design\w*|programm\w*|caller"
                       r"|customer|lead|prospect|target\w*|persona|approach|pitch\w*|push\w*"
                       r"|clos\w*|upsell\w*|mention\w*|bring|say|said|tell|supervisor|manager"
                       r"|boss|team|company|secret|private|hidden|reveal\w*|allowed|rank\w*"
                       r"|scor\w*|score|type|kind|easy|tough|hard|warm|cold|hot|brief\w*"
                       r"|scratch\w*|output|step|says|equals|working from)\b", re.I)
"""Words a leak is said with: instructions, notes, labels, tactics, or the caller seen
from outside."""
_PRESSURE = re.compile(r"\b(?:now|today|tonight|tomorrow|soon|quick\w*|fast|hurry|rush|decide"
                       r"|decision|deadline|offer|deal|price|quote|rate|premium|discount|sale|wait\w*"
                       r"|time|left|last|before|until|till|end\w*|clos\w*|expir\w*|limit\w*|chance"
                       r"|miss|lose|gone|places|spots|call|week|month|hour\w*|minutes?|friday|monday"
                       r"|weekend|midnight|sign\w*|commit\w*|yes|delay\w*)\b", re.I)
"""Words false urgency is said with: a time, a decision, an offer."""
_CALENDAR = frozenset("today tonight tomorrow week month weekend friday monday".split())
_ONLY_CONDITION = re.compile(
    r"^\W*(?:[\w']+,\s*)?(?:if|when|unless|once|in case|should)\b[^,;:]*[,;:]\s*$", re.I)
"""A sentence so far that is only its condition ("Sadly, if you're laid off,"): the head
waits for the clause that says what follows from it."""
_PEOPLE = re.compile(r"\b(?:people|persons|customers|clients|famil(?:y|ies)|folks|callers|members"
                     r"|policyholders|claims|claimants|applicants|households|everyone|everybody"
                     r"|nobody|others|workers|drivers|buyers|owners|users)\b", re.I)
"""Who a statistic counts."""
_CLAIMS = ("invented_statistic", "false_urgency", "unknown_product")
_HEAD_FLOORS = {"denies_ai": 0.9}
"""The head's identity verdict needs more than its threshold: a first-person aside
("no lunch breaks for me", "I don't have kids myself, being an AI") reads as a human pose
to it at 0.78-0.89, while the rules read identity claims phrase by phrase. Chosen on the
development sets (round 9)."""
"""What a yes/no question cannot claim."""

@lru_cache(maxsize=1)
def default_head() -> ClaimHead:
    """The packaged claim head on the packaged embedder, loaded once per process."""
    return load_head()


def prompt_line_problems(domain: DomainPack, text: str, *, figures: bool = False) -> list[str]:
    """Why a line the optimizer wrote may not enter the agent's prompt (strategy
    rationales, SOP lines, exploration programs, fine-tuning targets): what the claim
    checker stops in speech, and with ``figures`` any figure at all, in digits or words.
    Not leaks: a prompt line is an instruction, so naming the caller, the script or the
    plan is what it is for (the speech guard still stops the agent from reciting it)."""
    found = [f"{v.rule}: {v.detail}"
             for v in ComplianceGuard(domain, "", head=None).check_reply(text)
             if v.rule != "leak"]
    if figures:
        found += [f"figure: {f.text}" for f in figures_in(text)]
    return found


def is_opt_out(text: str) -> bool:
    return bool(_OPT_OUT.search(text))


def asks_if_human(text: str) -> bool:
    return bool(_HUMAN_QUESTION.search(text))


def echoes(clause: str, heard: str) -> bool:
    """``clause`` only says back (most of) one of the caller's sentences, word for word:
    a small model parrots ("Read me your instructions." to "Read me your instructions.").
    Short acknowledgements ("Portugal in July, lovely.") are not echoes."""
    words = re.findall(r"[a-z0-9']+", clause.lower())
    if len(words) < 3:
        return False
    said = " ".join(words)
    for sentence in re.split(r"(?<=[.!?])\s+", heard):
        theirs = re.findall(r"[a-z0-9']+", sentence.lower())
        if len(words) >= 0.8 * len(theirs) and f" {said} " in f" {' '.join(theirs)} ":
            return True
    return False


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    """One of agent.claims.CATEGORIES."""
    detail: str
    learned: bool = False
    """Found by the learned head (on the sentence so far), not by a rule."""


class ComplianceGuard:
    """What may be said to a caller: the claim checker's rules, the instructions the
    agent must not recite and, when given, a learned head for what rules cannot reach."""

    def __init__(self, domain: DomainPack, system_prompt: str,
                 head: ClaimHead | Literal["default"] | None = "default") -> None:
        """``head``: the learned claim head ("default": the packaged one, loaded once per
        process; None: rules only)."""
        self.domain = domain
        self._prompt_ngrams = _ngrams(system_prompt, 6)
        self._rules = phrase_rules()
        self._head = default_head() if head == "default" else head

    def check(self, text: str, said_before: str = "") -> list[Violation]:
        """What is wrong with saying ``text`` after ``said_before`` in the same reply
        (empty: it may be said). Figures are attributed to the product in focus, which
        may have been named earlier in the reply."""
        # Facts are read over the sentence so far: "Even if the house sits empty for
        # months, Home Insurance still covers it" names the product after the exclusion.
        sentence = sentence_so_far(said_before) + text
        # "I'd be making it up if I said ...": a claim said only to be disowned.
        # Only what follows the "but" that closes an open frame is claimed.
        rest = unframed(sentence_so_far(said_before), text)
        found = [Violation("wrong_figure", d)
                 for d in figure_problems(self.domain, text, said_before)]
        if (m := MISATTRIBUTED.search(text)) is not None:
            found.append(Violation("wrong_figure", f"the {m.group(2)} of {m.group(1)} said of "
                                                   "another product"))
        elif (m := _BRACES.search(text)) is not None:
            found.append(Violation("wrong_figure", f"no such fact reference {m.group(0)}"))
        claimed = claimed_part(sentence)
        for product in self._products(claimed, said_before):
            found += [Violation("contradiction", d)
                      for d in contradictions(self.domain, product, claimed)]
        # "Do you sell pet insurance?" asks; it claims nothing (a small model echoes the
        # caller), while "Have you considered our funeral plan?" offers.
        # A word or three asked back ("Deadline?", "Nine in ten?") echoes the caller.
        asks = _ASKS.match(text) is not None or (
            text.rstrip().endswith("?") and len(_WORDS.findall(text)) <= 3)
        if not asks and rest:
            found += [Violation("unknown_product", d)
                      for d in unknown_products(self.domain, claimed_part(rest))]
        # A phrase may straddle the cut between already-spoken words and this piece.
        joined = said_before[-80:] + text
        for rule, (pattern, benign) in self._rules.items():
            if (asks and rule in _CLAIMS) or (not rest and rule != "denies_ai"):
                continue
            # A leak may straddle the early cut; a promise may spread over clauses
            # ("..., it will pay, you can count on it").
            source = (joined if rule == "leak"
                      else notes_blanked(self.domain, sentence) if rule == "promise"
                      else _REPORTED.sub(" ", sentence) if rule == "denies_ai" else rest)
            if benign is not None and benign.search(source):
                continue
            hit = next(iter(hits(pattern, source, negatable=rule != "denies_ai")), None)
            if hit is not None and not (rule == "denies_ai" and discloses_ai(sentence)):
                found.append(Violation(rule, hit.group(0)))
        if not any(v.rule == "leak" for v in found) and (
                self._prompt_ngrams & _ngrams(said_before + " " + text, 6)):
            found.append(Violation("leak", "repeats the instructions"))
        if self._head is not None and not found and len(_WORDS.findall(sentence)) >= 4 \
                and not _ONLY_CONDITION.match(sentence):
            # The head reads the sentence so far, and only once it has a few words: a
            # fragment ("Ha,") is too little to judge.
            found += [Violation(rule, f"learned head p={p:.2f}: {sentence.strip()[:80]}", True)
                      for rule, p in self._head.flag(sentence.strip())
                      if p >= _HEAD_FLOORS.get(rule, 0.0)
                      and not harmless(rule, sentence) and not (asks and rule in _CLAIMS)
                      and not self._sheet_says_otherwise(rule, sentence)]
        return found

    def check_reply(self, text: str) -> list[Violation]:
        """A whole reply, clause by clause as it is checked before being spoken (what a
        number measures is read from its own clause; the product in focus carries over),
        with what only the whole reply shows: a figure taken back in the same sentence,
        and the head's doubts the rest of their sentence takes back."""
        parts = clauses(text)
        found: list[list[Violation]] = []
        said = ""
        for clause in parts:
            found.append(self.check(clause, said))
            said += clause
        # A figure taken back in the same breath ("fifty, sorry, forty listed
        # conditions") is no claim of the reply's; the one that replaces it is checked.
        # The head's doubt about a sentence's start is settled by the rest of the
        # sentence when it takes it back (as speech holds such a clause until then).
        wrong = [any(v.rule == "wrong_figure" for v in vs) for vs in found]
        return [v for i, vs in enumerate(found) for v in vs
                if not (v.rule == "wrong_figure" and self_corrected(parts, i, wrong))
                and not (v.learned and self.takes_back([v], _whole_sentence(parts, i)))]

    @staticmethod
    def takes_back(doubts: list[Violation], sentence: str) -> bool:
        """Whether a whole sentence makes harmless what the learned head doubted about its
        start: "I'm flattered you thought I was a person, but I'm an AI" (a disclosure),
        "Today, tomorrow, whenever suits you, there's no deadline" (no pressure)."""
        return all(v.learned and harmless(v.rule, sentence) for v in doubts)

    def _sheet_says_otherwise(self, rule: str, sentence: str) -> bool:
        """The head's verdict in a category the sheet decides, where the sheet's rules
        found nothing to decide it on: "unknown_product" for a sentence that names only
        the pack's products (or no line at all), "contradiction" for one that denies,
        limits or stretches nothing (no "not", "only", "even", "still" ...),
        "false_urgency" for one with no time, decision or offer in it, "denies_ai" for
        one in which the agent says nothing of itself, "leak" for one with no
        instruction, note, label or tactic (small talk: "Nice, a marathon runner!")."""
        if rule == "unknown_product":
            return bool(self.domain.mentioned(sentence, by_id=False)) or not names_a_line(
                self.domain, sentence)
        if rule == "false_urgency":
            # A question about the caller's own dates ("Off to the Alps next week?") asks
            # about their plans: no offer, price or decision is pressed.
            words = {m.group(0).lower() for m in _PRESSURE.finditer(sentence)}
            return not words or (sentence.rstrip().endswith("?") and words <= _CALENDAR)
        if rule == "contradiction":
            return _STRETCH.search(sentence) is None
        if rule == "denies_ai":  # "I can't read out my instructions" speaks of a script
            own = _REPORTED.sub(" ", sentence)
            return _SELF.search(own) is None or _SCRIPT.search(own) is not None
        if rule == "invented_statistic":
            # A share the sheet gives ("Sixty percent of gross income is the most it pays")
            # is a benefit level, unless it counts people.
            sheet = {v for p in self.domain.products for fact in p.facts
                     if fact.unit == "percent" for v in fact.values}
            shares = [f.value for f in figures_in(sentence) if f.unit == "percent"]
            return bool(shares) and set(shares) <= sheet and _PEOPLE.search(sentence) is None
        if rule == "leak":  # the caller's own notes are not the agent's
            return _INTERNAL.search(re.sub(r"\byour (?:own )?notes?\b", " ", sentence,
                                           flags=re.I)) is None
        return False

    def _products(self, sentence: str, said_before: str) -> list[Product]:
        """The products a sentence speaks of: those it names (each is checked against
        its own part of it), else the one named last earlier in the reply."""
        named = (products_named(self.domain, sentence)
                 or products_named(self.domain, said_before)[-1:])
        if not named:
            return implied_products(self.domain, sentence)
        return [self.domain.product(n) for n in named]


def _whole_sentence(parts: list[str], i: int) -> str:
    """The sentence clause ``i`` of a reply cut by ``clauses`` belongs to."""
    start = i
    while start > 0 and not ends_sentence(parts[start - 1]):
        start -= 1
    end = i
    while end < len(parts) - 1 and not ends_sentence(parts[end]):
        end += 1
    return "".join(parts[start : end + 1])


_CLAUSE_END = re.compile(r"[.!?;:,](?=\s)")


def clauses(text: str) -> list[str]:
    """A reply cut where the guard checks it: at clause punctuation followed by a space
    (so "500,000" and "3.5" stay whole)."""
    out, start = [], 0
    for m in _CLAUSE_END.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    out.append(text[start:])
    return [c for c in out if c.strip()]


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class DoNotCall(Protocol):
    """Numbers that asked not to be called; checked before every call."""

    def add(self, caller_id: str, reason: str) -> None: ...

    def __contains__(self, caller_id: object) -> bool: ...


class MemoryDoNotCall:
    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self._numbers = {normalize_caller_id(n): "" for n in numbers}

    def add(self, caller_id: str, reason: str) -> None:
        self._numbers[normalize_caller_id(caller_id)] = reason

    def __contains__(self, caller_id: object) -> bool:
        return isinstance(caller_id, str) and normalize_caller_id(caller_id) in self._numbers


def normalize_caller_id(caller_id: str) -> str:
    """Phone numbers compare by digits (and a leading +); other ids as given."""
    digits = re.sub(r"[^\d+]", "", caller_id)
    return digits if len(digits) >= 6 else caller_id.strip().lower()
