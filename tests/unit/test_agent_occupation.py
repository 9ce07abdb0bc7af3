"""Occupations, ISIC sectors, and the per-call sector estimate."""

from __future__ import annotations

import pytest

from agent.dialogue import SectorGuess
from agent.occupation import (
    PAPER_OCCUPATIONS,
    SECTORS,
    SectorTracker,
    infer_sector,
    sector_of,
    thought_evidence,
)

# The first paper's 24 occupations, written out so the table cannot drift unnoticed.
PAPER = {
    "farmer": "A", "woodcutter": "A", "fisherman": "A", "horticulturist": "A",
    "software engineer": "J", "cybersecurity specialist": "J", "data scientist": "J",
    "telecommunications technician": "J",
    "investment analyst": "K", "actuary": "K", "insurance claims adjuster": "K",
    "financial advisor": "K",
    "primary school teacher": "P", "university professor": "P", "vocational trainer": "P",
    "special education teacher": "P",
    "doctor": "Q", "nurse": "Q", "physical therapist": "Q", "psychologist": "Q",
    "actor": "R", "musician": "R", "artist": "R", "writer": "R",
}  # fmt: skip


def test_paper_table_has_24_occupations_four_per_sector() -> None:
    assert len(PAPER) == 24
    assert {occ: s for s, occs in PAPER_OCCUPATIONS.items() for occ in occs} == PAPER
    assert all(len(occs) == 4 for occs in PAPER_OCCUPATIONS.values())
    assert set(PAPER_OCCUPATIONS) == {"A", "J", "K", "P", "Q", "R"}


@pytest.mark.parametrize(("occupation", "sector"), sorted(PAPER.items()))
def test_sector_of_maps_each_paper_occupation_to_its_sector(occupation: str, sector: str) -> None:
    assert sector_of(occupation) == sector


def test_sector_of_ignores_case_and_surrounding_space() -> None:
    assert sector_of("  Software Engineer ") == "J"


@pytest.mark.parametrize("occupation", ["astronaut", "", None, "nurses aide"])
def test_sector_of_unknown_occupation_is_none(occupation: str | None) -> None:
    assert sector_of(occupation) is None


def test_every_mapped_sector_is_a_known_isic_section() -> None:
    assert set(PAPER.values()) <= set(SECTORS)


def test_from_metadata_by_occupation() -> None:
    tracker = SectorTracker.from_metadata("nurse", None)
    assert tracker.guess == SectorGuess(sector="Q", confidence=1.0, source="metadata")
    assert tracker.applies


def test_from_metadata_by_sector_letter() -> None:
    tracker = SectorTracker.from_metadata(None, "K")
    assert tracker.guess == SectorGuess(sector="K", confidence=1.0, source="metadata")


def test_from_metadata_sector_letter_wins_over_occupation() -> None:
    assert SectorTracker.from_metadata("plumber", "K").guess.sector == "K"


def test_from_metadata_unknown_sector_letter_falls_back_to_occupation() -> None:
    assert SectorTracker.from_metadata("plumber", "Z").guess.sector == "F"


def test_from_metadata_without_anything_known_starts_empty() -> None:
    tracker = SectorTracker.from_metadata("astronaut", None, threshold=0.7)
    assert tracker.guess == SectorGuess(sector=None, confidence=0.0, source="none")
    assert tracker.threshold == 0.7
    assert not tracker.applies


def test_metadata_is_never_overridden_by_inference() -> None:
    tracker = SectorTracker.from_metadata("nurse", None)
    assert tracker.observe("J", 1.0).sector == "Q"
    assert tracker.observe("Q", 0.2).confidence == 1.0
    assert tracker.guess.source == "metadata"


def test_agreeing_evidence_accumulates() -> None:
    tracker = SectorTracker()
    assert tracker.observe("Q", 0.4) == SectorGuess(sector="Q", confidence=0.4, source="inferred")
    assert tracker.observe("Q", 0.4).confidence == pytest.approx(0.64)


def test_weaker_contradicting_guess_does_not_replace_a_stronger_one() -> None:
    tracker = SectorTracker()
    tracker.observe("Q", 0.7)
    assert tracker.observe("J", 0.5) == SectorGuess(sector="Q", confidence=0.7, source="inferred")


def test_stronger_contradicting_guess_replaces_a_weaker_one() -> None:
    tracker = SectorTracker()
    tracker.observe("Q", 0.4)
    assert tracker.observe("J", 0.9) == SectorGuess(sector="J", confidence=0.9, source="inferred")


@pytest.mark.parametrize("sector", [None, "Z", "?"])
def test_unknown_or_missing_sector_evidence_is_ignored(sector: str | None) -> None:
    tracker = SectorTracker()
    tracker.observe("Q", 0.5)
    assert tracker.observe(sector, 1.0) == SectorGuess(
        sector="Q", confidence=0.5, source="inferred"
    )


def test_applies_once_confidence_reaches_the_threshold() -> None:
    tracker = SectorTracker(threshold=0.6)
    assert not tracker.applies
    tracker.observe("Q", 0.59)
    assert not tracker.applies
    tracker = SectorTracker(threshold=0.6)
    tracker.observe("Q", 0.6)
    assert tracker.applies


def test_two_weak_agreeing_hints_cross_the_threshold() -> None:
    tracker = SectorTracker(threshold=0.6)
    tracker.observe("P", 0.4)
    assert not tracker.applies
    tracker.observe("P", 0.4)
    assert tracker.applies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm a nurse", ("Q", 0.9)),
        ("I work as a software engineer", ("J", 0.9)),
        ("I'm a Software Engineer at a startup", ("J", 0.9)),  # longest name wins
        ("I'm an engineer", ("M", 0.9)),
        ("I've been a farmer for years", ("A", 0.9)),
        ("Im an actuary", ("K", 0.9)),
        ("My job is teaching, I work with nurses", ("Q", 0.7)),
        ("I teach at a school, it's my job", ("P", 0.6)),
        ("I work at the hospital", ("Q", 0.6)),
        ("my husband is a doctor", None),
        ("I am tired", None),
        ("I love the theatre", None),  # a workplace without work or job
    ],
)
def test_infer_sector_from_what_the_caller_says(
    text: str, expected: tuple[str, float] | None
) -> None:
    assert infer_sector(text) == expected


def test_the_learned_heads_sector_counts_at_its_own_probability_on_any_line() -> None:
    # The head's "?" class is its gate; talks_about_work is not asked.
    assert thought_evidence("A", "we've got two hundred ewes on the hill", 0.83) == ("A", 0.83)
    assert thought_evidence("?", "I'm a nurse", 0.99) is None


def test_an_llm_thoughts_sector_is_weak_and_only_on_lines_about_work() -> None:
    assert thought_evidence("Q", "I'm a nurse on nights") == ("Q", 0.4)
    assert thought_evidence("Q", "my mum was in hospital") is None
    assert thought_evidence("Z", "I work as a zookeeper") is None
