"""Personas: seeded, reproducible samples of demographics, occupation, personality and
business attributes from a spec file in the MADS format.

A spec is three groups of attributes (``demographics``, ``personality``, ``business``).
Each attribute is, as in MADS appendix A.4:

- ``{"type": "categorical", "candidates": [{"value": ..., "p": ...}, ...]}`` — or
  plain values for a uniform choice; with ``"given": "other"`` and ``"tables"`` the
  candidates depend on an earlier attribute's value (marital status given age range);
- ``{"type": "boolean", "candidates": [true, false], "prior": {"true": p, "false": q}}``;
- ``{"type": "uniform_int", "within": "age_range"}`` — an integer drawn uniformly from
  the ``"lo-hi"`` range an earlier attribute took (the exact age).

``gender``, ``age_range``, ``age``, ``occupation``, ``mbti`` and ``zodiac`` are required;
the occupation's ISIC sector is derived, not sampled.
"""

from __future__ import annotations

import json
import random
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.dialogue import CallerProfile, Record
from agent.occupation import PAPER_OCCUPATIONS, SECTORS, sector_of
from models.errors import ConfigError, SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling

BUILTIN = Path(__file__).parent / "specs"
Value = str | int | bool
REQUIRED = ("gender", "age_range", "age", "occupation", "mbti", "zodiac")
MBTI_TYPES = tuple(
    a + b + c + d for a in "EI" for b in "SN" for c in "TF" for d in "JP"
)
ZODIAC_SIGNS = ("Aries", "Taurus", "Gemini", "Cancer", "Leo", "Virgo", "Libra", "Scorpio",
                "Sagittarius", "Capricorn", "Aquarius", "Pisces")
AGE_BUCKETS: dict[str, tuple[int, int]] = {
    "teen": (15, 19), "adult": (20, 44), "middle-age": (45, 64), "elderly": (65, 120),
}
"""The first paper's age buckets (its boundaries overlap at 45 and 65; ours do not)."""
_TOL = 1e-4


def age_bucket(age: int) -> str:
    for name, (lo, hi) in AGE_BUCKETS.items():
        if lo <= age <= hi:
            return name
    raise ValueError(f"age {age} is outside every bucket")


def _range(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not m or int(m.group(1)) > int(m.group(2)):
        raise ValueError(f"{text!r} is not a 'lo-hi' integer range")
    return int(m.group(1)), int(m.group(2))


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Value
    p: float = Field(ge=0, le=1)


def _candidates(raw: list[Candidate] | list[Value], where: str) -> list[Candidate]:
    if not raw:
        raise ValueError(f"{where}: no candidates")
    cands = [c if isinstance(c, Candidate) else Candidate(value=c, p=1 / len(raw)) for c in raw]
    total = sum(c.p for c in cands)
    if abs(total - 1) > _TOL:
        raise ValueError(f"{where}: probabilities sum to {total:.6f}, not 1")
    if len({str(c.value) for c in cands}) != len(cands):
        raise ValueError(f"{where}: duplicate values")
    return cands


class Attribute(BaseModel):
    """One attribute of the spec (see the module docstring for the three types)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["categorical", "boolean", "uniform_int"]
    candidates: list[Candidate] | list[Value] | None = None
    prior: dict[str, float] | None = None
    given: str | None = None
    tables: dict[str, list[Candidate] | list[Value]] | None = None
    within: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Attribute:
        if self.type == "uniform_int":
            if not self.within or self.candidates or self.tables or self.given:
                raise ValueError("uniform_int needs 'within' (and nothing else)")
        elif self.type == "boolean":
            if self.prior is None or set(self.prior) != {"true", "false"}:
                raise ValueError('boolean needs "prior": {"true": p, "false": q}')
            _candidates([Candidate(value=True, p=self.prior["true"]),
                         Candidate(value=False, p=self.prior["false"])], "boolean prior")
        elif self.given:
            if not self.tables or self.candidates:
                raise ValueError("a categorical with 'given' needs 'tables', not 'candidates'")
            for key, table in self.tables.items():
                _candidates(table, f"table {key!r}")
        else:
            if not self.candidates or self.tables:
                raise ValueError("categorical needs 'candidates'")
            _candidates(self.candidates, "candidates")
        return self

    def distribution(self, condition: Value | None = None) -> list[Candidate]:
        """The candidates and their probabilities (under ``condition`` when ``given``)."""
        if self.type == "boolean":
            assert self.prior is not None
            return [Candidate(value=True, p=self.prior["true"]),
                    Candidate(value=False, p=self.prior["false"])]
        if self.given:
            assert self.tables is not None
            return _candidates(self.tables[str(condition)], str(condition))
        assert self.candidates is not None
        return _candidates(self.candidates, "candidates")


class PersonaSpec(BaseModel):
    """Which attributes a persona has and how they are distributed."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    demographics: dict[str, Attribute]
    personality: dict[str, Attribute]
    business: dict[str, Attribute] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> PersonaSpec:
        seen: dict[str, Attribute] = {}
        for name, attr in self.attributes.items():
            if name in seen:
                raise ValueError(f"attribute {name!r} appears in two groups")
            parent_name = attr.given or attr.within
            if parent_name is not None:
                parent = seen.get(parent_name)
                if parent is None:
                    raise ValueError(f"{name!r} depends on {parent_name!r}, which must come first")
                values = {str(c.value) for c in parent.distribution()} if not parent.given else {
                    str(c.value) for t in (parent.tables or {}) for c in parent.distribution(t)}
                if attr.given and set(attr.tables or {}) != values:
                    raise ValueError(f"{name!r}: tables must cover exactly the values of "
                                     f"{parent_name!r}: {sorted(values)}")
                if attr.within:
                    for v in values:
                        _range(v)
            seen[name] = attr
        missing = [r for r in REQUIRED if r not in seen]
        if missing:
            raise ValueError(f"the spec must define {missing}")
        for c in self.attributes["occupation"].distribution():
            if sector_of(str(c.value)) is None:
                raise ValueError(f"occupation {c.value!r} has no known ISIC sector")
        return self

    @cached_property
    def attributes(self) -> dict[str, Attribute]:
        return {**self.demographics, **self.personality, **self.business}


def load_spec(name_or_path: str = "insurance") -> PersonaSpec:
    """A built-in spec by name (``insurance``) or a JSON file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILTIN / f"{name_or_path}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.json")))
        raise ConfigError(f"persona spec {name_or_path!r} not found (built in: {known})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"persona spec {path} is not valid JSON: {exc}") from None
    try:
        return PersonaSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"persona spec {path} is invalid: {exc}") from None


class Persona(Record):
    """One simulated customer."""

    id: str
    gender: str
    age: int
    occupation: str
    sector: str
    mbti: str
    zodiac: str
    demographics: dict[str, Value] = Field(default_factory=dict)
    """Every demographic and economic attribute, in spec order (incl. the core ones)."""
    personality: dict[str, Value] = Field(default_factory=dict)
    business: dict[str, Value] = Field(default_factory=dict)
    name: str | None = None
    paragraph: str | None = None
    """An LLM-written second-person description, when one was asked for."""

    @property
    def age_bucket(self) -> str:
        return age_bucket(self.age)

    @property
    def sector_name(self) -> str:
        return SECTORS[self.sector]

    def groups(self) -> dict[str, str]:
        """The attributes results are grouped by in reports and analyses."""
        return {"gender": self.gender, "age_bucket": self.age_bucket, "sector": self.sector,
                "occupation": self.occupation, "mbti": self.mbti,
                "mbti_ei": self.mbti[0], "zodiac": self.zodiac,
                **{k: str(v) for k, v in self.business.items()}}

    def caller_profile(self, *, share_occupation: bool = True) -> CallerProfile:
        """What the agent is told about this caller (the simulator keeps the rest)."""
        return CallerProfile(
            caller_id=self.id, name=self.name,
            occupation=self.occupation if share_occupation else None,
            sector=self.sector if share_occupation else None,
            age=self.age, gender=self.gender,
            attributes={"persona": self.model_dump(mode="json", exclude={"paragraph"}),
                        "groups": self.groups()},
        )

    def profile_text(self) -> str:
        """The ``{user_profile}`` block of the MADS user-agent prompt."""
        lines = ["## Basic Information"]
        for key, value in self.demographics.items():
            lines.append(f"- **{_label(key)}**: {value}")
        lines.append(f"- **Industry**: {self.sector_name}")
        if self.paragraph:
            lines.append(f"## About you\n{self.paragraph}")
        return "\n".join(lines)

    def business_text(self) -> str:
        return "\n".join(f"- **{_label(k)}**: {_yes_no(v)}" for k, v in self.business.items())


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _yes_no(value: Value) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


class PersonaSampler:
    """Draws personas from a spec; the same (spec, seed) always gives the same personas."""

    def __init__(self, spec: PersonaSpec, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed

    def sample(self, n: int, start: int = 0) -> list[Persona]:
        return [self.one(i) for i in range(start, start + n)]

    def one(self, index: int, fixed: dict[str, Value] | None = None) -> Persona:
        """Persona number ``index``; ``fixed`` pins some attributes (the rest are drawn
        given them)."""
        rng = random.Random(f"{self.spec.name}/{self.seed}/{index}")
        values: dict[str, Value] = {}
        for name, attr in self.spec.attributes.items():
            if fixed and name in fixed:
                values[name] = fixed[name]
            elif attr.type == "uniform_int":
                lo, hi = _range(str(values[attr.within or ""]))
                values[name] = rng.randint(lo, hi)
            else:
                cands = attr.distribution(values.get(attr.given) if attr.given else None)
                values[name] = rng.choices([c.value for c in cands], [c.p for c in cands])[0]
        return _persona(f"{self.spec.name}-{self.seed}-{index:05d}", values, self.spec)

    def paper_grid(self, per_occupation: int = 20) -> list[Persona]:
        """The first paper's design: each of its 24 occupations x ``per_occupation``
        settings of gender x age bucket x personality dimension (Extraversion,
        Introversion, Feeling), the rest of each persona drawn from the spec. Teens are
        18-19 (nobody younger buys insurance)."""
        ranges = [_range(str(c.value)) for c in self.spec.attributes["age_range"].distribution()]
        personas: list[Persona] = []
        for sector, occupations in PAPER_OCCUPATIONS.items():
            for occupation in occupations:
                rng = random.Random(f"grid/{self.spec.name}/{self.seed}/{occupation}")
                settings = [(g, b, d) for g in ("Male", "Female") for b in AGE_BUCKETS
                            for d in ("E", "I", "F")]
                rng.shuffle(settings)
                for k, (gender, bucket, dim) in enumerate(settings[:per_occupation]):
                    lo, hi = AGE_BUCKETS[bucket]
                    age = rng.randint(max(lo, 18), min(hi, max(h for _, h in ranges)))
                    age_range = next(f"{a}-{b}" for a, b in ranges if a <= age <= b)
                    mbti = rng.choice([t for t in MBTI_TYPES if dim in t])
                    persona = self.one(len(personas), {
                        "gender": gender, "age_range": age_range, "age": age,
                        "occupation": occupation, "mbti": mbti})
                    personas.append(persona.model_copy(update={
                        "id": f"grid-{self.seed}-{sector}-{occupation.replace(' ', '_')}-{k:02d}"}))
        return personas


def _persona(pid: str, values: dict[str, Value], spec: PersonaSpec) -> Persona:
    occupation = str(values["occupation"])
    sector = sector_of(occupation)
    if sector is None:
        raise ConfigError(f"occupation {occupation!r} has no known ISIC sector")
    return Persona(
        id=pid, gender=str(values["gender"]), age=int(values["age"]), occupation=occupation,
        sector=sector, mbti=str(values["mbti"]), zodiac=str(values["zodiac"]),
        demographics={k: values[k] for k in spec.demographics},
        personality={k: values[k] for k in spec.personality},
        business={k: values[k] for k in spec.business},
    )


class _Description(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"x-guidance": {"whitespace_flexible": False}}
    )
    name: str = Field(min_length=1, max_length=40)
    persona: str = Field(min_length=20, max_length=600)


_DESCRIBE = (
    "Write a one-paragraph persona of a person in the second person, starting "
    '"You\'re <first name>, a <age>-year-old ...". Use every fact given; add a believable '
    "daily routine and one worry about money or health. Three or four sentences. "
    'Reply with JSON {"name": first name, "persona": paragraph}.'
)


async def describe(persona: Persona, llm: LLM, *, temperature: float = 0.8) -> Persona:
    """The persona with an LLM-written name and paragraph (as in the first paper)."""
    facts = "\n".join(
        [f"{_label(k)}: {_yes_no(v)}" for k, v in persona.demographics.items()]
        + [f"Personality: {persona.mbti}, {persona.zodiac}"]
        + [f"{_label(k)}: {_yes_no(v)}" for k, v in persona.business.items()]
    )
    try:
        out = await llm.complete_json(
            [ChatMessage("system", _DESCRIBE), ChatMessage("user", facts)], _Description,
            Sampling(temperature=temperature, max_tokens=220),
        )
    except SalesvoiceError as exc:
        raise SalesvoiceError(f"could not describe persona {persona.id}: {exc}") from exc
    return persona.model_copy(update={"name": out.value.name.strip(),
                                      "paragraph": out.value.persona.strip()})


def load_personas(path: Path) -> list[Persona]:
    """Personas saved one JSON object per line (``salesvoice personas sample``)."""
    personas = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                personas.append(Persona.model_validate_json(line))
            except ValidationError as exc:
                raise ConfigError(f"{path}:{n}: not a persona: {exc}") from None
    return personas


def expected_counts(spec: PersonaSpec, name: str, personas: list[Persona],
                    ) -> list[tuple[str, dict[str, int], dict[str, float]]]:
    """Observed and expected counts of one attribute's values, per condition for a
    ``given`` attribute: [(condition, observed, expected)]. For the χ² test."""
    attr = spec.attributes[name]
    rows: list[dict[str, Any]] = [{**p.demographics, **p.personality, **p.business}
                                  for p in personas]
    conditions: list[Value | None] = [None]
    if attr.given:
        conditions = sorted({r[attr.given] for r in rows}, key=str)
    out = []
    for cond in conditions:
        subset = [r for r in rows if cond is None or r[attr.given or ""] == cond]
        cands = attr.distribution(cond)
        observed = {str(c.value): 0 for c in cands}
        for r in subset:
            observed[str(r[name])] += 1
        expected = {str(c.value): c.p * len(subset) for c in cands}
        out.append(("" if cond is None else str(cond), observed, expected))
    return out
