"""Callers who try to make the agent recite or drop its instructions (prompt injection).

Two layers, either of which suffices: phrase rules for the common forms, and a learned
head (``agent/heads/injection.json``: a linear softmax over MiniLM sentence embeddings,
trained by ``salesvoice compliance train-head --kind injection`` on
``agent/data/injection_train.jsonl``) for the wordings no rule lists. The agent answers
a flagged line with its privacy line without asking the model, which might comply.
Measured on an independently written set: docs/compliance.md.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from agent.claim_head import ClaimHead, load_head

HEAD = Path(__file__).parent / "heads" / "injection.json"

_QUALIFIED = (r"(?:system|hidden|secret|internal|private|original|initial|underlying|exact"
              r"|full|whole|complete|actual|real)")
_AGENT_ALTS = (r"(?:system )?prompts?|playbook|sop|programming|configuration|config|json"
               r"|talking points|training data|persona|thoughts?|reasoning|chain of thought")
_AGENT_WORDS = f"(?:{_AGENT_ALTS})"
_GIVEN_WORDS = (r"(?:instructions?|rules|guidelines|directives|script|notes|brief(?:ing)?"
                r"|orders|settings|context|" + _AGENT_ALTS + ")")
_NOT_ABOUT = r"\b(?! (?:on|for|about|regarding|around|of the (?:policy|cover|insurance)|to make))"
_SECRET = (r"(?:(?:your|its|the (?:ai|bot|agent|assistant)'?s?) (?:" + _QUALIFIED + r" )*"
           + _GIVEN_WORDS + _NOT_ABOUT + r"|(?:the|these|those) (?:" + _QUALIFIED + r" )*"
           + _AGENT_WORDS + r"|(?:the|these|those) " + _QUALIFIED + r" " + _GIVEN_WORDS + r")")
_INJECTION = re.compile(
    # asks to recite or reveal what the agent was given
    r"\b(?:read|tell|show|give|print|recite|repeat|reveal|share|dump|output|paste|spell|list"
    r"|display|type|say|describe|summari[sz]e|leak|expose|send|copy)\b(?: me| us)?(?: out)?"
    r"(?: back)?(?: \w+){0,3}? " + _SECRET +
    r"|\bwhat(?: is| are| was| were|'s|'re)(?: in| on)? " + _SECRET +
    r"|\bwhat (?:were|are|have) you (?:been )?(?:told|instructed|programmed|prompted|briefed"
    r"|trained|scripted|supposed|meant) to (?:say|do|tell|sell|push|pitch|follow)"
    r"|\bwho (?:programmed|instructed|briefed|prompted) you\b"
    # tries to override them
    r"|\b(?:ignore|disregard|forget|override|bypass|drop|abandon) (?:all |any |every )?(?:of )?"
    r"(?:your |the |those |these )?(?:previous |prior |earlier |above |preceding |original "
    r"|existing |current |old |safety )*(?:instructions|prompts?|rules|guidelines|directives"
    r"|programming|constraints|restrictions|guardrails|script|training)"
    r"|\b(?:developer|debug|admin|administrator|god|maintenance|dan|jailbreak|unrestricted"
    r"|sudo|root|unfiltered) mode\b|\bjailbr[eo]ak"
    r"|\b(?:repeat|print|read|recite|output|copy) (?:back )?(?:everything|all|the text"
    r"|whatever|the (?:words|lines|messages?|text)) (?:(?:that )?(?:is|was|came) )?"
    r"(?:above|before this|preceding|you were given|at the start|at the top)"
    r"|\b(?:pretend|act|behave|imagine|roleplay|role-play)(?: that| as if| like)?"
    r"(?: you(?: are| were|'re| have))?(?: to be| as)? (?:a different|another|an unrestricted"
    r"|no longer|not an? (?:ai|assistant|bot|sales)|free of|without (?:any )?(?:rules"
    r"|restrictions|instructions|limits|filters))"
    r"|\byou (?:are|'re) now (?:a |an |in |my |free|no longer|unrestricted|dan\b)"
    r"|\b(?:new|updated) instructions?\s*(?::|are|is|for you)",
    re.I,
)


def injection_rule(text: str) -> str | None:
    """The words of ``text`` that a phrase rule reads as an injection, if any."""
    m = _INJECTION.search(text)
    return m.group(0) if m is not None else None


@lru_cache(maxsize=1)
def default_head() -> ClaimHead:
    """The packaged injection head on the packaged embedder, loaded once per process."""
    return load_head(HEAD)


def asks_for_instructions(text: str, head: ClaimHead | None = None) -> bool:
    """The caller tries to make the agent recite or drop what it was given (its
    instructions, prompt, rules, notes or thought), by rule or by the learned ``head``
    (default: the packaged one)."""
    if injection_rule(text) is not None:
        return True
    return bool((head or default_head()).flag(text))
