"""P4G strategies: the table file, the constrained classifier (FakeLLM) on agent-numbered
turns, and C_str / sigma / CV checked on a table worked by hand."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from agent.dialogue import Dialogue, Turn
from models.errors import ConfigError
from models.llm.fake import FakeLLM
from optimizer.strategies import (
    StrategyClassifier,
    StrategyError,
    StrategyUse,
    agent_transcript,
    distinct_per_dialogue,
    load_strategies,
    plot_strategy_bars,
    strategy_section,
    strategy_stats,
    strategy_table,
)

P4G = load_strategies()


def dialogue(did: str = "d1", agent_turns: int = 3) -> Dialogue:
    """Agent and caller alternate, the agent first."""
    turns = []
    for n in range(1, agent_turns + 1):
        turns.append(Turn(speaker="agent", text=f"agent line {n}"))
        turns.append(Turn(speaker="user", text=f"caller line {n}"))
    return Dialogue(id=did, source="simulated", program_version="v1", turns=turns)


def uses_reply(*uses: tuple[str, int], excerpt: str = "said {c}") -> str:
    return json.dumps({"uses": [{"turn": t, "excerpt": excerpt.format(c=c, t=t), "code": c}
                                for c, t in uses]}, separators=(",", ":"))


def uses_of(did: str, *codes: str) -> list[StrategyUse]:
    return [StrategyUse(did, code, turn, 2 * turn - 2, "") for turn, code in enumerate(codes, 1)]


def item_schema(schema: dict[str, Any]) -> dict[str, Any]:
    ref: str = schema["properties"]["uses"]["items"]["$ref"]
    out: dict[str, Any] = schema["$defs"][ref.rsplit("/", 1)[-1]]
    return out


def test_builtin_table_holds_the_ten_p4g_strategies() -> None:
    assert P4G.codes == ("LA", "EA", "CA", "FD", "SM", "PS", "PI", "SI", "TI", "PR")
    assert {s.p4g for s in P4G.strategies} == {
        "logical appeal", "emotion appeal", "credibility appeal", "foot-in-the-door",
        "self-modeling", "personal story", "donation information", "source-related inquiry",
        "task-related inquiry", "personal-related inquiry"}


def test_bad_table_file_is_a_config_error_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n' + '[[strategies]]\ncode = "LA"\nname = "L"\n'
                    'description = "d"\n' * 2)
    with pytest.raises(ConfigError, match="duplicate strategy codes: LA"):
        load_strategies(str(path))
    path.write_text('name = "x"\n[[strategies]]\ncode = "la la"\nname = "L"\ndescription = "d"\n')
    with pytest.raises(ConfigError, match=r"strategies\.0\.code: String should match pattern"):
        load_strategies(str(path))


def test_transcript_numbers_only_the_agent_turns() -> None:
    text, index = agent_transcript(dialogue(agent_turns=2))
    assert text.splitlines() == ["[Turn 1] Assistant: agent line 1", "User: caller line 1",
                                 "[Turn 2] Assistant: agent line 2", "User: caller line 2"]
    assert index == [0, 2]


async def test_classifier_parses_uses_and_drops_turns_the_call_does_not_have(
        caplog: pytest.LogCaptureFixture) -> None:
    llm = FakeLLM([uses_reply(("PI", 2), ("LA", 2), ("LA", 2), ("EA", 1), ("CA", 7), ("TI", 0))])
    with caplog.at_level(logging.WARNING, logger="optimizer.strategies"):
        uses = await StrategyClassifier(llm, P4G).classify(dialogue("call-3", agent_turns=3))
    assert uses == [StrategyUse("call-3", "EA", 1, 0, "said EA"),
                    StrategyUse("call-3", "LA", 2, 2, "said LA"),
                    StrategyUse("call-3", "PI", 2, 2, "said PI")]
    assert distinct_per_dialogue(uses) == 3
    dropped = [r.getMessage() for r in caplog.records]
    assert len(dropped) == 2 and "dropped strategy CA at turn 7" in dropped[0]
    (request,) = llm.requests
    assert "[Turn 3] Assistant: agent line 3" in request.messages[1].content
    assert "PR (Personal-related inquiry)" in request.messages[0].content


async def test_schema_offers_only_the_table_codes_and_caps_the_output() -> None:
    llm = FakeLLM([uses_reply(("XX", 1))])
    classifier = StrategyClassifier(llm, P4G, excerpt_chars=60)
    with pytest.raises(StrategyError, match="dialogue 'call-4'"):
        await classifier.classify(dialogue("call-4", agent_turns=2))
    (request,) = llm.requests
    assert request.json_schema is not None
    assert request.json_schema["properties"]["uses"]["maxItems"] == 6
    item = item_schema(request.json_schema)["properties"]
    assert item["code"]["enum"] == list(P4G.codes)
    assert item["excerpt"]["maxLength"] == 60
    assert request.max_tokens == classifier.max_tokens(2)


async def test_the_copied_line_label_is_cut_from_the_excerpt() -> None:
    llm = FakeLLM([uses_reply(("PI", 1), excerpt="[Turn {t}] Assistant: it is 18 a month")])
    (use,) = await StrategyClassifier(llm, P4G).classify(dialogue(agent_turns=1))
    assert use.excerpt == "it is 18 a month"


async def test_dialogue_without_agent_turns_needs_no_call() -> None:
    llm = FakeLLM([])
    empty = Dialogue(id="e", source="live", program_version="v1",
                     turns=[Turn(speaker="user", text="hello?")])
    assert await StrategyClassifier(llm, P4G).classify(empty) == []
    assert not llm.requests


def test_cstr_sigma_and_cv_on_a_hand_table() -> None:
    # Five dialogues; d1 uses LA twice, which counts once.
    group = [uses_of("d1", "LA", "EA", "CA", "LA"), uses_of("d2", "LA", "EA"),
             uses_of("d3", "LA", "CA"), uses_of("d4", "LA", "FD"), uses_of("d5", "SM")]
    stats = strategy_stats(group, P4G)
    # Distinct per dialogue 3, 2, 2, 2, 1: C_str = 10 / 5 = 2.
    assert stats.c_str == 2.0 and stats.n_dialogues == 5
    # Dialogues per type: LA 4, EA 2, CA 2, FD 1, SM 1, five types 0; total 10.
    assert list(stats.counts.values()) == [4, 2, 2, 1, 1, 0, 0, 0, 0, 0]
    # Shares .4 .2 .2 .1 .1 0 0 0 0 0, mean .1; squared deviations
    # .09 + .01 + .01 + 0 + 0 + 5 * .01 = .16; sample variance .16 / 9; sigma = .4 / 3.
    assert stats.shares["LA"] == 0.4
    assert stats.sigma == pytest.approx(0.4 / 3)
    # Counts mean 1; squared deviations 9 + 1 + 1 + 0 + 0 + 5 * 1 = 16; sd = 4 / 3;
    # CV = (4 / 3) / 1, which is K * sigma with K = 10.
    assert stats.cv == pytest.approx(4 / 3)
    # A dialogue without strategies lowers C_str and changes nothing else.
    with_empty = strategy_stats([*group, []], P4G)
    assert with_empty.c_str == pytest.approx(10 / 6)
    assert with_empty.cv == pytest.approx(stats.cv)


def test_evenly_used_types_have_zero_cv_and_no_uses_have_none() -> None:
    even = strategy_stats([uses_of("d", *P4G.codes)], P4G)
    assert (even.c_str, even.sigma, even.cv) == (10.0, 0.0, 0.0)
    none = strategy_stats([[], []], P4G)
    assert (none.c_str, none.sigma, none.cv) == (0.0, None, None)
    assert strategy_stats([], P4G).c_str is None
    with pytest.raises(StrategyError, match="'ZZ' of dialogue 'x' is not in table 'p4g'"):
        strategy_stats([uses_of("x", "ZZ")], P4G)


def test_strategy_table_is_json_and_feeds_the_bar_chart(tmp_path: Path) -> None:
    data = strategy_table({"base": [uses_of("a", "LA"), uses_of("b", "LA", "PI")],
                           "sign": [uses_of("c", "EA", "SM", "PS"), []]}, P4G)
    data = json.loads(json.dumps(data))
    assert data["groups"]["base"]["c_str"] == 1.5
    assert data["groups"]["sign"]["counts"]["PS"] == 1
    assert math.isclose(sum(data["groups"]["sign"]["shares"].values()), 1.0)
    section = strategy_section(data, "p4g.png")
    assert section.blocks[0].rows[0][:3] == ("base", "2", "1.50")  # type: ignore[union-attr]
    path = plot_strategy_bars({g: s["counts"] for g, s in data["groups"].items()},
                              tmp_path / "p4g.png", P4G)
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
