"""How programmatic users word what they decided: paraphrase pools, spoken fillers,
indirect mentions of their job, and ASR-like errors.

The user decides (accept, decline, ...) elsewhere; this module only turns a decision into
a line, as a caller might say it and a speech recognizer might hear it. ``plain`` is one
fixed template per kind of line, said exactly (the old behaviour, for comparisons).
Everything is drawn from the ``random.Random`` passed in, so a seed fixes every line.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["greeting", "accept", "more", "decline", "withdraw", "job", "reveal",
               "small_talk", "goodbye"]
Style = Literal["varied", "plain"]

PLAIN: dict[Kind, tuple[str, ...]] = {
    "greeting": ("Hi. Sure, I have a minute.",),
    "accept": ("Yes, {product} is what I need. How do I sign up?",),
    "more": ("Hmm, {product}. Tell me a bit more.",),
    "decline": ("Hmm, {product} isn't really what I need right now.",),
    "withdraw": ("No thanks, this isn't for me. Goodbye.",),
    "job": ("I'm {a_job}. I've done it for a few years now.",),
    "reveal": ("Actually, I've been meaning to look into {product}. Can you tell me about it?",),
    "small_talk": ("I'm fine, thanks. Busy week.", "Not bad. What's this about?", "Okay, go on.",
                   "Sure, I'm listening.", "It's been a long day, honestly.",
                   "Alright. What did you want?"),
    "goodbye": ("Sorry, I have to go now. Goodbye.",),
}
"""One template per line (small talk had a few): what users said before paraphrases."""

POOLS: dict[Kind, tuple[str, ...]] = {
    "greeting": (
        "Hi. Sure, I have a minute.", "Hello? Yes, who's this?", "Oh, hi. I've got a few minutes.",
        "Yeah, go on then.", "Sure, what's it about?", "I'm a bit busy, but okay, quickly.",
        "Hi there. Yes, I can talk.", "Hello. Depends what it's about.",
        "Yes, speaking.", "Hiya. I've got a sec.",
    ),
    "accept": (
        "Yes, {product} is what I need. How do I sign up?", "Okay, sign me up for {product}.",
        "That sounds right. Let's do {product}.", "Yeah, I'd like {product}, please.",
        "Alright, put me down for {product}.", "Sure, {product}. Where do I sign?",
        "I think I'll go for {product}.", "Yes please, I'll take {product}.",
        "That's exactly what I've been after. {product}, yes.", "Fine, let's set up {product}.",
        "Go on then, I'll take it.", "Yes, that one. How do I get it?",
        "You've convinced me, I want {product}.", "Okay, send me a quote for {product}.",
    ),
    "more": (
        "Hmm, {product}. Tell me a bit more.", "What does {product} actually cover?",
        "How much would {product} cost me?", "Go on, I'm listening.",
        "Maybe. What's the catch?", "Interesting. How does it work?",
        "And what would I pay for that a month?", "I might be interested. Tell me more.",
        "{product}, huh. What's included?",
    ),
    "decline": (
        "Hmm, {product} isn't really what I need right now.",
        "I don't think I need {product}, to be honest.", "Nah, {product} isn't something I'd use.",
        "I've already got {product} sorted, thanks.", "{product}? Not really, no.",
        "No, I'm alright for {product}.", "Not {product}, I don't think.",
        "I can't see myself needing {product}.", "That's not really my thing.",
        "Maybe not that one.", "I'm not bothered about {product}.",
    ),
    "withdraw": (
        "No thanks, this isn't for me. Goodbye.", "Look, I'm not interested. Bye.",
        "I'll pass, thanks. Have a good day.", "Sorry, I don't want any of this. Goodbye.",
        "Please, that's enough. I'm going to go now.", "Thanks, but no thanks. Bye now.",
        "I'm really not interested, sorry. Bye.", "None of this is for me. Take care.",
    ),
    "job": (
        "I'm {a_job}. I've done it for a few years now.", "I work as {a_job}.",
        "{A_job}, for my sins.", "I'm {a_job}, have been for ages.", "Me? I'm {a_job}.",
        "My job? I'm {a_job}.", "I'm {a_job} at the moment.", "{A_job}. It keeps me busy.",
    ),
    "reveal": (
        "Actually, I've been meaning to look into {product}. Can you tell me about it?",
        "You know what I'd actually want? {product}.",
        "Do you do {product}? That's what I'm after.",
        "What I really need is {product}, to be honest.",
        "Could you tell me about {product} instead?",
        "I've been thinking about {product} lately.", "Is there anything on {product}?",
        "To be honest I'm more interested in {product}.",
    ),
    "small_talk": (
        *PLAIN["small_talk"], "Yeah, not bad, not bad.", "Can't complain. What's this about?",
        "Tired, but fine. Go on.", "Mm-hm.", "Right. And?", "Okay. Is this going to take long?",
        "I'm alright. Who did you say you were?", "Fine. What are you selling?",
    ),
    "goodbye": (
        "Sorry, I have to go now. Goodbye.", "I've got to run, bye.",
        "Look, I need to get back to work. Bye.", "I'll have to stop you there, I'm off. Bye.",
        "Sorry, someone's at the door. Bye!", "I really need to go. Bye for now.",
    ),
}

JOB_BY_SECTOR: dict[str, tuple[str, ...]] = {
    "A": ("I work the land, same as my dad did.", "I'm outdoors most days, whatever the weather.",
          "It's seasonal work, out in the open.", "I'm out on the farm most days."),
    "C": ("I'm on the factory floor, shifts mostly.", "I make parts at a plant outside town.",
          "I work in manufacturing, on the line."),
    "F": ("I'm in the trades.", "I'm on building sites most of the week.",
          "I work in construction, new builds and repairs."),
    "G": ("I'm in retail.", "I work in a shop in town.", "I'm on the shop floor all day."),
    "H": ("I'm on the road most of the week.", "I drive for a living.",
          "I work in logistics, moving goods around."),
    "I": ("I'm in hospitality.", "I work in a restaurant, long evenings.",
          "I work in catering, weekends included."),
    "J": ("I'm in IT.", "I work at a tech company.", "I work with computers all day."),
    "K": ("I'm in finance.", "I work at a bank, well, in banking anyway.",
          "I work with money, other people's mostly."),
    "M": ("I work at a professional firm in town.", "I'm in professional services.",
          "I do consulting work, mostly desk-based."),
    "O": ("I work for the government.", "I'm in public service.", "I work for the council."),
    "P": ("I'm in education.", "I work at a school.", "I teach."),
    "Q": ("I'm in healthcare.", "I work at the hospital.", "I look after people for a living."),
    "R": ("I'm in the arts.", "I'm a creative, more or less.", "I work in entertainment."),
    "S": ("I run my own little business in town.", "I'm in services, fixing things for people.",
          "I work with customers all day, hands-on."),
}
"""Ways to say what one does without naming the occupation, true of any job in the sector."""

JOB_BY_OCCUPATION: dict[str, tuple[str, ...]] = {
    "farmer": ("I'm out on the farm most days.", "I keep cattle and grow barley."),
    "woodcutter": ("I cut timber up in the hills.", "Trees, mostly. I fell and clear woodland."),
    "fisherman": ("I'm out on the boat most mornings.", "I fish, off the coast."),
    "horticulturist": ("I grow plants for a nursery.", "I look after gardens and glasshouses."),
    "software engineer": ("I write code for a tech company.", "I build apps, mostly backend."),
    "cybersecurity specialist": ("I keep hackers out of company networks.",
                                 "I do security for a tech firm."),
    "data scientist": ("I work with data, building models for a startup.",
                       "I crunch data for a living."),
    "telecommunications technician": ("I install phone lines and broadband.",
                                      "I fix network gear for a telecom company."),
    "investment analyst": ("I pick stocks for an investment firm.", "I analyse investments."),
    "actuary": ("I work out risks and premiums for an insurance company.",
                "I do the statistics behind insurance."),
    "insurance claims adjuster": ("I assess claims at an insurance company.",
                                  "I check damage when people claim on their policies."),
    "financial advisor": ("I help people with pensions and savings.",
                          "I advise clients on their money."),
    "primary school teacher": ("I teach kids, year three.", "I've got a class of seven-year-olds."),
    "university professor": ("I lecture at the university.",
                             "I teach and do research at a university."),
    "vocational trainer": ("I train apprentices at the college.",
                           "I teach trade skills to adults."),
    "special education teacher": ("I teach children who need extra support.",
                                  "I work in a special needs school."),
    "doctor": ("I see patients at the clinic all day.", "I work in A and E."),
    "nurse": ("I look after patients on night shifts.", "I'm on the wards at the hospital."),
    "physical therapist": ("I help people get moving again after injuries.",
                           "I do rehab with patients."),
    "psychologist": ("People come to me to talk through their problems.",
                     "I do therapy, mostly one-to-one."),
    "actor": ("I'm on stage most nights.", "I do theatre, and the odd TV part."),
    "musician": ("I play in a band, gigs at weekends.", "I play guitar for a living."),
    "artist": ("I paint, and sell my work through a gallery.", "I make sculptures."),
    "writer": ("I write books, well, trying to.", "I write for magazines."),
    "machinist": ("I run the lathes at a machine shop.", "I cut metal parts on machines."),
    "welder": ("I weld steel for a fabrication firm.", "I join metal all day."),
    "electrician": ("I fix people's wiring and fuse boxes.", "I do wiring on building sites."),
    "plumber": ("I do pipes, boilers, bathrooms, that sort of thing.", "I fix leaks and boilers."),
    "shop assistant": ("I work on the tills at a shop in town.", "I serve customers in a shop."),
    "store manager": ("I run a supermarket.", "I manage a store, so retail."),
    "truck driver": ("I drive a lorry, long hauls.", "I haul freight across the country."),
    "courier": ("I deliver parcels all day.", "I do deliveries on my van."),
    "chef": ("I cook in a restaurant kitchen.", "I run a kitchen."),
    "waiter": ("I wait tables at a place downtown.", "I serve at a restaurant."),
    "lawyer": ("I'm in law, mostly contracts.", "I represent people in court."),
    "accountant": ("I do people's books and tax returns.", "I do the accounts for small firms."),
    "police officer": ("I'm in the police.", "I'm on the beat most days."),
    "civil servant": ("I work in a ministry, in an office.", "I'm a government employee."),
    "hairdresser": ("I cut hair at a salon.", "I do hair, colours and cuts."),
    "mechanic": ("I fix cars at a garage.", "I repair engines."),
}
"""Occupation-specific indirect phrases (the sector's pool also applies)."""

FILLERS = ("Um,", "Uh,", "Well,", "Hmm,", "Oh,", "So,", "You know,", "Right,", "Erm,")
_MID_FILLERS = ("you know,", "like,", "I mean,", "uh,")
FILLER_P = 0.3
"""P(a varied line starts with a filler); a tenth as many get one mid-line."""

HOMOPHONES: dict[str, str] = {
    "to": "two", "too": "to", "for": "four", "there": "their", "their": "there",
    "your": "you're", "you're": "your", "right": "write", "no": "know", "know": "no",
    "here": "hear", "by": "buy", "buy": "by", "would": "wood", "our": "are", "then": "than",
    "its": "it's", "it's": "its", "we're": "were", "hi": "high", "new": "knew", "week": "weak",
    "sure": "shore", "one": "won", "see": "sea", "I'll": "aisle", "what": "want",
    "mind": "mine", "quote": "coat", "sign": "sine", "yeah": "yet", "bye": "by",
}
"""Word swaps a recognizer might make (sound-alikes and near misses)."""

_SHORT = re.compile(r"^[A-Za-z']{1,3}[,.!?]?$")
_PUNCT = re.compile(r"[.,!?;:]")


def article(word: str) -> str:
    lowered = word.lower()
    if lowered.startswith(("uni", "use", "eu", "one")):  # said with a "y" or "w" sound
        return "a"
    return "an" if lowered[:1] in "aeiou" else "a"


def fill(template: str, *, product: str = "", job: str = "") -> str:
    """A template with its ``{product}``, ``{a_job}`` and ``{A_job}`` slots filled."""
    a_job = f"{article(job)} {job}"
    line = template.format(product=product, a_job=a_job, A_job=a_job[:1].upper() + a_job[1:])
    return line[:1].upper() + line[1:]


def with_filler(text: str, rng: random.Random) -> str:
    """``text`` with a spoken filler in front (or, now and then, after its first comma)."""
    r = rng.random()
    if r < FILLER_P:
        # "I" and names ("Car Insurance? Not really") keep their capitals.
        keep = re.match(r"I\b|[A-Z][\w']*\s+[A-Z]", text)
        head = text if keep else text[:1].lower() + text[1:]
        return f"{rng.choice(FILLERS)} {head}"
    if r < FILLER_P * 1.1 and ", " in text:
        head, tail = text.split(", ", 1)
        return f"{head}, {rng.choice(_MID_FILLERS)} {tail}"
    return text


def asr_noise(text: str, rng: random.Random, protect: Sequence[str] = ()) -> str:
    """``text`` as a recognizer might get it wrong: one or two of lower-casing, dropped
    punctuation, a dropped short word, a sound-alike swap. Words inside a ``protect``
    span (a product the line accepts) are never dropped or swapped."""
    guarded: set[int] = set()
    words = list(re.finditer(r"\S+", text))
    for phrase in protect:
        for m in re.finditer(re.escape(phrase), text, re.I):
            guarded.update(i for i, w in enumerate(words)
                           if w.start() < m.end() and m.start() < w.end())
    tokens = [w.group() for w in words]
    ops = ["lower", "punct", "drop", "swap"]
    rng.shuffle(ops)
    for op in ops[: 1 + (rng.random() < 0.4)]:
        free = [i for i in range(len(tokens)) if i not in guarded and tokens[i]]
        if op == "lower":
            tokens = [t.lower() for t in tokens]
        elif op == "punct":
            tokens = [_PUNCT.sub("", t) for t in tokens]
        elif op == "drop":
            short = [i for i in free if _SHORT.match(tokens[i])]
            if short and len(free) > 1:
                tokens[rng.choice(short)] = ""
        else:
            swaps = [i for i in free if _PUNCT.sub("", tokens[i]).lower() in
                     {k.lower() for k in HOMOPHONES}]
            if swaps:
                i = rng.choice(swaps)
                tokens[i] = _swap(tokens[i])
    return " ".join(t for t in tokens if t)


def _swap(token: str) -> str:
    core = _PUNCT.sub("", token)
    lookup = {k.lower(): v for k, v in HOMOPHONES.items()}
    new = lookup[core.lower()]
    if core[:1].isupper():
        new = new[:1].upper() + new[1:]
    return token.replace(core, new, 1)


@dataclass(frozen=True, slots=True)
class Wording:
    """How a user words its lines (from ``PlantedWorld``)."""

    style: Style = "varied"
    asr_error_rate: float = 0.05
    """P(a line reaches the agent with an ASR-like error)."""
    indirect_job_p: float = 0.5
    """P(asked about work, the user describes it instead of naming the occupation)."""


class Speaker:
    """Turns a user's decisions into lines; all randomness from ``rng``."""

    def __init__(self, wording: Wording, rng: random.Random) -> None:
        self.wording = wording
        self._rng = rng

    @property
    def plain(self) -> bool:
        return self.wording.style == "plain"

    def say(self, kind: Kind, *, product: str = "", keep: bool = False) -> str:
        """A line of ``kind``; with ``keep`` the product is never corrupted by noise."""
        pool = PLAIN[kind] if self.plain else POOLS[kind]
        return self._spoken(fill(self._rng.choice(pool), product=product),
                            [product] if keep and product else [])

    def job(self, occupation: str, sector: str) -> tuple[str, bool]:
        """The answer to "what do you do?", and whether it names the occupation."""
        if self.plain:
            return fill(PLAIN["job"][0], job=occupation), True
        if self._rng.random() < self.wording.indirect_job_p:
            pool = JOB_BY_OCCUPATION.get(occupation, ()) + JOB_BY_SECTOR[sector]
            return self._spoken(self._rng.choice(pool), []), False
        return self._spoken(fill(self._rng.choice(POOLS["job"]), job=occupation), []), True

    def product_name(self, name: str, aliases: Sequence[str]) -> str:
        """How the user calls a product: mostly its name, sometimes what people say."""
        spoken = [a for a in aliases if "your" not in a.split()]
        if self.plain or not spoken or self._rng.random() < 0.6:
            return name
        return self._rng.choice(spoken)

    def _spoken(self, line: str, protect: list[str]) -> str:
        if self.plain:
            return line
        line = with_filler(line, self._rng)
        if self._rng.random() < self.wording.asr_error_rate:
            line = asr_noise(line, self._rng, protect)
        return line
