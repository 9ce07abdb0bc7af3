"""Occupations and their ISIC sectors, and the per-call sector estimate.

The sector is what the strategy table is keyed by. It comes from caller metadata when
given; otherwise it is inferred from what the caller says (by the agent's thought step,
with a confidence) and applied only once the confidence passes a threshold.
"""

from __future__ import annotations

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
        """A new inference from the latest caller line; keeps the most confident one."""
        if self.guess.source == "metadata" or sector not in SECTORS:
            return self.guess
        if sector == self.guess.sector or confidence >= self.guess.confidence:
            self.guess = SectorGuess(sector=sector, confidence=confidence, source="inferred")
        return self.guess

    @property
    def applies(self) -> bool:
        """Confident enough to condition the strategy on the sector."""
        return self.guess.sector is not None and self.guess.confidence >= self.threshold
