"""What the sales agent's model is asked and held to: the system prompt, the strategy
line, and the output shapes (JSON schema, pydantic thought, LLGuidance grammars). Pure."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from agent.dialogue import Template, UserState
from agent.domain import DomainPack
from agent.occupation import SECTORS
from agent.program import AgentProgram
from agent.refs import response_pattern


def thought_array_schema(domain: DomainPack, max_reply_chars: int = 260) -> dict[str, Any]:
    """JSON schema of the single-model output, compact (no whitespace) on llama.cpp."""
    return {
        "type": "array",
        "prefixItems": [
            {"enum": [t.value for t in Template]},
            {"enum": ["none", *domain.intent_ids]},
            {"enum": [s.value for s in UserState]},
            {"enum": ["?", *SECTORS]},
            {"type": "string", "minLength": 1, "maxLength": max_reply_chars,
             "pattern": response_pattern(list(domain.refs))},
        ],
        "items": False,
        "minItems": 5,
        "x-guidance": {"whitespace_flexible": False},
    }


def thought_object_model(domain: DomainPack) -> type[BaseModel]:
    """The two-model thought: a pydantic model whose enums come from the domain."""
    intent = Literal[("none", *domain.intent_ids)]  # type: ignore[valid-type]
    sector = Literal[("?", *SECTORS)]  # type: ignore[valid-type]
    return create_model(
        "ThoughtJSON",
        __config__=ConfigDict(extra="forbid"),
        template=(Template, ...),
        intent=(intent, ...),
        user_state=(UserState, ...),
        sector=(sector, ...),
        note=(str, Field(max_length=160)),
    )


def render_system_prompt(program: AgentProgram, domain: DomainPack, products: str) -> str:
    return program.system_prompt.format(
        agent_name=program.agent_name,
        company=domain.company,
        products=products,
        templates="; ".join(program.thought_templates.values()),
        playbook=f"Playbook:\n{program.sop.strip()}\n" if program.sop.strip() else "",
    )


def strategy_text(program: AgentProgram, domain: DomainPack, sector: str | None) -> str | None:
    """The program's strategy line for a caller of ``sector`` (None: no strategy)."""
    entry = program.strategy.get(sector or "")
    if entry is None:
        return None
    names = " and ".join(domain.product(i).name for i in entry.intents
                         if i in domain.intent_ids)
    return program.strategy_line.format(intents=names, rationale=entry.rationale)


def thought_grammar(leading: list[list[str]]) -> str:
    """The thought fields alone, as the start of the single-model answer (speculation)."""
    fields = ' "," '.join("(" + " | ".join(json.dumps(json.dumps(v)) for v in options) + ")"
                          for options in leading)
    return f'%llguidance {{}}\nstart: "[" {fields} "]"\n'
