"""Domain packs: loading, validation, and the numbers the agent may state."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.domain import DomainPack, load_domain, normalize_number, number_kind
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
premium_monthly = [3, 9]
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
    assert insurance.product("term_life").premium_monthly == (12, 85)


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
    assert "Premiums 12 to 85 USD a month." in lines[0]


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


def test_premium_low_above_high_raises_config_error(tmp_path: Path) -> None:
    text = VALID_PACK.replace("premium_monthly = [3, 9]", "premium_monthly = [9, 3]")
    with pytest.raises(ConfigError, match="premium_monthly of widget_cover"):
        load_domain(write(tmp_path, text))


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


def test_allowed_numbers_are_normalized_without_commas(insurance: DomainPack) -> None:
    # The sheet says "Cover from 50,000 to 1,000,000 dollars."
    assert "1000000" in insurance.allowed_numbers
    assert "50000" in insurance.allowed_numbers
    assert "1,000,000" not in insurance.allowed_numbers


def test_allowed_numbers_exclude_numbers_absent_from_the_sheets(insurance: DomainPack) -> None:
    assert "7" not in insurance.allowed_numbers
    assert "98" not in insurance.allowed_numbers


def test_allowed_by_kind_separates_percent_from_money(insurance: DomainPack) -> None:
    kinds = insurance.allowed_by_kind
    assert "60" in kinds["percent"]
    assert {"12", "85"} <= kinds["money"]
    assert "60" not in kinds["money"]
    assert "85" not in kinds["percent"]
    assert {"10", "20", "30", "18", "65", "40"} <= kinds["number"]  # terms, ages, conditions
    assert "500000" not in kinds["number"]  # only ever a money amount in the sheets


@pytest.mark.parametrize(
    ("clause", "kind"),
    [
        ("up to 60 percent of your income", "percent"),
        ("98% of claims", "percent"),
        ("sixty per cent", "percent"),
        ("Premiums 12 to 85 USD a month", "money"),
        ("costs $7", "money"),
        ("costs 7 dollars", "money"),
        ("ten bucks", "money"),
        ("60 percent of 100 dollars", "percent"),
        ("Terms of 10, 20 or 30 years", "number"),
        ("", "number"),
    ],
)
def test_number_kind_names_what_the_numbers_measure(clause: str, kind: str) -> None:
    assert number_kind(clause) == kind


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1,000.50", "1000.5"),
        ("1,000,000", "1000000"),
        ("12", "12"),
        ("10.0", "10"),
        ("100.00", "100"),
        ("0.50", "0.5"),
    ],
)
def test_normalize_number_drops_commas_and_trailing_zero_decimals(
    text: str, normalized: str
) -> None:
    assert normalize_number(text) == normalized
