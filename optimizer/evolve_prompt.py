"""The MADS optimization agent's prompt: the product sheet, the agent's fixed prompt and
current SOP, and a budgeted selection of calls (failures first, worst judged first, mixed
with the best successes), then the reflection task and the SOP format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.program import SOP_MAX_CHARS, AgentProgram
from models.llm.base import ChatMessage
from optimizer.judge import JudgeScores, excerpt
from optimizer.sop import HEADER, EvolutionError
from simulator.runner import is_success

MIN_EXCERPT_CHARS = 600
"""Less of a call than this shows too little to learn from: show fewer calls instead."""
NOTE_MAX_CHARS = 400
FIXED_MAX_CHARS = 800


_SYSTEM = (
    "You are the optimization agent of an outbound insurance sales team. You study calls "
    "made by an AI phone agent (the Assistant) and rewrite its Business SOP, the call "
    "playbook it follows, so that more callers agree to buy."
)
_TASK = "\n".join((
    "Task: reflect deeply on the chat history, then write an improved Business SOP.",
    "",
    "Analysis (at most 6 short lines):",
    "1. Task achievement: in success calls, what made the caller agree? Keep it in the SOP. "
    "In failure calls, what is the root cause, and which specific change prevents it?",
    "2. Strategy review: which techniques, pacing and wording worked; what was missing; at "
    "which points did callers show interest or resistance?",
    "3. Action plan: concrete fixes, with different handling for different kinds of callers.",
    "",
    "Then write the complete updated SOP in exactly this format:",
    HEADER,
    "Step 1: <phase name>",
    "Objective: <specific goal>",
    "Strategic Points:",
    "- <specific action the Assistant can take>",
    "- <another action>",
    "Key Notes: <critical reminders>",
    "Step 2: <phase name>",
    "(and so on)",
    "",
    "Constraints:",
    "- Every fact must come from the Background; write no figure, statistic or promise that "
    "is not in it.",
    "- Be concrete and actionable; no vague advice.",
    "- Keep the strategies that the calls show to work.",
    f"- 3 to 6 steps, under {SOP_MAX_CHARS} characters in all.",
    "- The fixed part of the Assistant's prompt (AI disclosure, opt-outs, privacy, reply "
    "format) is not yours to change: do not restate or contradict it.",
))
_END = "Get started with the analysis and the optimization!"
_JSON_FORMAT = (
    "Reply with one JSON object: \"reflection\" (the analysis, at most 6 short lines in "
    "one string), then \"steps\": 3 or 4 steps of the updated SOP, each with \"phase\", "
    "\"objective\", \"points\" (1 or 2 specific actions the Assistant can take) and "
    "\"key_notes\"."
)


def _brief_sheet(domain: DomainPack) -> str:
    """One short line per product: names, what it does and premiums."""
    lines = []
    for p in domain.products:
        line = f"- {p.name} ({p.id}): {p.summary}"
        if p.fact("premium") is not None:
            line += " Premiums " + domain.expand("{" + p.id + ".premium}") + "."
        lines.append(line)
    return "\n".join(lines)


def _fixed_part(program: AgentProgram, domain: DomainPack) -> str:
    """The system prompt up to where the SOP goes: role and rules, without products or
    reply format."""
    head = program.system_prompt.split("{playbook}", 1)[0]
    text = head.format(
        agent_name=program.agent_name, company=domain.company, products="",
        templates="; ".join(program.thought_templates.values()), playbook="",
    ).strip()
    return text[:FIXED_MAX_CHARS]


def _verdict(dialogue: Dialogue, scores: Mapping[str, JudgeScores]) -> bool:
    s = scores.get(dialogue.id)
    return s.task_success if s is not None else is_success(dialogue)


def select_dialogues(
    dialogues: Sequence[Dialogue], scores: Mapping[str, JudgeScores], limit: int
) -> list[Dialogue]:
    """Up to ``limit`` calls in priority order: failures (worst judged first) and
    successes (best judged first) in a 2:1 mix, starting with a failure. Success is the
    judge's verdict where there is one, else the recorded outcome."""
    usable = [d for d in dialogues if any(t.speaker == "user" for t in d.turns)]

    def mean(d: Dialogue) -> float | None:
        s = scores.get(d.id)
        return s.mean if s is not None else None

    failures = sorted((d for d in usable if not _verdict(d, scores)),
                      key=lambda d: (mean(d) is None, mean(d) or 0.0))
    successes = sorted((d for d in usable if _verdict(d, scores)),
                       key=lambda d: (mean(d) is None, -(mean(d) or 0.0)))
    out: list[Dialogue] = []
    while len(out) < limit and (failures or successes):
        want_success = len(out) % 3 == 1
        source = (successes if (want_success and successes) or not failures else failures)
        out.append(source.pop(0))
    return out


def _call_header(n: int, dialogue: Dialogue, scores: Mapping[str, JudgeScores]) -> str:
    verdict = "SUCCESS" if _verdict(dialogue, scores) else "FAILURE"
    parts = [f"### Call {n}: {verdict}"
             + (f" ({dialogue.outcome.value})" if dialogue.outcome else "")]
    caller = [str(x) for x in (dialogue.caller.occupation, dialogue.caller.age) if x]
    if caller:
        parts.append("caller: " + ", ".join(caller))
    if (s := scores.get(dialogue.id)) is not None:
        parts.append(f'judge {s.mean:.1f}/3: "{s.reason}"')
    return "; ".join(parts)


def _history(
    chosen: list[Dialogue], scores: Mapping[str, JudgeScores], room: int
) -> tuple[str, list[Dialogue]]:
    """The calls as text in ``room`` chars: fewer calls rather than slivers of many, then
    shares water-filled (short calls leave their unused share to long ones)."""
    chosen = list(chosen)
    headers = [_call_header(i + 1, d, scores) for i, d in enumerate(chosen)]
    while chosen:
        overhead = sum(len(h) + 3 for h in headers)  # newline after header, blank line
        if (room - overhead) // len(chosen) >= MIN_EXCERPT_CHARS or len(chosen) == 1:
            break
        chosen.pop()
        headers.pop()
    if not chosen or room - len(headers[0]) - 3 < MIN_EXCERPT_CHARS:
        return "", []
    full = [len(excerpt(d, 1 << 30)) for d in chosen]
    left = room - sum(len(h) + 3 for h in headers)
    shares = [0] * len(chosen)
    for k, i in enumerate(sorted(range(len(chosen)), key=full.__getitem__)):
        shares[i] = min(full[i], left // (len(chosen) - k))
        left -= shares[i]
    blocks = [f"{h}\n{excerpt(d, s)}" for h, d, s in zip(headers, chosen, shares, strict=True)]
    return "\n\n".join(blocks), chosen


def evolution_prompt(
    program: AgentProgram,
    dialogues: Sequence[Dialogue],
    scores: Mapping[str, JudgeScores],
    domain: DomainPack,
    *,
    structured: bool,
    max_dialogues: int,
    budget_chars: int,
    note: str = "",
) -> tuple[list[ChatMessage], list[Dialogue]]:
    """The optimizer's prompt within ``budget_chars`` and the calls it shows;
    ``structured``: the reply is asked for as JSON (``optimizer.sop.SOPReply``)."""
    current = program.sop.strip() or "(none yet: the Assistant has only the fixed part)"
    successes = sum(_verdict(d, scores) for d in dialogues)

    def user(background: str, history: str, shown: int) -> str:
        parts = [
            f"Background (the product sheet):\n{background}",
            "Assistant System Prompt\nFixed part:\n" + _fixed_part(program, domain)
            + f"\nCurrent {HEADER}:\n{current}",
            f"Chat History ({shown} of {len(dialogues)} calls shown; {successes} of "
            f"{len(dialogues)} succeeded):\n{history}",
        ]
        if note.strip():
            parts.append("Operator note: " + note.strip()[:NOTE_MAX_CHARS])
        # The task comes last: small models follow the most recent instruction.
        tail = [_TASK, _JSON_FORMAT] if structured else [_TASK]
        return "\n\n".join([*parts, *tail, _END])

    def room_with(background: str) -> int:
        return budget_chars - len(_SYSTEM) - len(user(background, "", max_dialogues))

    # The full sheet when it leaves at least 40% of the budget for calls, else a brief one.
    background = domain.sheet()
    if room_with(background) < 0.4 * budget_chars:
        background = _brief_sheet(domain)
    chosen = select_dialogues(dialogues, scores, max_dialogues)
    if not chosen:
        raise EvolutionError("no dialogue with a caller line to learn from")
    history, shown = _history(chosen, scores, room_with(background))
    if not shown:
        raise EvolutionError(
            f"budget_chars={budget_chars} leaves {room_with(background)} chars for "
            f"the chat history, under {MIN_EXCERPT_CHARS}; raise budget_chars")
    text = user(background, history, len(shown))
    return [ChatMessage("system", _SYSTEM), ChatMessage("user", text)], shown
