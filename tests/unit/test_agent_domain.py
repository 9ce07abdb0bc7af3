"""Domain packs: loading, validation, and the numbers the agent may state."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.domain import DomainPack, load_domain
from models.errors import ConfigError

PAPER_SGD_INTENTS = {
    "FindAttraction",
    "FindRestaurants",
    "FindMovie",
    "LookUpMusic",
    "SearchHotel",
    "FindEvents",
}

VALID_PACK = """
name = "tiny"
company = "Tiny Co"
description = "One product."

[[products]]
id = "widget_cover"
name = "Widget Cover"
summary = "Covers widgets."
facts = [{ attribute = "premium", form = "range", values = [3, 9], unit = "money_month" }]
"""


def write(tmp_path: Path, text: str, name: str = "pack.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def insurance() -> DomainPack:
    return load_domain("insurance")


def test_builtin_insurance_pack_loads_with_its_products(insurance: DomainPack) -> None:
    assert insurance.name == "insurance"
    assert insurance.company == "Acme Insurance"
    assert insurance.currency == "USD"
    assert "term_life" in insurance.intent_ids
    assert "income_protection" in insurance.intent_ids
    premium = insurance.product("term_life").fact("premium")
    assert premium is not None and premium.values == [12, 85] and premium.unit == "money_month"


def test_builtin_sgd_pack_has_exactly_the_papers_six_intents() -> None:
    sgd = load_domain("sgd")
    assert len(sgd.intent_ids) == 6
    assert set(sgd.intent_ids) == PAPER_SGD_INTENTS


def test_unknown_product_lookup_raises_key_error(insurance: DomainPack) -> None:
    with pytest.raises(KeyError, match="pet"):
        insurance.product("pet")


def test_sheet_has_one_line_per_product_with_premiums_in_the_currency(
    insurance: DomainPack,
) -> None:
    lines = insurance.sheet().splitlines()
    assert len(lines) == len(insurance.products)
    assert lines[0].startswith("- term_life: Term Life Insurance.")
    assert "Price per month {term_life.premium}." in lines[0]
    assert not any(ch.isdigit() for ch in insurance.sheet())  # figures only by reference


def test_unknown_pack_name_raises_config_error_listing_builtins() -> None:
    with pytest.raises(ConfigError, match=r"'nope' not found \(built in: insurance, sgd\)"):
        load_domain("nope")


def test_pack_loads_from_a_toml_path(tmp_path: Path) -> None:
    pack = load_domain(write(tmp_path, VALID_PACK))
    assert pack.intent_ids == ["widget_cover"]
    assert pack.currency == "USD"


def test_invalid_toml_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_domain(write(tmp_path, 'name = "broken\n[[products]\n'))


def test_duplicate_product_ids_raise_config_error(tmp_path: Path) -> None:
    text = VALID_PACK + '\n[[products]]\nid = "widget_cover"\nname = "Again"\nsummary = "x"\n'
    with pytest.raises(ConfigError, match="duplicate product ids"):
        load_domain(write(tmp_path, text))


@pytest.mark.parametrize(
    ("fact", "message"),
    [
        ('{ attribute = "premium", form = "range", values = [9, 3], unit = "money_month" }',
         "product 'widget_cover', field 'facts\\[0\\]'.*low then high"),
        ('{ attribute = "premium", form = "range", values = [3, 9], unit = "euros" }',
         "product 'widget_cover', field 'facts\\[0\\].unit'.*unknown unit 'euros'"),
        ('{ attribute = "premium", form = "value", values = [3, 9], unit = "money" }',
         "exactly one value"),
        ('{ attribute = "premium", form = "range", values = [3, 9], unit = "money", '
         'say = "4 to 9 dollars" }',
         "'say' states"),
    ],
)
def test_malformed_facts_fail_at_load_naming_product_and_field(
    tmp_path: Path, fact: str, message: str
) -> None:
    text = VALID_PACK.replace(VALID_PACK.splitlines()[-1], f"facts = [{fact}]")
    with pytest.raises(ConfigError, match=message):
        load_domain(write(tmp_path, text))


def test_a_figure_in_a_note_must_be_a_typed_fact(tmp_path: Path) -> None:
    text = VALID_PACK + 'notes = ["Costs 5 dollars."]\n'
    with pytest.raises(ConfigError, match=r"product 'widget_cover'.*must be a typed fact"):
        load_domain(write(tmp_path, text))


def test_references_expand_to_the_sheets_wording(insurance: DomainPack) -> None:
    said = insurance.expand(
        "It costs {critical_illness.premium}, {critical_illness.waiting_period}.")
    assert said == "It costs from 18 to 120 dollars a month, a 90-day waiting period."
    with pytest.raises(KeyError):
        insurance.expand("{travel.colour}")


def test_every_product_has_its_figures_with_units(insurance: DomainPack) -> None:
    medical = {(f.value, f.unit) for f in insurance.product("medical").figures}
    assert {(45, "money_month"), (300, "money_month"), (250, "money_year"), (30, "days")} <= medical
    assert (2, "years") in medical  # "pre-existing conditions in the first 2 years"


def test_pack_without_products_raises_config_error(tmp_path: Path) -> None:
    text = 'name = "empty"\ncompany = "C"\ndescription = "d"\nproducts = []\n'
    with pytest.raises(ConfigError, match="is invalid"):
        load_domain(write(tmp_path, text))


def test_unknown_field_in_a_pack_raises_config_error(tmp_path: Path) -> None:
    text = VALID_PACK.replace('summary = "Covers widgets."', 'summary = "x"\ncolour = "red"')
    with pytest.raises(ConfigError, match="colour"):
        load_domain(write(tmp_path, text))


def test_product_id_must_be_an_identifier(tmp_path: Path) -> None:
    text = VALID_PACK.replace('id = "widget_cover"', 'id = "widget cover"')
    with pytest.raises(ConfigError, match="is invalid"):
        load_domain(write(tmp_path, text))
