"""Figures by construction: the response model never types a figure.

In the spoken response, digits and number words are not allowed by the output grammar;
a figure is said through a reference to a sheet fact (``{critical_illness.premium}``),
which ``RefExpander`` replaces with the sheet's wording as the text streams. Three
ways to hold the model to it, by what the backend can do:

- llama.cpp (LLGuidance grammars): ``response_body_rules`` — words that are not number
  words (nor promises), gaps without digits, and references from the pack's closed list;
- vLLM / OpenAI structured outputs: ``response_pattern`` on the JSON schema's string
  (no digits, references from the list; number words are left to the claim checker);
- a backend without constraints: the claim checker, clause by clause, before speech.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence

from agent.numbers import NUMBER_WORDS

FORBIDDEN_WORDS = frozenset(
    [*NUMBER_WORDS, "percent", "percentage", "half", "halves", "dozen", "dozens", "hundreds",
     "thousands", "millions", "billions", "twice", "double", "triple", "quarter", "zillion"])
"""Words the response may not type: they would say a figure (or a share of people)
without a sheet reference."""
PROMISE_STEMS = ("guarantee", "promis", "definitely", "assure", "swear")
"""Starts of words the response may not type: a promise or a certainty ("guaranteed",
"I promise", "rest assured") is never the model's to give, negated or not ("I can't
guarantee" reads as one to a caller half listening). "assurance" stays allowed."""
_REAL_TAILS = frozenset(["age", "alf", "and", "cent", "eds", "even", "ice", "ion", "ions", "lion",
                         "lions", "our", "red", "reds", "sand", "sands", "teen", "ter", "zen"])
_TAILS = frozenset(w[k:] for w in FORBIDDEN_WORDS for k in range(1, len(w) - 2)) - _REAL_TAILS
"""The ends of number words ("illion", "ousand"): a model denied "million" otherwise
types its tail. Tails that are words of their own ("even", "lion") stay allowed."""
_KEPT = ("tend[a-z]*|tenant[a-z]*|tenure|tennis|tens[eio][a-z]*|tent[a-z]*|tender[a-z]*"
         "|tenet[a-z]*|oneself")
"""Ordinary words that start like a number word ("tend", "tenant"); every other word that
does ("sixteen", "twentieth", "eighteen-to-twenty") is not a word the response may type."""
_REF = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*\.[a-z][a-z0-9_]*)\}")
_MAX_REF = 64


def response_body_rules(refs: Sequence[str], *, json_string: bool) -> str:
    """LLGuidance lark rules for ``body``: the spoken text. Words and references are
    separated by exactly one gap, so a forbidden word cannot be spelled in two pieces
    and a run of spaces cannot stand where a figure was wanted."""
    banned = "|".join(sorted([*FORBIDDEN_WORDS, *PROMISE_STEMS], key=len, reverse=True))
    tails = "|".join(sorted(_TAILS, key=len, reverse=True))
    # Inside a JSON string no quote, backslash or control character may appear.
    # One or two marks and at most one space: a run of spaces is no way around a figure.
    gap = r"[,.;:!?()\u2014-]{1,2} ?| " if json_string else r"[,.;:!?()\u2014-]{1,2} ?| |\n"
    alternatives = " | ".join(json.dumps("{" + r + "}") for r in refs) or '"{}"'
    return (
        "body: item (GAP item)* GAP?\n"
        "item: WORD | REF\n"
        "WORD: SAFE | KEPT\n"
        f"SAFE: /[A-Za-z]+(['\u2019][A-Za-z]+)*/ & ~/(?i:({banned})[a-z'\u2019]*|({tails})s?)/\n"
        f"KEPT: /(?i:{_KEPT})/\n"
        f"GAP: /{gap}/\n"
        f"REF: {alternatives}\n"
    )


def single_grammar(leading: Sequence[Sequence[str]], refs: Sequence[str]) -> str:
    """The single-model answer ``["t","p","s","c","spoken"]`` as one grammar: enums for
    the thought fields, the constrained body for the response."""
    fields = " \",\" ".join(
        "(" + " | ".join(json.dumps(json.dumps(v)) for v in options) + ")" for options in leading
    )
    return (
        "%llguidance {}\n"
        f'start: "[" {fields} ",\\"" body "\\"]"\n'
        + response_body_rules(refs, json_string=True)
    )


def continuation_grammar(refs: Sequence[str]) -> str:
    """The rest of a single-model answer whose thought was prefilled: the response body,
    then the closing quote and bracket."""
    return '%llguidance {}\nstart: body "\\"]"\n' + response_body_rules(refs, json_string=True)


def plain_grammar(refs: Sequence[str]) -> str:
    """A plain-text response (two-model mode)."""
    return "%llguidance {}\nstart: body\n" + response_body_rules(refs, json_string=False)


def response_pattern(refs: Sequence[str]) -> str:
    """A JSON-schema ``pattern`` for the response string: no digits, references only
    from the list (structured outputs of vLLM and OpenAI-compatible servers)."""
    alternatives = "|".join(re.escape("{" + r + "}") for r in refs)
    return rf"^(?:[^0-9{{}}%$]|{alternatives})*$"


_REPEATS = tuple(re.compile(said + r"(?:" + again + r")+\b", re.I) for said, again in (
    (r"(\bdollars (?:a|per) month)", r"\s+(?:a|per|each|every) month|\s+monthly|\s+dollars"),
    (r"(\bdollars (?:a|per) day)", r"\s+(?:a|per|each|every) day|\s+dollars"),
    (r"(\bdollars)(?! (?:a|per))", r"\s+dollars"),
    (r"(\b(days|weeks|months|years|percent))", r"\s+\2"),
    (r"(\bwaiting period)", r"\s+(?:days|weeks|months)"),
))


def tidy_units(text: str) -> str:
    """Drops a unit the model said again after an expanded figure ("from 12 to 85
    dollars a month dollars", "no waiting period months"): the wording already has it."""
    for pattern in _REPEATS:
        text = pattern.sub(r"\1", text)
    return text


class RefExpander:
    """Streams text with ``{product.attribute}`` references replaced by the sheet's
    wording. A reference split across deltas is held until it closes. A reference the
    sheet lacks, or one to a product other than the one the sentence is about
    ("Income Protection has {term_life.waiting_period}"), is passed through marked,
    for the claim checker to stop: a figure is only ever said of its own product."""

    def __init__(self, refs: Mapping[str, str],
                 focus: Callable[[str], str | None] | None = None,
                 name: Callable[[str, str], str] | None = None) -> None:
        """``focus``: the product a text is about at its end ("": none, so no figure may
        be said; None: not known, any reference expands). ``name``: given the text so
        far and a product id, the words that say which product a figure is of when the
        text has not named it (" for Travel Insurance"), else ""; they follow the
        wording, so a figure is never heard unattached."""
        self._refs = refs
        self._focus = focus
        self._name = name
        self._held = ""
        self._said = ""
        self.used: list[str] = []

    def feed(self, delta: str) -> str:
        text = self._held + delta
        self._held = ""
        cut = text.rfind("{")
        if cut != -1 and "}" not in text[cut:] and len(text) - cut <= _MAX_REF:
            text, self._held = text[:cut], text[cut:]
        out = []
        at = 0
        for m in _REF.finditer(text):
            out.append(text[at : m.start()])
            self._said += text[at : m.start()]
            said = self._expand(m)
            out.append(said)
            self._said += said
            at = m.end()
        out.append(text[at:])
        self._said += text[at:]
        return "".join(out)

    def flush(self) -> str:
        """The end of the text: a reference cut off unfinished (the token limit) is not
        speech and is dropped."""
        held, self._held = self._held, ""
        return "" if held.startswith("{") else held

    def _expand(self, m: re.Match[str]) -> str:
        ref = m.group(1)
        said = self._refs.get(ref)
        if said is None:
            return m.group(0)
        focus = self._focus(self._said) if self._focus is not None else None
        if focus is not None and focus != ref.split(".", 1)[0]:  # "": no product in focus
            return "{!" + ref + "}"
        self.used.append(ref)
        return said + (self._name(self._said, ref.split(".", 1)[0]) if self._name else "")


MISATTRIBUTED = re.compile(r"\{!([A-Za-z][A-Za-z0-9_]*)\.([a-z][a-z0-9_]*)\}")
"""How the expander marks a fact reference said of another product."""
