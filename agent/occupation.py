"""Occupations and their ISIC sectors, and the per-call sector estimate.

The sector is what the strategy table is keyed by. It comes from caller metadata when
given; otherwise it is inferred from what the caller says (by the agent's thought step,
with a confidence) and applied only once the confidence passes a threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.dialogue import SectorGuess

SECTORS: dict[str, str] = {
    "A": "Agriculture, forestry and fishing",
    "C": "Manufacturing",
    "F": "Construction",
    "G": "Wholesale and retail trade",
    "H": "Transportation and storage",
    "I": "Accommodation and food service",
    "J": "Information and communication",
    "K": "Financial and insurance activities",
    "M": "Professional, scientific and technical activities",
    "O": "Public administration and defence",
    "P": "Education",
    "Q": "Human health and social work",
    "R": "Arts, entertainment and recreation",
    "S": "Other service activities",
}

PAPER_OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "A": ("farmer", "woodcutter", "fisherman", "horticulturist"),
    "J": ("software engineer", "cybersecurity specialist", "data scientist",
          "telecommunications technician"),
    "K": ("investment analyst", "actuary", "insurance claims adjuster", "financial advisor"),
    "P": ("primary school teacher", "university professor", "vocational trainer",
          "special education teacher"),
    "Q": ("doctor", "nurse", "physical therapist", "psychologist"),
    "R": ("actor", "musician", "artist", "writer"),
}
"""The first paper's 24 occupations, four per sector."""

MORE_OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "A": ("gardener", "fisher", "forester"),
    "J": ("programmer", "developer", "web developer", "it technician"),
    "K": ("banker", "bank teller", "insurance agent", "stockbroker"),
    "P": ("teacher", "lecturer", "professor", "tutor", "teaching assistant"),
    "Q": ("paramedic", "midwife", "pharmacist", "dentist", "carer", "social worker"),
    "R": ("singer", "dancer", "painter", "photographer", "author"),
    "C": ("factory worker", "machinist", "welder"),
    "F": ("electrician", "plumber", "carpenter", "construction worker"),
    "G": ("shop assistant", "store manager", "sales representative"),
    "H": ("truck driver", "bus driver", "pilot", "courier"),
    "I": ("chef", "waiter", "hotel receptionist"),
    "M": ("lawyer", "accountant", "architect", "engineer"),
    "O": ("police officer", "firefighter", "civil servant", "soldier"),
    "S": ("hairdresser", "mechanic", "cleaner"),
}

OCCUPATION_SECTOR: dict[str, str] = {
    occ: sector
    for table in (PAPER_OCCUPATIONS, MORE_OCCUPATIONS)
    for sector, occupations in table.items()
    for occ in occupations
}


def sector_of(occupation: str | None) -> str | None:
    """ISIC section of a known occupation (case-insensitive), else None."""
    if not occupation:
        return None
    return OCCUPATION_SECTOR.get(occupation.strip().lower())


@dataclass(slots=True)
class SectorTracker:
    """The call's current sector estimate; metadata wins over inference."""

    threshold: float = 0.6
    guess: SectorGuess = field(
        default_factory=lambda: SectorGuess(sector=None, confidence=0.0, source="none")
    )

    @classmethod
    def from_metadata(
        cls, occupation: str | None, sector: str | None, threshold: float = 0.6
    ) -> SectorTracker:
        sector = sector if sector in SECTORS else sector_of(occupation)
        if sector is None:
            return cls(threshold)
        return cls(threshold, SectorGuess(sector=sector, confidence=1.0, source="metadata"))

    def observe(self, sector: str | None, confidence: float) -> SectorGuess:
        """New evidence from the latest caller line. Agreeing evidence accumulates
        (1 - (1-a)(1-b)); contradicting evidence replaces a weaker guess."""
        if self.guess.source == "metadata" or sector not in SECTORS:
            return self.guess
        old = self.guess
        if sector == old.sector:
            confidence = 1 - (1 - old.confidence) * (1 - confidence)
        elif confidence < old.confidence:
            return old
        self.guess = SectorGuess(sector=sector, confidence=round(confidence, 3), source="inferred")
        return self.guess

    @property
    def applies(self) -> bool:
        """Confident enough to condition the strategy on the sector."""
        return self.guess.sector is not None and self.guess.confidence >= self.threshold


_WORKPLACE_HINTS: dict[str, tuple[str, ...]] = {
    "A": ("farm", "ranch", "orchard", "fishing boat", "forest"),
    "F": ("building site", "construction site"),
    "H": ("trucking", "warehouse", "airline", "delivery"),
    "I": ("restaurant", "hotel", "cafe", "bar "),
    "J": ("software", "tech company", "startup", "it department", "telecom"),
    "K": ("bank", "insurance company", "investment firm", "accounting firm"),
    "O": ("police", "fire station", "army", "city council", "government"),
    "P": ("school", "university", "college", "classroom"),
    "Q": ("hospital", "clinic", "care home", "surgery", "patients"),
    "R": ("theatre", "theater", "band", "studio", "gallery"),
}
_SELF = re.compile(
    r"\b(i'?m|i am|i work as|i'?ve been|i have been|my job is|i do)\s+(an?\s+)?"
    r"(?P<what>[a-z][a-z -]{2,40})",
    re.I,
)


_WORK_TALK = re.compile(
    r"\b(work|job|career|profession|employ|i'?m an? |i am an? |i do |for a living|shift|boss|"
    r"colleague|office|business)", re.I)


def talks_about_work(text: str) -> bool:
    """Whether a caller line is about their work at all (gates an LLM thought's sector)."""
    return bool(_WORK_TALK.search(text))


LLM_SECTOR_WEIGHT = 0.4
"""An LLM thought's sector: weak evidence (alone it never reaches a 0.6 threshold)."""


def thought_evidence(sector: str, text: str, probability: float | None = None
                     ) -> tuple[str, float] | None:
    """A thought's sector for the caller's line ``text`` as evidence for the tracker.

    ``probability``: the learned head's own (calibrated) probability for the sector it
    read; its "?" class, trained on small talk, hobbies, places and other people's jobs,
    is its gate. Also asking ``talks_about_work`` cut the held-out job lines read right
    from 176 to 115 of 203, with no fewer false sectors on held-out turns without one
    (docs/thought.md). None: an LLM's thought, a fixed weak weight, on lines about work
    only."""
    if sector not in SECTORS:
        return None
    if probability is not None:
        return sector, probability
    return (sector, LLM_SECTOR_WEIGHT) if talks_about_work(text) else None


_OCCUPATIONS = "|".join(
    re.escape(o) for o in sorted(OCCUPATION_SECTOR, key=len, reverse=True))  # longest first
_NAMED_AT_START = re.compile(rf"(?P<occ>{_OCCUPATIONS})s?\b")
_NAMED_ANYWHERE = re.compile(rf"\b(?P<occ>{_OCCUPATIONS})s?\b")


def infer_sector(text: str) -> tuple[str, float] | None:
    """(sector, confidence) from what a caller said about their work, if anything.

    A named occupation ("I'm a nurse") is strong evidence; a workplace ("at the
    hospital") weaker. The LLM's own reading adds to this in the agent."""
    lowered = text.lower()
    for m in _SELF.finditer(lowered):
        if named := _NAMED_AT_START.match(m.group("what")):
            return OCCUPATION_SECTOR[named.group("occ")], 0.9
    if "work" in lowered and (named := _NAMED_ANYWHERE.search(lowered)):
        return OCCUPATION_SECTOR[named.group("occ")], 0.7
    for sector, hints in _WORKPLACE_HINTS.items():
        if any(h in lowered for h in hints) and re.search(r"\bwork|\bjob\b", lowered):
            return sector, 0.6
    return None
