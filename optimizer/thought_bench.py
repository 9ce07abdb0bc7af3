"""``salesvoice bench thought``: the learned thought head against the LLM's thought, paired,
on turns neither chose: the independently labelled set and programmatic users' lines
whose truth is planted (what the user decided, about which product, and its sector).

Prints a table per field: accuracy of each with a Wilson 95 % interval, and the exact
McNemar p-value of the paired difference. Asserts nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.dialogue import CallerProfile, Outcome
from agent.domain import DomainPack
from agent.policy import SalesAgent
from agent.program import AgentProgram
from agent.stats import mcnemar, wilson
from agent.thought_head import ThoughtHead
from models.llm.base import LLM
from simulator.persona import Persona
from simulator.users import PlantedWorld, ProgrammaticUser

_STATE = {Outcome.ACCEPTED: "accept", Outcome.WITHDREW: "withdraw",
          Outcome.GOODBYE: "goodbye", Outcome.OPTED_OUT: "opt_out"}
_ORDER = ("template", "product", "state", "sector")
"""The fields in the single-model answer's order."""
GREETING = "Hi, this is Ava, an AI assistant calling from Acme Insurance. Do you have a minute?"
_SMALL_TALK = ("How has your week been so far?", "Do you have any plans for the weekend?",
               "That sounds nice. Anything exciting coming up?")


def _pitch(domain: DomainPack, intent: str) -> str:
    product = domain.product(intent)
    return f"Have you thought about {product.name}? It {product.summary[0].lower()}" + (
        product.summary[1:])


def planted_turns(personas: Sequence[Persona], world: PlantedWorld, domain: DomainPack,
                  seed: int = 0) -> list[dict[str, str]]:
    """Turns of programmatic users with their planted truth: the state their decision
    implies (a pitch turned down is a withdrawal from it, as the labelled sets define
    it), its product when the user named one, and the sector when they said what they do,
    by name or indirectly ("" where the truth of a field is not planted)."""
    rows = []
    for persona in personas:
        user = ProgrammaticUser(persona, world, domain, seed=seed)
        rng = random.Random(f"{persona.id}/{seed}/agent")
        others = [i for i in domain.intent_ids if i != user.hidden]
        script = [GREETING, "What do you do for a living?", rng.choice(_SMALL_TALK),
                  _pitch(domain, rng.choice(others)), _pitch(domain, user.hidden)]
        for agent_line in script:
            line = user.decide(agent_line)
            # A pitch turned down on the line is a withdrawal from that product.
            declined = str(line.hints.get("declined", ""))
            state = (_STATE.get(line.verdict, "engaged") if line.verdict
                     else "withdraw" if declined else "engaged")
            # The user said what they do, by name or indirectly: the sector is planted.
            said_job = "job" in line.hints
            rows.append({"agent": agent_line, "caller": line.text, "state": state,
                         "product": line.intent or declined, "template": "",
                         "sector": persona.sector if said_job else "?"})
            if line.verdict in _STATE:
                break
    return rows


def compare(head: ThoughtHead, rows: list[dict[str, str]],
            llm_fields: Sequence[list[str] | None] | None) -> dict[str, Any]:
    """Accuracy per field of the head (and of the LLM's fields, paired, when given) on
    the rows whose truth for that field is known."""
    t0 = time.perf_counter()
    predicted = head.predict_many([r["agent"] for r in rows], [r["caller"] for r in rows])
    head_ms = (time.perf_counter() - t0) * 1000 / max(1, len(rows))
    out: dict[str, Any] = {"rows": len(rows), "head_ms_per_turn": round(head_ms, 2),
                           "fields": {}}
    for i, name in enumerate(_ORDER):
        known = [k for k, r in enumerate(rows) if r[name]]
        if not known:
            continue
        head_right = [predicted[k][name][0] == rows[k][name] for k in known]
        entry: dict[str, Any] = {"of": len(known), "head": _rate(head_right)}
        if llm_fields is not None:
            llm_right = [(f := llm_fields[k]) is not None and f[i] == rows[k][name]
                         for k in known]
            entry["llm"] = _rate(llm_right)
            only_head = sum(h and not g for h, g in zip(head_right, llm_right, strict=True))
            only_llm = sum(g and not h for h, g in zip(head_right, llm_right, strict=True))
            entry["paired"] = {"only_head_right": only_head, "only_llm_right": only_llm,
                               "mcnemar_p": mcnemar(only_head, only_llm)}
        out["fields"][name] = entry
    return out


def _rate(right: list[bool]) -> dict[str, Any]:
    k = sum(right)
    return {"right": k, "accuracy": k / len(right), "ci95": wilson(k, len(right))}


async def llm_thoughts(llm: LLM, program: AgentProgram, rows: list[dict[str, str]],
                       progress: Callable[[int], None]) -> list[list[str] | None]:
    """The LLM's thought fields for each turn, as the agent would write them live."""
    out = []
    for i, r in enumerate(rows):
        agent = SalesAgent(program, llm, caller=CallerProfile(), session="bench-thought")
        agent.commit("", r["agent"], False)
        out.append(await agent.llm_thought(r["caller"]))
        progress(i + 1)
    return out


def print_comparison(console: Console, title: str, result: dict[str, Any]) -> None:
    table = Table(title=f"{title}: {result['rows']} turns "
                        f"(head {result['head_ms_per_turn']} ms per turn)")
    for col in ("field", "turns", "learned head", "LLM thought", "only head / only LLM right",
                "McNemar p"):
        table.add_column(col)
    for name, f in result["fields"].items():
        llm = f.get("llm")
        paired = f.get("paired", {})
        table.add_row(name, str(f["of"]), _shown(f["head"]), _shown(llm) if llm else "-",
                      f"{paired['only_head_right']} / {paired['only_llm_right']}"
                      if paired else "-",
                      f"{paired['mcnemar_p']:.3g}" if paired else "-")
    console.print(table)


def _shown(rate: dict[str, Any]) -> str:
    lo, hi = rate["ci95"]
    return f"{rate['accuracy']:.1%} ({lo:.0%} to {hi:.0%})"
