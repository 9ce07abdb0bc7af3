"""Dialogue transcripts as the optimizer's LLM prompts see them (pure).

One numbered round per caller line, so a classifier's per-round answers map back to
turns; the agent's private thought is never shown (judges see what the caller heard).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.dialogue import Dialogue


@dataclass(frozen=True, slots=True)
class Round:
    """A caller line and the agent line just before it (what the caller reacted to)."""

    number: int
    """1-based, in caller-line order."""
    turn_index: int
    """Index of the caller's turn in ``dialogue.turns``."""
    agent: str
    user: str


def rounds(dialogue: Dialogue) -> list[Round]:
    out: list[Round] = []
    agent_line = ""
    for i, turn in enumerate(dialogue.turns):
        if turn.speaker == "agent":
            agent_line = turn.text
        else:
            out.append(Round(len(out) + 1, i, agent_line, turn.text))
            agent_line = ""
    return out


def transcript(dialogue: Dialogue, *, agent: str = "Assistant", user: str = "User",
               numbered: bool = True, max_chars: int = 6000) -> str:
    """``[Round n] Assistant: ... / User: ...`` lines; the oldest lines are cut first
    when the text would pass ``max_chars`` (the last rounds decide the outcome)."""
    lines: list[str] = []
    n = 0
    for turn in dialogue.turns:
        if turn.speaker == "user":
            n += 1
            prefix = f"[Round {n}] " if numbered else ""
            lines.append(f"{prefix}{user}: {turn.text}")
        else:
            lines.append(f"{agent}: {turn.text}")
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = "...\n" + text[-max_chars:].split("\n", 1)[-1]
    return text
