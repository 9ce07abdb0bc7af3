"""The learned thought head: training with out-of-fold numbers, sha256-stamped files, and
the agent's learned mode (the head's thought, then the LLM writes only the response)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from agent.dialogue import CallerProfile
from agent.policy import SalesAgent
from agent.program import Decoding, load_program
from agent.thought_head import ThoughtHead, load_thought_head
from models.embed import FakeEmbedder
from models.errors import ConfigError, IntegrityError
from models.llm import FakeLLM
from models.llm.base import Capabilities
from optimizer.thought_bench import compare, planted_turns
from optimizer.thought_head import (
    evaluate,
    read_training_turns,
    read_turns,
    train_thought_head,
)

GREETING = "Hi, this is Ava. Do you have a minute?"
TURNS = [
    (GREETING, "sure go ahead", "engaged", "none", "chitchat", "?"),
    (GREETING, "who is this", "engaged", "none", "chitchat", "?"),
    ("What do you do?", "I'm a teacher at a primary school.", "engaged", "none", "pivot", "P"),
    ("What do you do?", "i'm a nurse on nights", "engaged", "none", "pivot", "Q"),
    ("Travel cover is five a month.", "sign me up for travel", "accept", "travel", "confirm", "?"),
    ("Travel cover is five a month.", "yes travel please", "accept", "travel", "confirm", "?"),
    (GREETING, "stop calling me", "opt_out", "none", "chitchat", "?"),
    (GREETING, "never call again", "opt_out", "none", "chitchat", "?"),
]


def write_turns(path: Path, copies: int = 3) -> Path:
    rows = [dict(zip(("agent", "caller", "state", "product", "template", "sector"), t,
                     strict=True)) for t in TURNS] * copies
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def trained(tmp_path: Path) -> ThoughtHead:
    head, report = train_thought_head(FakeEmbedder(dim=32), [write_turns(tmp_path / "t.jsonl")],
                                      folds=3)
    assert set(report["fields"]) == {"state", "product", "template", "sector"}
    assert all(0 <= f["cv_accuracy"] <= 1 for f in report["fields"].values())
    return head


def test_the_head_learns_each_field_and_is_measured_on_rows(tmp_path: Path) -> None:
    head = trained(tmp_path)
    assert head.predict("What do you do?", "i'm a nurse on nights")["sector"][0] == "Q"
    assert head.predict(GREETING, "stop calling me")["state"][0] == "opt_out"
    result = evaluate(head, read_turns(write_turns(tmp_path / "e.jsonl", copies=1)))
    assert result["fields"]["state"]["right"] == len(TURNS)
    assert result["fields"]["state"]["ci95"][1] <= 1.0


def test_a_saved_head_loads_and_a_tampered_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "thought.json"
    trained(tmp_path).save(path)
    loaded = load_thought_head(path, FakeEmbedder(dim=32))
    assert loaded.predict(GREETING, "stop calling me")["state"][0] == "opt_out"
    body = json.loads(path.read_text())
    body["fields"]["state"]["bias"][0] += 1.0
    path.write_text(json.dumps(body))
    with pytest.raises(IntegrityError, match="sha256"):
        load_thought_head(path, FakeEmbedder(dim=32))


def test_a_missing_or_malformed_head_or_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="salesvoice thought train"):
        load_thought_head(tmp_path / "none.json", FakeEmbedder(dim=32))
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": 3}')
    with pytest.raises(ConfigError, match="malformed"):
        load_thought_head(bad, FakeEmbedder(dim=32))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"agent": "hi", "caller": "yo"}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl:1"):
        read_turns(rows)
    with pytest.raises(ValueError, match=r"rows\.jsonl:1: labels none of state"):
        read_training_turns(rows)
    rows.write_text('{"caller": "yo", "sector": "Q"}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl:1: not a labelled line"):
        read_training_turns(rows)


SECTOR_ONLY = [
    ("What do you do?", "I look after patients on a ward", "Q"),
    ("What do you do?", "I run a classroom of thirty kids", "P"),
    (GREETING, "I was at the hospital with my mum", "?"),
    (GREETING, "I'm on the bus right now", "?"),
]


def test_a_file_may_label_only_some_fields_and_each_field_learns_from_its_rows(
    tmp_path: Path,
) -> None:
    full = write_turns(tmp_path / "t.jsonl")
    partial = tmp_path / "sector.jsonl"
    rows = [{"agent": a, "caller": c, "sector": s} for a, c, s in SECTOR_ONLY] * 3
    rows[0] = {**rows[0], "state": None}  # null: not labelled either
    partial.write_text("".join(json.dumps(r) + "\n" for r in rows))
    alone, _ = train_thought_head(FakeEmbedder(dim=32), [full], folds=3)
    both, report = train_thought_head(FakeEmbedder(dim=32), [full, partial], folds=3)
    assert report["rows"] == 3 * (len(TURNS) + len(SECTOR_ONLY))
    assert report["fields"]["state"]["rows"] == 3 * len(TURNS)
    assert report["fields"]["sector"]["rows"] == report["rows"]
    # Out-of-fold accuracy per file only where more than one file labels the field.
    assert set(report["fields"]["sector"]["cv_accuracy_by_file"]) == {"t.jsonl", "sector.jsonl"}
    assert "cv_accuracy_by_file" not in report["fields"]["state"]
    # A field no row of the partial file labels is trained exactly as without it.
    for name in ("state", "product", "template"):
        assert both.fields[name].classes == alone.fields[name].classes
        assert both.fields[name].weights == pytest.approx(alone.fields[name].weights)
    assert both.predict("What do you do?", "I look after patients on a ward")["sector"][0] == "Q"


class GrammarFakeLLM(FakeLLM):
    capabilities: ClassVar[Capabilities] = replace(FakeLLM.capabilities, grammar=True)


def learned_agent(llm: FakeLLM, head: ThoughtHead) -> SalesAgent:
    program = load_program().evolve("test", decoding=Decoding(mode="learned").model_dump())
    agent = SalesAgent(program, llm, caller=CallerProfile(), session="t", thought_head=head)
    agent.commit("", "What do you do?", False)
    return agent


async def test_learned_mode_puts_the_heads_plan_after_the_line_and_the_llm_only_speaks(
    tmp_path: Path,
) -> None:
    llm = GrammarFakeLLM(["Lovely, teaching is demanding."])
    agent = learned_agent(llm, trained(tmp_path))
    pieces = [p async for p in agent.reply("I'm a teacher at a primary school.")]
    notes = [p for p in pieces if not isinstance(p, str)]
    spoken = "".join(p for p in pieces if isinstance(p, str))
    assert spoken.strip() == "Lovely, teaching is demanding."
    assert len(llm.requests) == 1
    *_, line, plan = llm.requests[0].messages
    assert line.role == "user" and line.content == "I'm a teacher at a primary school."
    # Pivot with no product from the head: the strategy's first product for teachers.
    assert plan.role == "system" and "pivot toward critical_illness" in plan.content
    assert llm.requests[0].grammar is not None  # plain speech with product references
    assert notes[0]["thought"]["template"] == "pivot"
    assert notes[0]["thought"]["intent"] == "critical_illness"


async def test_learned_mode_without_grammars_gives_the_model_the_same_plan(
    tmp_path: Path,
) -> None:
    llm = FakeLLM(["Lovely, teaching is demanding."])
    agent = learned_agent(llm, trained(tmp_path))
    pieces = [p async for p in agent.reply("I'm a teacher at a primary school.")]
    spoken = "".join(p for p in pieces if isinstance(p, str))
    assert spoken.strip() == "Lovely, teaching is demanding."
    plan = llm.requests[0].messages[-1]
    assert plan.role == "system" and "pivot toward critical_illness" in plan.content


async def test_learned_mode_primes_the_line_while_the_caller_speaks_and_the_plan_at_a_pause(
    tmp_path: Path,
) -> None:
    llm = GrammarFakeLLM(["", "", "Sure."])
    agent = learned_agent(llm, trained(tmp_path))
    await agent.listen("I'm a teacher at a")
    await agent.prepare("I'm a teacher at a primary school.")
    pieces = [p async for p in agent.reply("I'm a teacher at a primary school.")]
    spoken = "".join(p for p in pieces if isinstance(p, str))
    assert spoken.strip() == "Sure."
    heard, paused, answered = llm.requests
    assert heard.messages[-1].content == "I'm a teacher at a"  # the line so far, no plan
    # The cached prompt is the answer's: the reply pays only for its own tokens.
    assert paused.messages == answered.messages


async def test_learned_mode_reads_the_sector_at_the_heads_own_probability(
    tmp_path: Path,
) -> None:
    partial = tmp_path / "sector.jsonl"
    partial.write_text("".join(json.dumps({"agent": a, "caller": c, "sector": s}) + "\n"
                               for a, c, s in SECTOR_ONLY * 3))
    head, _ = train_thought_head(FakeEmbedder(dim=32),
                                 [write_turns(tmp_path / "t.jsonl"), partial], folds=3)
    line = "I look after patients on a ward"  # no occupation the lexicon knows, no "work"
    sector, p = head.predict("What do you do?", line)["sector"]
    agent = learned_agent(FakeLLM(["Lovely."]), head)
    notes = [n async for n in agent.reply(line) if not isinstance(n, str)]
    assert sector == "Q" and 0.6 < p < 1
    assert agent.sectors.guess.sector == "Q"
    assert agent.sectors.guess.confidence == pytest.approx(p, abs=1e-3)
    assert notes[0]["sector"]["confidence"] == agent.sectors.guess.confidence


def test_planted_turns_carry_the_users_decision_and_sector() -> None:
    from agent.domain import load_domain
    from simulator.persona import PersonaSampler, load_spec
    from simulator.users import load_world

    personas = PersonaSampler(load_spec(), seed=3).sample(12)
    rows = planted_turns(personas, load_world(), load_domain("insurance"))
    said_work = [r for r in rows if r["agent"].startswith("What do you do")]
    assert said_work and all(r["sector"] != "?" for r in said_work)
    accepted = [r for r in rows if r["state"] == "accept"]
    assert accepted and all(r["product"] for r in accepted)
    assert all(r["template"] == "" for r in rows)  # not planted, so never scored


def test_compare_pairs_the_head_with_the_llm_on_known_fields(tmp_path: Path) -> None:
    head = trained(tmp_path)
    rows = read_turns(write_turns(tmp_path / "e.jsonl", copies=1))
    llm = [["chitchat", "none", "engaged", "?"] for _ in rows]
    result = compare(head, rows, llm)
    state = result["fields"]["state"]
    assert state["head"]["right"] == len(rows)
    assert state["llm"]["right"] == sum(r["state"] == "engaged" for r in rows)
    assert state["paired"]["only_llm_right"] == 0
    assert 0 < state["paired"]["mcnemar_p"] <= 1
