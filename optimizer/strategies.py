"""Persuasion strategies the agent used (Persuasion For Good, as MADS §3.3 and §4.1 use it).

One constrained LLM call per dialogue lists the table's strategies found in the agent's
numbered turns. Per group: C_str, the mean number of distinct strategies per dialogue,
and sigma and CV, how unevenly the strategy types are used (MADS Table 2, figure 3).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field, create_model

from agent.dialogue import Dialogue
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.spec import BUILTIN, GREEDY, Spec, load_spec
from simulator.report import Image, Section, Table

log = logging.getLogger(__name__)

USES_PER_TURN = 3
"""At most this many strategy uses per agent turn are asked for: a bound on the output,
so that it cannot be cut off by ``max_tokens`` into invalid JSON."""


class StrategyError(SalesvoiceError):
    """A dialogue's strategies could not be classified, or a code is not in the table."""


class Strategy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    name: str = Field(min_length=1)
    p4g: str = ""
    """The Persuasion For Good strategy this one renames, if any."""
    description: str = Field(min_length=1)


class StrategyTable(Spec):
    """The strategy definitions the classifier chooses from, in a fixed order (at least
    two: sigma and CV need two types)."""

    entry_words = ("strategies", "strategy codes")

    strategies: tuple[Strategy, ...]

    def entry_keys(self) -> Sequence[str]:
        return self.codes

    @cached_property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.strategies)


BUILTIN_TABLES = {"p4g": BUILTIN / "p4g.toml"}


def load_strategies(name_or_path: str = "p4g") -> StrategyTable:
    """A built-in table (``p4g``) or a TOML file of ``[[strategies]]``."""
    return load_spec(name_or_path, StrategyTable, BUILTIN_TABLES, "strategy table")


@dataclass(frozen=True, slots=True)
class StrategyUse:
    dialogue_id: str
    code: str
    turn: int
    """1-based agent turn number, as the classifier's transcript numbers them."""
    turn_index: int
    """Index of that turn in ``dialogue.turns``."""
    excerpt: str


def agent_transcript(dialogue: Dialogue) -> tuple[str, list[int]]:
    """``[Turn n] Assistant: ...`` / ``User: ...`` lines with only agent turns numbered,
    and the index in ``dialogue.turns`` of each agent turn (turn n at position n-1)."""
    lines: list[str] = []
    agent_turns: list[int] = []
    for i, turn in enumerate(dialogue.turns):
        if turn.speaker == "agent":
            agent_turns.append(i)
            lines.append(f"[Turn {len(agent_turns)}] Assistant: {turn.text}")
        else:
            lines.append(f"User: {turn.text}")
    return "\n".join(lines), agent_turns


_LABEL = re.compile(r"^\s*(\[Turn \d+\]\s*)?Assistant:\s*")
"""The transcript's line label, which small models copy into their quotes."""

_P4G_PROMPT = """\
You annotate the persuasion strategies a sales agent (the Assistant) used in an \
insurance sales call, using the strategy table below.

List every use you find: the number n of the [Turn n] it appears in, the \
Assistant's words there (without the label, at most {chars} characters, copied, not \
reworded), then the strategy code. A turn may carry several strategies and a \
strategy may recur in several turns. Do not force a match: list a strategy only where \
the words fully satisfy its description. A call may use none.

Strategies:
{table}"""


class StrategyClassifier:
    """Finds the table's strategies in a dialogue's agent turns: one constrained-JSON
    call per dialogue (the MADS P4G classifier prompt)."""

    def __init__(self, llm: LLM, table: StrategyTable, *, excerpt_chars: int = 80,
                 sampling: Sampling = GREEDY) -> None:
        self._llm = llm
        self.table = table
        self.excerpt_chars = excerpt_chars
        self._sampling = sampling
        self._system = _P4G_PROMPT.format(chars=excerpt_chars, table="\n".join(
            f"- {s.code} ({s.name}): {s.description}" for s in table.strategies))
        code = Literal[(*table.codes,)]  # type: ignore[valid-type]  # enum built at run time
        self._use = create_model(
            "StrategyUseJSON", __config__=ConfigDict(extra="forbid"),
            # Bounded so constrained decoding cannot run on digit after digit; turns the
            # dialogue does not have are dropped after parsing.
            turn=(int, Field(ge=0, le=999)),
            # The words before the code: the model classifies what it has just quoted.
            excerpt=(str, Field(max_length=excerpt_chars)),
            code=(code, ...))

    def schema(self, n_agent_turns: int) -> type[BaseModel]:
        """The output for a dialogue of ``n_agent_turns`` agent turns."""
        return create_model(
            "StrategiesJSON",
            __config__=ConfigDict(
                extra="forbid", json_schema_extra={"x-guidance": {"whitespace_flexible": False}}),
            uses=(list[self._use],  # type: ignore[name-defined]  # run-time model
                  Field(max_length=USES_PER_TURN * n_agent_turns)))

    def max_tokens(self, n_agent_turns: int) -> int:
        """A ceiling the longest valid output fits under (a token is at least one
        character; the excerpt gets twice its length for escapes)."""
        item = 40 + max(map(len, self.table.codes)) + 2 * self.excerpt_chars
        return 16 + USES_PER_TURN * n_agent_turns * item

    async def classify(self, dialogue: Dialogue) -> list[StrategyUse]:
        """The strategy uses in turn order, one per (strategy, turn). The call's
        ``max_tokens`` is set from the agent turn count, whatever ``sampling`` says."""
        text, agent_turns = agent_transcript(dialogue)
        n = len(agent_turns)
        if n == 0:
            return []
        messages = [
            ChatMessage("system", self._system),
            ChatMessage("user", f"Transcript ({n} Assistant turns):\n{text}\n\n"
                                'Reply with JSON: "uses", one item per strategy use.'),
        ]
        try:
            out = await self._llm.complete_json(
                messages, self.schema(n), replace(self._sampling, max_tokens=self.max_tokens(n)))
        except SalesvoiceError as exc:
            raise StrategyError(f"could not classify the strategies of dialogue "
                                f"{dialogue.id!r}: {exc}") from exc
        uses: dict[tuple[str, int], StrategyUse] = {}
        for item in out.value.model_dump()["uses"]:
            turn = item["turn"]
            if not 1 <= turn <= n:
                log.warning("dialogue %s: dropped strategy %s at turn %d (the call has %d "
                            "agent turns)", dialogue.id, item["code"], turn, n)
                continue
            uses.setdefault((item["code"], turn), StrategyUse(
                dialogue.id, item["code"], turn, agent_turns[turn - 1],
                _LABEL.sub("", item["excerpt"]).strip()))
        return sorted(uses.values(), key=lambda u: (u.turn, self.table.codes.index(u.code)))


# -- statistics -----------------------------------------------------------------------------
def distinct_per_dialogue(uses: Iterable[StrategyUse]) -> int:
    return len({u.code for u in uses})


class StrategyStats(BaseModel):
    """One group's strategy diversity (a column of MADS Table 2)."""

    model_config = ConfigDict(extra="forbid")

    n_dialogues: int
    c_str: float | None
    """Mean number of distinct strategies per dialogue."""
    sigma: float | None
    """Sample standard deviation of the strategy-type shares."""
    cv: float | None
    """Coefficient of variation of the per-type counts (0: every type used equally)."""
    counts: dict[str, int]
    """Dialogues that used each strategy (a dialogue counts once per strategy)."""
    shares: dict[str, float]


def strategy_stats(dialogues: Sequence[Sequence[StrategyUse]],
                   table: StrategyTable) -> StrategyStats:
    """C_str, sigma and CV of one group; ``dialogues`` holds each dialogue's uses (empty
    for a dialogue without any).

    MADS Table 2 does not define sigma and CV further, and its CV is not sigma / C_str
    (1.342 against 0.149 / 1.8). We read both as measures of how evenly the K strategy
    types are used, as the paper's text does (a lower CV, a more uniform distribution):
    sigma is the sample standard deviation of the K type shares (whose mean is 1/K), CV
    the sample standard deviation of the K per-type counts over their mean, which is
    K * sigma. The paper's own pairs do not meet that identity exactly (CV 1.342 against
    10 * 0.149), so this is the closest reading found, not a reproduction. A dialogue
    counts once per strategy, so the counts sum to C_str times the number of dialogues.
    """
    counts = dict.fromkeys(table.codes, 0)
    for uses in dialogues:
        for code in {u.code for u in uses}:
            if code not in counts:
                raise StrategyError(f"strategy {code!r} of dialogue {uses[0].dialogue_id!r} "
                                    f"is not in table {table.name!r}")
            counts[code] += 1
    c = np.array(list(counts.values()), dtype=np.float64)
    total = float(c.sum())
    shares = c / total if total else np.zeros_like(c)
    return StrategyStats(
        n_dialogues=len(dialogues),
        c_str=total / len(dialogues) if dialogues else None,
        sigma=float(np.std(shares, ddof=1)) if total else None,
        cv=float(np.std(c, ddof=1) / c.mean()) if total else None,
        counts=counts,
        shares=dict(zip(table.codes, map(float, shares), strict=True)),
    )


def strategy_table(uses_by_group: Mapping[str, Sequence[Sequence[StrategyUse]]],
                   table: StrategyTable) -> dict[str, Any]:
    """Every group's statistics as a JSON-ready dict."""
    return {
        "table": table.name,
        "strategies": {s.code: s.name for s in table.strategies},
        "groups": {group: strategy_stats(dialogues, table).model_dump(mode="json")
                   for group, dialogues in uses_by_group.items()},
    }


def _num(x: float | None, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def strategy_section(data: Mapping[str, Any], image: str | None = None) -> Section:
    """``strategy_table``'s output as a report section (MADS Table 2), optionally with
    the bar chart's file."""
    rows = tuple(
        (group, str(s["n_dialogues"]), _num(s["c_str"], 2), _num(s["sigma"], 3),
         _num(s["cv"], 3),
         ", ".join(f"{code} {100 * share:.0f}%" for code, share in
                   sorted(s["shares"].items(), key=lambda kv: -kv[1])[:3] if share))
        for group, s in data["groups"].items())
    blocks: list[Table | Image | str] = [
        Table(("group", "dialogues", "C_str", "sigma", "CV", "top strategies"), rows),
        "C_str: mean distinct strategies per dialogue. sigma: sample standard deviation of the "
        "strategy-type shares; CV: that of the per-type counts over their mean (lower is "
        "more even). Strategies: " + "; ".join(f"{c} {n}" for c, n in data["strategies"].items()),
    ]
    if image is not None:
        blocks.append(Image(image, "strategy types per group"))
    return Section("Persuasion strategies", tuple(blocks))


def plot_strategy_bars(counts_by_group: Mapping[str, Mapping[str, int]], path: Path,
                       table: StrategyTable, title: str = "Persuasion strategies") -> Path:
    """Stacked bars of each group's strategy-type shares (MADS figure 3)."""
    cmap = colormaps["tab10" if len(table.codes) <= 10 else "tab20"]
    fig = Figure(figsize=(1.2 * len(counts_by_group) + 4.5, 5), layout="constrained")
    ax = fig.add_subplot()
    groups = list(counts_by_group)
    bottom = np.zeros(len(groups))
    totals = np.array([sum(counts_by_group[g].values()) for g in groups], dtype=np.float64)
    for k, strategy in enumerate(table.strategies):
        counts = np.array([counts_by_group[g].get(strategy.code, 0) for g in groups], dtype=float)
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.bar(range(len(groups)), shares, bottom=bottom, color=cmap(k % cmap.N),
               label=f"{strategy.code} {strategy.name}")
        bottom += shares
    ax.set_xticks(range(len(groups)), groups, parse_math=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of the strategy types used")
    ax.set_title(title, parse_math=False)
    fig.legend(loc="outside right upper", fontsize=8)
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version: same bytes
    return path

