"""Persona sampling: reproducible, matches the spec's priors (χ²), validated specs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from scipy.stats import chisquare

from agent.occupation import OCCUPATION_SECTOR, PAPER_OCCUPATIONS
from models.errors import ConfigError
from simulator.persona import (
    MBTI_TYPES,
    ZODIAC_SIGNS,
    PersonaSampler,
    age_bucket,
    expected_counts,
    load_personas,
    load_spec,
)

SPEC = load_spec("insurance")
N = 5000


@pytest.fixture(scope="module")
def sample() -> list:
    return PersonaSampler(SPEC, seed=11).sample(N)


@pytest.mark.parametrize("name", [n for n, a in SPEC.attributes.items() if a.type != "uniform_int"])
def test_sampled_attribute_matches_spec_priors_chi_square(sample: list, name: str) -> None:
    for condition, observed, expected in expected_counts(SPEC, name, sample):
        keys = [k for k in expected if expected[k] > 0]
        assert sum(observed[k] for k in observed if k not in keys) == 0, (
            f"{name} | {condition}: a zero-probability value was sampled")
        if len(keys) < 2:
            continue
        obs = [observed[k] for k in keys]
        exp = [expected[k] for k in keys]
        result = chisquare(obs, exp)
        assert result.pvalue > 1e-3, f"{name} | {condition!r}: p={result.pvalue:.2g} {obs} {exp}"


def test_exact_age_is_uniform_within_its_range(sample: list) -> None:
    for age_range in {p.demographics["age_range"] for p in sample}:
        lo, hi = map(int, str(age_range).split("-"))
        ages = Counter(p.age for p in sample if p.demographics["age_range"] == age_range)
        assert set(ages) <= set(range(lo, hi + 1))
        counts = [ages.get(a, 0) for a in range(lo, hi + 1)]
        assert chisquare(counts).pvalue > 1e-3, (age_range, counts)


def test_chi_square_rejects_a_sampler_that_ignores_the_priors(sample: list) -> None:
    # The test above can fail: uniform health statuses are rejected against the spec.
    observed = Counter(p.business["health_status"] for p in sample)
    cands = SPEC.attributes["health_status"].distribution()
    uniform = [N / len(cands)] * len(cands)
    assert chisquare(uniform, [c.p * N for c in cands]).pvalue < 1e-6
    assert chisquare([observed[str(c.value)] for c in cands],
                     [c.p * N for c in cands]).pvalue > 1e-3


def test_same_seed_same_personas_different_seed_different() -> None:
    a = PersonaSampler(SPEC, 3).sample(50)
    assert a == PersonaSampler(SPEC, 3).sample(50)
    assert a != PersonaSampler(SPEC, 4).sample(50)
    assert PersonaSampler(SPEC, 3).one(17) == a[17]


def test_persona_has_sector_of_its_occupation_and_valid_signifiers(sample: list) -> None:
    for p in sample[:500]:
        assert OCCUPATION_SECTOR[p.occupation] == p.sector
        assert p.mbti in MBTI_TYPES and p.zodiac in ZODIAC_SIGNS
        assert isinstance(p.business["purchased_insurance_before"], bool)
        assert p.age_bucket == age_bucket(p.age)


def test_paper_grid_is_24_occupations_by_20_settings() -> None:
    grid = PersonaSampler(SPEC, 0).paper_grid()
    assert len(grid) == 480 and len({p.id for p in grid}) == 480
    by_occ = Counter(p.occupation for p in grid)
    paper = {o for occs in PAPER_OCCUPATIONS.values() for o in occs}
    assert set(by_occ) == paper and set(by_occ.values()) == {20}
    for occ in paper:
        settings = {(p.gender, p.age_bucket) for p in grid if p.occupation == occ}
        assert len(settings) >= 7  # gender x 4 age buckets, nearly all present
    assert {p.mbti[0] for p in grid} == {"E", "I"}
    assert all(p.age >= 18 for p in grid)


def test_caller_profile_can_withhold_the_occupation() -> None:
    p = PersonaSampler(SPEC, 0).one(0)
    shared = p.caller_profile()
    assert shared.occupation == p.occupation and shared.sector == p.sector
    hidden = p.caller_profile(share_occupation=False)
    assert hidden.occupation is None and hidden.sector is None
    assert hidden.attributes["groups"]["sector"] == p.sector  # kept for analysis only


def test_profile_text_follows_mads_basic_information_layout() -> None:
    p = PersonaSampler(SPEC, 0).one(1)
    text = p.profile_text()
    assert text.startswith("## Basic Information")
    assert f"- **Age**: {p.age}" in text and "- **Industry**: " in text
    assert "Purchased insurance before" in p.business_text()


def _write_spec(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads((Path("simulator/specs/insurance.json")).read_text())
    mutate(data)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["business"]["health_status"]["candidates"][0].update(p=0.5),
     "probabilities sum to"),
    (lambda d: d["demographics"].pop("occupation"), "must define ['occupation']"),
    (lambda d: d["business"].update(colour={"type": "categorical", "candidates": ["red"],
                                            "weight": 2}), "Extra inputs"),
    (lambda d: d["demographics"]["marital_status"]["tables"].pop("18-24"),
     "tables must cover exactly"),
    (lambda d: d["demographics"]["occupation"]["candidates"][0].update(value="astronaut"),
     "no known ISIC sector"),
    (lambda d: d["business"]["purchased_insurance_before"].update(prior={"true": 0.5}),
     "boolean needs"),
])
def test_bad_spec_is_refused_with_a_clear_message(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"persona spec .* is invalid") as info:
        load_spec(str(_write_spec(tmp_path, mutate)))
    assert message in str(info.value)


def test_unknown_spec_name_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError, match="built in: insurance"):
        load_spec("nope")


def test_personas_round_trip_through_json_lines(tmp_path: Path) -> None:
    personas = PersonaSampler(SPEC, 5).sample(10)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(p.model_dump_json() + "\n" for p in personas))
    assert load_personas(path) == personas
    path.write_text('{"id": "x"}\n')
    with pytest.raises(ConfigError, match=r"p\.jsonl:1: not a persona"):
        load_personas(path)
