"""Domain packs as data: the products (intents) an agent sells and their fact sheets.

The product sheet is the only source of facts the agent may state; the compliance guard
checks replies against it.
"""

from __future__ import annotations

import re
import tomllib
from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from agent.dialogue import Record
from models.errors import ConfigError

BUILTIN = Path(__file__).parent / "domains"
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


class Product(Record):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    name: str
    summary: str
    covers: list[str] = Field(default_factory=list)
    exclusions: list[str] = Field(default_factory=list)
    premium_monthly: tuple[float, float] | None = None
    waiting_period_days: int | None = Field(None, ge=0)
    facts: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    """Other ways people say the product ("life cover"), to spot it in speech; not
    shown to the agent."""

    @model_validator(mode="after")
    def _premium_range(self) -> Product:
        p = self.premium_monthly
        if p is not None and not 0 <= p[0] <= p[1]:
            raise ValueError(f"premium_monthly of {self.id} must be [low, high], 0 <= low <= high")
        return self

    def sheet(self, currency: str) -> str:
        """The product sheet as the agent sees it: one compact line (prompt tokens are
        evaluated on every call)."""
        parts = [f"{self.id}: {self.name}. {self.summary}"]
        if self.covers:
            parts.append("Covers " + ", ".join(self.covers) + ".")
        if self.exclusions:
            parts.append("Excludes " + ", ".join(self.exclusions) + ".")
        if self.premium_monthly is not None:
            lo, hi = self.premium_monthly
            parts.append(f"Premiums {lo:g} to {hi:g} {currency} a month.")
        if self.waiting_period_days:
            parts.append(f"Waiting period {self.waiting_period_days} days.")
        parts.extend(self.facts)
        return "- " + " ".join(parts)


class DomainPack(Record):
    name: str
    company: str
    description: str
    currency: str = "USD"
    products: list[Product] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> DomainPack:
        ids = [p.id for p in self.products]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate product ids in domain {self.name!r}")
        return self

    @property
    def intent_ids(self) -> list[str]:
        return [p.id for p in self.products]

    def product(self, intent: str) -> Product:
        for p in self.products:
            if p.id == intent:
                return p
        raise KeyError(f"domain {self.name!r} has no product {intent!r}")

    def sheet(self) -> str:
        return "\n".join(p.sheet(self.currency) for p in self.products)

    def mentioned(self, text: str) -> list[str]:
        """Products a line names (by name, id or alias), in order of first mention."""
        found = [(m.start(), intent) for intent, pattern in self._name_patterns.items()
                 if (m := pattern.search(text))]
        return [intent for _, intent in sorted(found)]

    @cached_property
    def _name_patterns(self) -> dict[str, re.Pattern[str]]:
        return {
            p.id: re.compile(
                r"\b(" + "|".join(re.escape(n) for n in
                                  [p.name, p.id.replace("_", " "), *p.aliases]) + r")\b",
                re.I)
            for p in self.products
        }

    @cached_property
    def allowed_numbers(self) -> frozenset[str]:
        """Every number written anywhere in the sheets (normalized: no commas)."""
        return frozenset(normalize_number(n) for n in _NUMBER.findall(self.sheet()))

    @cached_property
    def allowed_by_kind(self) -> dict[str, frozenset[str]]:
        """Numbers by what they measure: "percent", "money" or a plain count ("number"):
        a figure the sheets give only as money ("500,000 dollars") cannot back a plain
        claim ("500,000 people")."""
        return {
            kind: frozenset(
                normalize_number(n)
                for clause in re.split(r"[.;]\s", self.sheet())
                if number_kind(clause) == kind
                for n in _NUMBER.findall(clause)
            )
            for kind in ("percent", "money", "number")
        }


_PERCENT = re.compile(r"%|\bper ?cent", re.I)
_MONEY = re.compile(r"\$|\bUSD\b|\bdollars?\b|\bbucks\b", re.I)


def number_kind(clause: str) -> str:
    """What the numbers in a clause measure: "percent", "money" or plain "number"."""
    if _PERCENT.search(clause):
        return "percent"
    if _MONEY.search(clause):
        return "money"
    return "number"


def normalize_number(text: str) -> str:
    value = text.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


def load_domain(name_or_path: str) -> DomainPack:
    """A built-in pack by name (``insurance``, ``sgd``) or a TOML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILTIN / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.toml")))
        raise ConfigError(f"domain pack {name_or_path!r} not found (built in: {known})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"domain pack {path} is not valid TOML: {exc}") from None
    try:
        return DomainPack.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"domain pack {path} is invalid: {exc}") from None
