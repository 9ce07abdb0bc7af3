"""Simulated customers: LLM role-players (a radio-play script, the MADS prompt or the first
paper's) and a programmatic user with planted ground truth.

A user hears one agent line at a time and answers with a ``UserLine``. A programmatic
user also says what it decided (its verdict is the truth); an LLM user does not, and the
dialogue's outcome is then a constrained classification of what it said.
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, ValidationError, model_validator

from agent.dialogue import Outcome, Record
from agent.domain import DomainPack
from agent.occupation import SECTORS
from models.errors import ConfigError
from models.llm.base import LLM, ChatMessage, Sampling
from simulator.persona import Persona
from simulator.roleplay import DIRECTIONS, customer_name, radio_messages, role_slips
from simulator.wording import Speaker, Style, Wording

BUILTIN = Path(__file__).parent / "specs"


@dataclass(frozen=True, slots=True)
class UserLine:
    text: str
    verdict: Outcome | None = None
    """What the user decided with this line, when the user model knows (programmatic)."""
    intent: str | None = None
    """The product the verdict is about."""
    hints: dict[str, object] = field(default_factory=dict)


class UserAgent(Protocol):
    persona: Persona
    knows_truth: bool
    """Whether ``UserLine.verdict`` is ground truth (True) or absent (LLM users)."""

    async def reply(self, agent_text: str) -> UserLine: ...

    def truth(self) -> dict[str, object]:
        """Hidden facts for the record (a planted intent); empty for LLM users."""
        ...


# -- LLM users -------------------------------------------------------------------------
MADS_PROMPT = """<user_profile>
  <basic_info>
{user_profile}
{business_attributes}
  </basic_info>
  <personality>
    Based on the commonly accepted and general {personality_traits} personality traits, \
characterize this person's personality and reflect it in the dialogue.
  </personality>
</user_profile>
<task>
  Based on the above personal profile, role-play as this person. You are the customer: \
an insurance company's assistant has phoned you and is talking to you. Answer as yourself; \
never act as the assistant, never offer help or sell anything.
  Note:
  1. Make your replies as conversational and colloquial as possible: one or two short \
spoken sentences.
  2. Only output what you say. Do not output any thoughts, inner monologue, stage \
directions, tags or any unnecessary content.
  3. Decide as this person would: you may agree, ask questions, decline, or end the call.
</task>
Start the task!"""

PAPER_PROMPT = (
    "You are not an AI; you are a real person answering a phone call from a salesperson. "
    "{persona} "
    "Answer naturally and briefly, in one or two sentences, without emojis. Only say "
    "what you would say out loud."
)

Signifier = Literal["mbti", "zodiac", "both", "none"]
_TAG = re.compile(r"\[[A-Z_ ]+\]|\*[^*]*\*|\([^)]*\)|<[^>]*>")
_PREFIX = re.compile(r"^\s*(you|user|customer|me|caller|[A-Z][a-z]+)\s*:\s*", re.I)
_EMOJI = re.compile("[\U0001f000-\U0001ffff\u2600-\u27bf]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def clean_line(text: str, max_sentences: int = 3) -> tuple[str, list[str]]:
    """What an LLM user would actually say aloud, and the tags it wrote (kept as hints,
    never used as the outcome)."""
    tags = re.findall(r"\[([A-Z_ ]+)\]", text)
    line = text.strip().split("\n\n")[0]
    line = _EMOJI.sub("", _TAG.sub("", _PREFIX.sub("", line)))
    line = re.sub(r"\s+", " ", line).strip().strip('"').strip()
    line = " ".join(_SENTENCE.split(line)[:max_sentences])
    return line, tags


UserStyle = Literal["mads", "paper", "radio"]


class LLMUser:
    """A persona role-played by an LLM.

    ``mads`` and ``paper`` show the call so far as a transcript in one message ("Ava: ...
    / You: ..."), not as chat turns with the roles swapped: small instruction-tuned models
    slip back into the assistant's role when the agent's lines arrive as "user" turns.
    ``radio`` (``simulator/roleplay.py``) asks for the next line of a radio-play script
    and prefills the customer's cue; a backend that cannot continue an assistant message
    falls back to ``mads`` (the ``style`` hint of each line says which ran).
    Every line carries a ``role_slip`` hint: the slips ``role_slips`` found in it."""

    knows_truth = False

    def __init__(
        self,
        persona: Persona,
        llm: LLM,
        *,
        style: UserStyle = "mads",
        signifier: Signifier = "both",
        sampling: Sampling | None = None,
        session: str | None = None,
        agent_name: str = "Ava",
        company: str = "an insurance company",
    ) -> None:
        self.persona = persona
        self._llm = llm
        self._sampling = sampling or Sampling(temperature=0.8, top_p=0.95, max_tokens=60)
        self._session = session
        self._agent = agent_name
        self._company = company
        self.style: UserStyle = style
        if style == "radio" and not llm.capabilities.prefill:
            self.style = "mads"  # no assistant prefill: the chat-style fallback
        prompt_style: Literal["mads", "paper"] = "paper" if style == "paper" else "mads"
        self._system = ChatMessage("system", user_system_prompt(persona, prompt_style, signifier))
        self._traits = _traits(persona, signifier)
        self._name = customer_name(persona)
        self._rng = random.Random(f"{persona.id}/{session}")
        self._transcript: list[tuple[str, str]] = []
        self._direction = ""

    def messages(self) -> list[ChatMessage]:
        if self.style == "radio":
            script = [(self._name if who == "You" else who, text)
                      for who, text in self._transcript]
            return radio_messages(self.persona, script, name=self._name, agent=self._agent,
                                  company=self._company, traits=self._traits,
                                  direction=self._direction)
        lines = "\n".join(f"{who}: {text}" for who, text in self._transcript)
        return [self._system, ChatMessage(
            "user", f"The phone call so far:\n{lines}\n\nWhat do you say next? Reply with "
            "only your own words, as yourself.")]

    async def reply(self, agent_text: str) -> UserLine:
        self._transcript.append((self._agent, agent_text))
        said = {text for who, text in self._transcript if who == "You"}
        sampling = self._sampling
        if self.style == "radio":  # the line ends at its closing quote
            sampling = replace(sampling, stop=(*sampling.stop, '"', "\n"))
        raw = ""
        for _ in range(2):  # small models loop; one retry, hotter, for a fresh line
            self._direction = self._rng.choice(DIRECTIONS)
            out = await self._llm.complete(self.messages(), sampling, session=self._session)
            raw = out.text
            text, tags = clean_line(raw)
            if text and text not in said:
                break
            sampling = replace(sampling, temperature=min(2.0, (sampling.temperature or 0.7) + 0.4))
        if not text:
            text = "Sorry, what was that?"
        self._transcript.append(("You", text))
        hints: dict[str, object] = {"style": self.style,
                                    "role_slip": role_slips(raw, agent_name=self._agent)}
        if self.style == "radio":
            hints["direction"] = self._direction
        if tags:
            hints["tags"] = tags
        return UserLine(text, hints=hints)

    def truth(self) -> dict[str, object]:
        return {}


def _traits(persona: Persona, signifier: Signifier) -> str:
    return {"mbti": persona.mbti, "zodiac": persona.zodiac,
            "both": f"{persona.mbti} and {persona.zodiac}", "none": "everyday"}[signifier]


def user_system_prompt(persona: Persona, style: Literal["mads", "paper"],
                       signifier: Signifier = "both") -> str:
    if style == "paper":
        about = persona.paragraph or (
            f"You're a {persona.age}-year-old {persona.gender.lower()} {persona.occupation}; "
            f"your personality type is {persona.mbti}."
        )
        return PAPER_PROMPT.format(persona=about)
    return MADS_PROMPT.format(user_profile=persona.profile_text(),
                              business_attributes=persona.business_text(),
                              personality_traits=_traits(persona, signifier))


# -- the programmatic user with planted truth ----------------------------------------------
class PlantedWorld(Record):
    """Ground truth for programmatic users: what each sector wants, and how users react."""

    sectors: dict[str, list[str]]
    """ISIC section → its most likely intents, in order (the planted top ones)."""
    top_weights: list[float] = Field(default_factory=lambda: [0.45, 0.30])
    """Probability of the 1st, 2nd... planted intent; the rest share what is left."""
    accept_p: float = Field(0.85, ge=0, le=1)
    """P(accept) when the agent pitches the hidden intent."""
    false_accept_p: float = Field(0.03, ge=0, le=1)
    """Noise: P(accept) when the agent pitches any other product."""
    reveal_p: float = Field(0.08, ge=0, le=1)
    """Per small-talk turn: P(the user names the hidden intent unprompted)."""
    patience: int = Field(2, ge=0)
    """Wrong pitches tolerated before withdrawing (+1 for extraverts)."""
    idle_patience: int = Field(4, ge=0)
    """Small-talk turns tolerated before saying goodbye."""
    wording: Style = "varied"
    """varied: paraphrases, fillers, indirect job talk, ASR-like errors
    (``simulator/wording.py``); plain: one template per line, said exactly."""
    asr_error_rate: float = Field(0.05, ge=0, le=1)
    """P(a varied line reaches the agent with an ASR-like error)."""
    indirect_job_p: float = Field(0.5, ge=0, le=1)
    """P(a varied user describes their work instead of naming the occupation)."""

    @model_validator(mode="after")
    def _check(self) -> PlantedWorld:
        bad = [s for s in self.sectors if s not in SECTORS]
        if bad:
            raise ValueError(f"unknown ISIC sections {bad}")
        if sum(self.top_weights) > 1:
            raise ValueError("top_weights sum to more than 1")
        return self

    def distribution(self, sector: str, intents: list[str]) -> dict[str, float]:
        """P(intent | sector) over the domain's intents."""
        top = [i for i in self.sectors.get(sector, []) if i in intents][: len(self.top_weights)]
        probs = dict(zip(top, self.top_weights, strict=False))
        rest = [i for i in intents if i not in probs]
        left = 1 - sum(probs.values())
        probs.update({i: left / len(rest) for i in rest} if rest else {})
        return {i: probs[i] for i in intents}

    def top(self, sector: str, k: int = 2) -> list[str]:
        return self.sectors.get(sector, [])[:k]


def load_world(name_or_path: str = "planted") -> PlantedWorld:
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILTIN / f"{name_or_path}.toml"
    try:
        return PlantedWorld.model_validate(tomllib.loads(path.read_text()))
    except FileNotFoundError:
        raise ConfigError(f"planted world {name_or_path!r} not found") from None
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"planted world {path} is invalid: {exc}") from None


_ASKS_WORK = re.compile(
    r"\b(what do you do|what you do|your (work|job|line of work|occupation|profession)|"
    r"for a living|where do you work|what kind of work)\b", re.I)


class ProgrammaticUser:
    """A rule-based customer with a hidden intent drawn from its sector's planted
    distribution. It accepts when the agent pitches that intent (with noise), tolerates a
    few wrong pitches and some small talk, and says when asked what it does for a living.

    Deterministic given the seeds. The hidden intent comes from ``truth_seed`` (default
    ``seed``); decisions and wording follow ``seed``. A batch passes seeds without the
    program variant, so every arm meets the same user (common random numbers)."""

    knows_truth = True

    def __init__(self, persona: Persona, world: PlantedWorld, domain: DomainPack,
                 seed: int | str = 0, truth_seed: int | str | None = None) -> None:
        self.persona = persona
        self._world = world
        self._domain = domain
        truth = random.Random(f"{persona.id}/{seed if truth_seed is None else truth_seed}")
        dist = world.distribution(persona.sector, domain.intent_ids)
        self.hidden = truth.choices(list(dist), list(dist.values()))[0]
        self._rng = random.Random(f"{persona.id}/{seed}/decide")
        self._speaker = Speaker(
            Wording(world.wording, world.asr_error_rate, world.indirect_job_p),
            random.Random(f"{persona.id}/{seed}/say"))
        self._patience = world.patience + (1 if persona.mbti.startswith("E") else 0)
        self._wrong = 0
        self._idle = 0
        self._heard = 0

    def truth(self) -> dict[str, object]:
        return {"hidden_intent": self.hidden}

    async def reply(self, agent_text: str) -> UserLine:
        return self.decide(agent_text)

    def decide(self, agent_text: str) -> UserLine:
        """The reply, synchronously (the batch runner's fast path uses it directly)."""
        self._heard += 1
        w, rng, say = self._world, self._rng, self._speaker.say
        if self._heard == 1:
            return UserLine(say("greeting"))
        # The pitch is the first product named: a line pitching travel cover that says it
        # "covers medical emergencies abroad" is not a medical pitch.
        mentioned = self._domain.mentioned(agent_text)
        if mentioned and mentioned[0] == self.hidden:
            if rng.random() < w.accept_p:
                return UserLine(say("accept", product=self._name(self.hidden), keep=True),
                                Outcome.ACCEPTED, self.hidden)
            return UserLine(say("more", product=self._name(self.hidden)))
        if mentioned:
            other = mentioned[0]
            if rng.random() < w.false_accept_p:
                return UserLine(say("accept", product=self._name(other), keep=True),
                                Outcome.ACCEPTED, other)
            self._wrong += 1
            if self._wrong > self._patience:
                return UserLine(say("withdraw"), Outcome.WITHDREW)
            return UserLine(say("decline", product=self._name(other)),
                            hints={"declined": other})
        if _ASKS_WORK.search(agent_text):
            text, named = self._speaker.job(self.persona.occupation, self.persona.sector)
            return UserLine(text, hints={"job": "named" if named else "indirect"})
        self._idle += 1
        if rng.random() < w.reveal_p:
            return UserLine(say("reveal", product=self._name(self.hidden), keep=True),
                            Outcome.EXPLICIT_INTENT, self.hidden)
        if self._idle > w.idle_patience:
            return UserLine(say("goodbye"), Outcome.GOODBYE)
        return UserLine(say("small_talk"))

    def _name(self, intent: str) -> str:
        product = self._domain.product(intent)
        return self._speaker.product_name(product.name, product.aliases)
