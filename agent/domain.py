"""Domain packs as data: the products (intents) an agent sells and their fact sheets.

The product sheet is the only source of facts the agent may state. Every figure on it is
a typed fact (product, attribute, values, unit, spoken wording) that the agent names by
reference — ``{critical_illness.premium}`` — and expands from the sheet, so a spoken
figure is always the sheet's figure for the product and attribute it is attached to.
The claim checker reads the same facts.
"""

from __future__ import annotations

import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from agent.dialogue import Record
from agent.numbers import UNITS, Figure, figures_in, spoken_number
from models.errors import ConfigError

BUILTIN = Path(__file__).parent / "domains"
_ID = r"^[A-Za-z][A-Za-z0-9_]*$"
_UNIT_WORDS = {
    "money": "dollars", "money_month": "dollars a month", "money_day": "dollars a day",
    "money_week": "dollars a week", "money_year": "dollars a year",
    "money_claim": "dollars a claim", "percent": "percent", "days": "days", "weeks": "weeks",
    "months": "months", "years": "years", "age": "", "count": "",
}


_LABELS = {"premium": "Price per month", "cover_amount": "Lump sum paid out"}
"""How the agent's sheet names an attribute (a clear name helps a small model pick the
right reference; the reference already says the unit)."""


class Fact(Record):
    """One figure of a product sheet."""

    attribute: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """premium, cover_amount, waiting_period, term, age, benefit, ..."""
    form: Literal["range", "options", "value", "max"]
    values: list[float] = Field(min_length=1)
    unit: str
    say: str = ""
    """The spoken wording; by default made from the form, the values and the unit."""
    noun: str = ""
    """What the values count when the unit does not say it ("listed conditions")."""

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit not in UNITS or not unit:
            raise ValueError(f"unknown unit {unit!r} (one of {', '.join(u for u in UNITS if u)})")
        return unit

    @model_validator(mode="after")
    def _shape(self) -> Fact:
        n = len(self.values)
        if self.form == "range" and (n != 2 or not 0 <= self.values[0] <= self.values[1]):
            raise ValueError("a range has two values, low then high, low >= 0")
        if self.form == "options" and n < 2:
            raise ValueError("options need at least two values")
        if self.form in ("value", "max") and n != 1:
            raise ValueError(f"a {self.form} fact has exactly one value")
        if self.say:
            said = {f.value for f in figures_in(self.say)}
            if said != set(self.values) and not (not said and set(self.values) == {0}):
                raise ValueError(f"'say' states {sorted(said)}, not the values {self.values}")
        return self

    def spoken(self) -> str:
        if self.say:
            return self.say
        words = [spoken_number(v) for v in self.values]
        unit = _UNIT_WORDS[self.unit] or self.noun
        tail = f" {unit}" if unit else ""
        if self.unit == "age":
            return {"range": f"from age {words[0]} to {words[-1]}",
                    "max": f"up to age {words[0]}"}.get(self.form, f"age {', '.join(words)}")
        if self.form == "range":
            return f"from {words[0]} to {words[1]}{tail}"
        if self.form == "options":
            return f"{', '.join(words[:-1])} or {words[-1]}{tail}"
        if self.form == "max":
            return f"up to {words[0]}{tail}"
        return f"{words[0]}{tail}"


class Product(Record):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    covers: list[str] = Field(default_factory=list)
    exclusions: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    """Statements without figures ("Premiums stay fixed for the whole term.")."""
    facts: list[Fact] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    """Other ways people say the product ("life cover"), to spot it in speech; not
    shown to the agent."""

    @model_validator(mode="after")
    def _checks(self) -> Product:
        attrs = [f.attribute for f in self.facts]
        if dup := sorted({a for a in attrs if attrs.count(a) > 1}):
            raise ValueError(f"facts: attribute {dup[0]!r} appears twice")
        if clash := {"covers", "exclusions"} & set(attrs):
            raise ValueError(f"facts: {sorted(clash)[0]!r} is the list field, not a figure")
        for field in ("summary", "notes"):
            text = " ".join(getattr(self, field)) if field == "notes" else self.summary
            if found := figures_in(text):
                raise ValueError(
                    f"{field}: figure {found[0].text!r} must be a typed fact in 'facts'")
        return self

    def fact(self, attribute: str) -> Fact | None:
        return next((f for f in self.facts if f.attribute == attribute), None)

    @property
    def refs(self) -> dict[str, str]:
        """Fact references this product offers → their spoken wording."""
        out = {f"{self.id}.{f.attribute}": f.spoken() for f in self.facts}
        for field in ("covers", "exclusions"):
            items: list[str] = getattr(self, field)
            if items:
                out[f"{self.id}.{field}"] = _spoken_list(items)
        return out

    @cached_property
    def figures(self) -> tuple[Figure, ...]:
        """Every figure this product's sheet states, with its unit (typed facts, and the
        figures inside covers and exclusions, such as "the first 2 years")."""
        typed = tuple(Figure(v, f.unit, 0, 0, f.attribute) for f in self.facts for v in f.values)
        return typed + tuple(figures_in(". ".join([*self.covers, *self.exclusions])))

    def sheet(self) -> str:
        """The sheet as the agent sees it: one line, every figure as the reference the
        agent writes to say it (the values themselves are not shown: the response
        grammar lets the model name a figure, never type one)."""
        parts = [f"{self.id}: {self.name}. {self.summary}"]
        for field, verb in (("covers", "Covers"), ("exclusions", "Excludes")):
            items: list[str] = getattr(self, field)
            if items:
                said = "; ".join(items) if not figures_in(" ".join(items)) else ""
                parts.append(f"{verb} {said or '{' + self.id + '.' + field + '}'}.")
        parts += [f"{_LABELS.get(f.attribute, f.attribute.replace('_', ' ').capitalize())} "
                  f"{{{self.id}.{f.attribute}}}." for f in self.facts]
        parts.extend(self.notes)
        return "- " + " ".join(parts)


def _spoken_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class DomainPack(Record):
    name: str
    company: str
    description: str
    currency: str = "USD"
    products: list[Product] = Field(min_length=1)
    terms: dict[str, list[str]] = Field(default_factory=dict)
    """A sheet word → other words people use for it ("alcohol": "a few drinks"), so the
    claim checker can read a clause in the caller's words against the sheet."""

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
        return "\n".join(p.sheet() for p in self.products)

    @cached_property
    def refs(self) -> dict[str, str]:
        """Every fact reference of the pack → its spoken wording."""
        return {ref: said for p in self.products for ref, said in p.refs.items()}

    def expand(self, text: str) -> str:
        """``text`` with each ``{product.attribute}`` replaced by the sheet's wording;
        KeyError for a reference the sheet does not have."""
        return _REF.sub(lambda m: self.refs[m.group(1)], text)

    def mentioned(self, text: str, *, by_id: bool = True) -> list[str]:
        """Products a line names (by name, alias or, with ``by_id``, id), in order of
        first mention."""
        return list(dict.fromkeys(intent for _, intent in self.mentions(text, by_id=by_id)))

    def mentions(self, text: str, *, by_id: bool = True) -> list[tuple[int, str]]:
        """Every place a product is named: (character offset, product id), in order.
        Without ``by_id`` a bare id that is an ordinary word ("home", "travel") does
        not count: the claim checker must not take "take-home pay" for Home Insurance."""
        patterns = self._name_patterns if by_id else self._strict_patterns
        found = [(m.start(), intent) for intent, pattern in patterns.items()
                 for m in pattern.finditer(text)]
        return sorted(found)

    @cached_property
    def names(self) -> re.Pattern[str]:
        """Any product's name or alias."""
        return re.compile("|".join(p.pattern for p in self._strict_patterns.values()), re.I)

    @cached_property
    def _name_patterns(self) -> dict[str, re.Pattern[str]]:
        return {p.id: _any_of([p.name, p.id.replace("_", " "), *p.aliases])
                for p in self.products}

    @cached_property
    def _strict_patterns(self) -> dict[str, re.Pattern[str]]:
        return {p.id: _any_of([p.name, *p.aliases]) for p in self.products}

    @cached_property
    def name_words(self) -> dict[str, frozenset[str]]:
        """Product id → the words of its name and id that are not fillers ("travel" of
        Travel Insurance; "term", "life" of Term Life Insurance)."""
        return {p.id: frozenset(w for t in (p.name, p.id.replace("_", " "))
                                for w in re.findall(r"[a-z]+", t.lower())) - NAME_FILLERS
                for p in self.products}

    @cached_property
    def bare_names(self) -> dict[str, frozenset[str]]:
        """Product id → the words that name it said alone: its one own word ("travel"),
        else those words of its name no other product's entry uses ("life" of Term Life
        Insurance, not "illness", which medical and income protection speak of)."""
        out = {}
        for p in self.products:
            own = set(re.findall(r"[a-z]+", p.name.lower())) - NAME_FILLERS
            if len(own) == 1:
                out[p.id] = frozenset(own | ({p.id} if p.id.isalpha() else set()))
                continue
            others = {w for q in self.products if q.id != p.id
                      for t in [q.name, *q.aliases, q.summary, *q.covers, *q.exclusions,
                                *q.notes, *(f.spoken() for f in q.facts)]
                      for w in re.findall(r"[a-z]+", t.lower())}
            out[p.id] = frozenset(own - others)
        return out

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Lower-case words of the products' names, aliases and notes: what may stand
        before "insurance" or "cover" without naming a product the pack lacks."""
        words: set[str] = set()
        for p in self.products:
            for text in [p.name, p.id.replace("_", " "), *p.aliases, *p.notes]:
                words.update(re.findall(r"[a-z][a-z-]*", text.lower()))
        return frozenset(words)


NAME_FILLERS = frozenset("insurance cover policy plan personal private protection".split())
"""Words of a product's name that name no product alone."""


def _any_of(names: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.I)


_REF = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*\.[a-z][a-z0-9_]*)\}")


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
        raise ConfigError(f"domain pack {path} is invalid: {_where(exc, data)}") from None


def _where(exc: ValidationError, data: dict[str, Any]) -> str:
    """Pydantic's errors with the product named by id: "product 'medical', field
    'facts[1].values': ..."."""
    lines = []
    found = data.get("products")
    products: list[Any] = found if isinstance(found, list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "products" and isinstance(loc[1], int):
            raw = products[loc[1]] if loc[1] < len(products) else {}
            pid = raw.get("id", f"#{loc[1] + 1}") if isinstance(raw, dict) else f"#{loc[1] + 1}"
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:])
            lines.append(f"product {pid!r}, field {field.lstrip('.') or '(whole)'!r}: {err['msg']}")
        else:
            lines.append(f"field {'.'.join(map(str, loc)) or '(whole)'!r}: {err['msg']}")
    return "; ".join(lines)
