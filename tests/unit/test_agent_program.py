"""Agent programs: content-hashed versions, evolution, validation, save and load."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent.dialogue import Template
from agent.program import AgentProgram, load_program
from models.errors import ConfigError


@pytest.fixture
def program() -> AgentProgram:
    return load_program()


def program_data(program: AgentProgram) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(program.to_json())
    return data


def test_default_program_loads_for_the_insurance_domain(program: AgentProgram) -> None:
    assert program.domain == "insurance"
    assert program.agent_name == "Ava"
    assert set(program.thought_templates) == set(Template)
    assert program.parent is None
    assert program.created_by == "hand-written"


def test_version_is_p_dash_twelve_hex_digits_of_content_hash(program: AgentProgram) -> None:
    assert re.fullmatch(r"p-[0-9a-f]{12}", program.version)
    assert program.version == program.content_hash()


def test_version_is_stable_across_loads_and_revalidation(program: AgentProgram) -> None:
    assert load_program("insurance-default").version == program.version
    rebuilt = AgentProgram.model_validate(program_data(program) | {"version": ""})
    assert rebuilt.version == program.version


def test_version_ignores_lineage_fields(program: AgentProgram) -> None:
    data = program_data(program) | {"version": "", "parent": "p-x", "created_by": "someone"}
    assert AgentProgram.model_validate(data).version == program.version


def test_evolve_returns_a_new_version_whose_parent_is_the_old_one(
    program: AgentProgram,
) -> None:
    child = program.evolve("optimizer-test", agent_name="Max")
    assert child.agent_name == "Max"
    assert child.version != program.version
    assert child.version == child.content_hash()
    assert child.parent == program.version
    assert child.created_by == "optimizer-test"


def test_evolve_leaves_the_original_program_unchanged(program: AgentProgram) -> None:
    before = program.model_dump()
    program.evolve("optimizer-test", agent_name="Max", sector_threshold=0.8)
    assert program.model_dump() == before
    assert program.agent_name == "Ava"
    assert program.parent is None


def test_evolve_can_change_nested_decoding_settings(program: AgentProgram) -> None:
    child = program.evolve("t", decoding=program.decoding.model_dump() | {"temperature": 0.2})
    assert child.decoding.temperature == 0.2
    assert program.decoding.temperature == 0.7
    assert child.version != program.version


def test_evolve_rejects_a_greeting_without_ai_disclosure(program: AgentProgram) -> None:
    with pytest.raises(ValidationError, match="disclose"):
        program.evolve("t", greeting="Hi, this is Ava from Acme Insurance.")


@pytest.mark.parametrize(
    "greeting",
    [
        "Hi, I'm an AI assistant from Acme.",
        "Hello, this is a virtual assistant calling.",
        "Hi, I'm an automated assistant.",
        "Hi, this is artificial intelligence on the line.",
    ],
)
def test_greetings_that_disclose_an_ai_are_accepted(program: AgentProgram, greeting: str) -> None:
    assert program.evolve("t", greeting=greeting).greeting == greeting


def test_missing_thought_templates_are_rejected(program: AgentProgram) -> None:
    data = program_data(program)
    del data["thought_templates"]["pivot"]
    with pytest.raises(ValidationError, match="thought templates missing"):
        AgentProgram.model_validate(data | {"version": ""})


def test_strategy_entry_with_more_than_three_intents_is_rejected(program: AgentProgram) -> None:
    data = program_data(program)
    data["strategy"]["Q"]["intents"] = ["a", "b", "c", "d"]
    with pytest.raises(ValidationError):
        AgentProgram.model_validate(data | {"version": ""})


def test_unknown_program_raises_config_error_listing_builtins() -> None:
    with pytest.raises(ConfigError, match=r"'nope' not found \(built in: insurance-default\)"):
        load_program("nope")


def test_save_then_load_keeps_version_and_content(program: AgentProgram, tmp_path: Path) -> None:
    child = program.evolve("t", agent_name="Max")
    path = tmp_path / "nested" / "max.json"
    child.save(path)
    again = load_program(str(path))
    assert again == child
    assert again.version == child.version
    assert again.parent == program.version


def test_hand_edited_file_whose_version_no_longer_matches_raises_config_error(
    program: AgentProgram, tmp_path: Path
) -> None:
    data = program_data(program) | {"agent_name": "Eve"}  # version still the old one
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="edited by hand"):
        load_program(str(path))


def test_file_without_version_is_stamped_on_load(program: AgentProgram, tmp_path: Path) -> None:
    data = program_data(program) | {"agent_name": "Eve"}
    del data["version"]
    path = tmp_path / "unstamped.json"
    path.write_text(json.dumps(data))
    loaded = load_program(str(path))
    assert loaded.agent_name == "Eve"
    assert loaded.version == loaded.content_hash() != program.version


def test_invalid_json_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"greeting": ')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_program(str(path))


def test_invalid_program_file_raises_config_error(program: AgentProgram, tmp_path: Path) -> None:
    path = tmp_path / "no_ai.json"
    path.write_text(json.dumps(program_data(program) | {"greeting": "Hello from Acme."}))
    with pytest.raises(ConfigError, match="is invalid"):
        load_program(str(path))
