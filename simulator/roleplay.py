"""Keeping an LLM customer in character: the radio-play prompt and the role-slip check.

A small instruction-tuned model asked to *be* the customer in a chat drifts back into
the assistant's role ("How can I assist you today?"). Asked instead to write the next
line of a radio play, with its answer already begun as ``Maria (sighing): "`` and
generation stopped at the closing quote, it can only write what Maria says (issue 14).

``role_slips`` flags customer lines that sound like the agent or recite instructions, so
a report can give a role-slip rate per arm.
"""

from __future__ import annotations

import random
import re

from models.llm.base import ChatMessage
from simulator.persona import Persona

DIRECTIONS = (
    "sighing", "cautiously", "after a pause", "politely", "a little distracted",
    "thinking it over", "frowning", "curious", "drily", "warmly", "briskly", "hesitantly",
)
"""Stage directions for the prefill: mixed in mood, so none pushes the customer one way."""

NAMES = {
    "female": ("Maria", "Linda", "Grace", "Sofia", "Helen", "Priya", "Chloe", "Rosa"),
    "male": ("David", "Tom", "Carlos", "James", "Ahmed", "Peter", "Luca", "Sam"),
    "": ("Alex", "Jordan", "Robin", "Casey"),
}

RADIO_SYSTEM = (
    "You write radio plays. You write exactly one line of dialogue for the character you "
    "are asked about, true to their profile and personality, in plain spoken words."
)

RADIO_SCENE = """Radio play: "The Call".

Scene: {name} is at home when the phone rings. On the line is {agent}, an AI sales \
agent calling from {company}. {name} is the customer, an ordinary person, not a \
salesperson: {name} never offers help, never sells anything, and speaks only for \
{name}. {name} may be curious, ask questions, agree to buy, turn it down, or end the \
call, as this person really would.

About {name}:
{profile}
{business}
Personality: {traits}. Let it show in how {name} talks.

The script so far:
{script}

Write {name}'s next line: one or two short spoken sentences."""


def customer_name(persona: Persona) -> str:
    """The persona's name, or one drawn from its id (stable across runs)."""
    if persona.name:
        return persona.name
    pool = NAMES.get(persona.gender.lower(), NAMES[""])
    return random.Random(persona.id).choice(pool)


def radio_messages(persona: Persona, script: list[tuple[str, str]], *, name: str,
                   agent: str, company: str, traits: str, direction: str) -> list[ChatMessage]:
    """The chat for the customer's next line: a radio-play script, and an assistant
    message the model continues (``name (direction): "``); stop generation at ``"``."""
    lines = "\n".join(f'{who}: "{text}"' for who, text in script)
    scene = RADIO_SCENE.format(
        name=name, agent=agent, company=company,
        profile=persona.profile_text().replace("## Basic Information\n", ""),
        business=persona.business_text(), traits=traits, script=lines)
    return [ChatMessage("system", RADIO_SYSTEM), ChatMessage("user", scene),
            ChatMessage("assistant", f'{name} ({direction}): "')]


# -- the role-slip check ---------------------------------------------------------------
_I = r"\b(?:i'?m|i am)\s+"
SLIP_PATTERNS: dict[str, re.Pattern[str]] = {
    "offers_help": re.compile(
        r"\b(?:how|what) (?:can|may|could|shall) i (?:help|assist|do for)\b|"
        r"\bi'?(?:m| am) (?:here|happy|glad) to (?:help|assist)\b|"
        r"\b(?:is there )?anything (?:else )?i can (?:help|assist|do for you)\b|"
        r"\bassist you\b|\bi (?:can'?t|cannot) assist\b|\b(?:happy|glad) to help you\b|"
        r"\bhelp you (?:set up|with (?:that|your|any))\b|\bdo you need (?:any )?help\b|"
        r"\bi can help (?:with that|you)\b|\blet me know (?:what you need|if you need)\b|"
        r"\b(?:opportunity|chance) to (?:assist|help)\b|"
        r"\b(?:i'?d|i would|i'?ll|i will) be (?:happy|glad) to help\b", re.I),
    "claims_ai": re.compile(
        _I + r"(?:an? |your |the )?(?:ai|a\.i\.|artificial intelligence|language model|"
        r"chatbot|bot|virtual assistant|digital assistant|ai assistant)\b|"
        + _I + r"(?:an |your |the )?assistant\b(?! (?:manager|professor|director|to|at|in))|"
        r"\bas an? (?:ai|language model|assistant)\b|\b(?:company'?s|insurance) assistant\b",
        re.I),
    "sells": re.compile(
        r"\bour (?:policies|policy options|products|plans|coverage|cover options|"
        r"insurance (?:products|plans|policies))\b|"
        r"\bwe (?:offer|provide|have a range|can offer|sell)\b|"
        r"\b(?:i can|let me) (?:offer|sign you|set you up|get you a quote)\b|"
        r"\bwould you (?:like|be interested) (?:to hear |in hearing )?(?:about|in) "
        r"(?:our|one of)\b|"
        r"\b(?:i'?m|we'?re|i am) calling (?:from|about|on behalf)\b|"
        r"\bthank you for (?:choosing|your interest)\b", re.I),
    "asks_like_agent": re.compile(
        r"\bwhat do you do for a living\b|"
        r"\bwould you like (?:to (?:learn|know|hear) more|me to)\b|"
        r"\banything (?:else |specific )?(?:that )?you(?:'d| would) like to (?:know|discuss)\b|"
        r"\bwhat (?:kind|type|sort) of (?:\w+ ){1,2}(?:are you (?:interested in|looking for)|"
        r"would you like|do you (?:need|want))\b|"
        r"\bdo you have any (?:other |more |insurance )?questions\b|"
        r"\bwhat'?s on your mind\b|\bwhat'?s your (?:insurance )?(?:issue|problem)\b|"
        r"\bi'?m glad you(?:'re| are) (?:interested|considering)\b|"
        r"\b(?:provide|give) me (?:with )?your (?:contact|details|information|phone|email)|"
        r"\bi can (?:schedule|arrange|book)\b|\bwhat'?s your (?:insurance )?question\b|"
        r"\bwhat can i do for you\b|\bhow would you like to proceed\b|"
        r"\b(?:understand|appreciate) your interest\b|"
        r"\btell me (?:more )?about your (?:family|health|medical|needs|situation|budget)|"
        r"\bdo you have any specific needs\b", re.I),
    "recites_instructions": re.compile(
        r"\byou decide what to do\b|\bas the (?:customer|user|assistant|agent)\b|"
        r"\brole[- ]?play|\bin character\b|\bmy (?:task|instructions|role|customer'?s?)\b|"
        r"\b(?:the )?customer'?s needs\b|\bcontinue the conversation\b|\buser profile\b|"
        r"\bpersonality traits?\b|\bmbti\b|\bstage directions?\b|\bnext line\b|"
        r"\bi'?m (?:a|the|your) customer\b|\byou ask (?:if|whether)\b", re.I),
    "stage_direction": re.compile(
        r"\*[^*]{2,40}\*|\((?:sighs?|pauses?|laughs?|smiles?|chuckles?|nods?|hesitat\w*|"
        r"thinking|frowning|warmly|politely|cautiously|curious\w*)[^)]{0,30}\)", re.I),
}


def role_slips(text: str, *, agent_name: str = "Ava") -> list[str]:
    """Which kinds of slip a customer line shows (empty: in character).

    ``text`` is best the model's raw output: a stage direction that cleaning removes
    still shows the model writing a script, not speaking."""
    found = [kind for kind, pattern in SLIP_PATTERNS.items() if pattern.search(text)]
    speaker = re.compile(rf"(?:^|\n)\s*(?:{re.escape(agent_name)}|agent|assistant)\s*:|"
                         rf"\b(?:i'?m|i am|this is|my name is) {re.escape(agent_name)}\b", re.I)
    if speaker.search(text):
        found.append("speaks_as_agent")
    return found


def slip_rate(hints: list[dict[str, object]]) -> tuple[int, int]:
    """(customer lines that slipped, lines checked) from per-line hints."""
    checked = [h for h in hints if "role_slip" in h]
    return sum(1 for h in checked if h["role_slip"]), len(checked)
