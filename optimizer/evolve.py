"""The MADS optimization agent (EVOLUTION in its Algorithm 1): reflect on calls, rewrite the SOP.

The LLM sees the product sheet (background), the agent's fixed prompt and current Business
SOP, and a budgeted selection of calls (failures first, worst judged first, mixed with the
best successes); it reflects, then writes a complete updated SOP in the paper's
"Step n / Objective / Strategic Points / Key Notes" format. The reply is parsed and
checked before it becomes a new program version: figures not in the product sheet and
lines about the agent's identity or opt-outs (fixed rules, out of the SOP's reach) are
removed and reported. The input program is never modified.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from agent.compliance import is_opt_out, prompt_line_problems
from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.program import SOP_MAX_CHARS, AgentProgram
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.judge import JudgeScores, excerpt
from simulator.runner import is_success

CREATED_BY = "optimizer.evolve"
HEADER = "Business SOP"
EVOLVE_SAMPLING = Sampling(temperature=0.7, max_tokens=900)
"""A short reflection plus an SOP at its cap (~400 tokens) fits; with a ~2,000-token
prompt it stays inside a 3,072-token context."""
MIN_EXCERPT_CHARS = 600
"""Less of a call than this shows too little to learn from: show fewer calls instead."""
NOTE_MAX_CHARS = 400
FIXED_MAX_CHARS = 800


class EvolutionError(SalesvoiceError):
    """The optimizer's reply could not become an SOP (or the prompt could not be built)."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message + (f"; reply began: {raw[:200]!r}" if raw else ""))
        self.raw = raw


@dataclass(frozen=True, slots=True)
class RemovedLine:
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedSOP:
    sop: str
    removed: tuple[RemovedLine, ...]


@dataclass(frozen=True, slots=True)
class Evolution:
    program: AgentProgram
    """The new version; its parent is the input program's version."""
    raw: str
    """The optimizer's whole reply (reflection included)."""
    removed_lines: tuple[RemovedLine, ...]
    dialogues_used: tuple[str, ...]
    """Ids of the calls shown to the optimizer, in prompt order."""


# -- parsing -------------------------------------------------------------------------------
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_HEADER = re.compile(r"^(updated\s+)?business\s+sop\s*:?$", re.I)
_STEP = re.compile(r"^step\s*(\d+)\s*[:.\-\u2013\u2014)]?\s*(.*)$", re.I)
_STEP_REF = re.compile(r"\bstep\s*\d+\b", re.I)
_RULE_LINE = re.compile(r"^\s*([-*_=]\s*){3,}$")
_BULLET = re.compile(r"^([-*•·+]|\d+[.)])\s+")
_LABEL = re.compile(r"^- (?=(objective|strategic points|key notes)\b)", re.I)
_MARKUP = re.compile(r"\*\*|__|`")
_CLOSER = re.compile(
    r"^(this (updated |revised |new )?sop|these (steps|changes)|i hope|let me know|feel free"
    r"|by following|in summary|overall,|note that this"
    r"|with (this|these) (updated |revised |new )?(sop|steps|changes|plan))\b", re.I)
# The fixed rules (AI disclosure, opt-outs) live outside the SOP, so the SOP has no business
# discussing them; any line that does is dropped, whatever it says. Keywords, so a line
# like "never claim to be human" goes too (harmless: the fixed rule still says it).
_IDENTITY = re.compile(
    r"\b(AI|A\.I|artificial intelligence|chat ?bot|bot|robot|automated|virtual assistant"
    r"|human being|human agent|real (person|human)|live person|(a|be|are|is|being|not) human"
    r"|pretend\w*|impersonat\w*|pos(e|ing) as)\b", re.I)
_OPT_OUT_TALK = re.compile(
    r"\bopt[- ]?outs?\b|\bdnc\b|do[- ]not[- ]call|not to be (called|contacted)"
    r"|\b(ignore|ignoring|disregard\w*|overrid\w*)\b[^.]{0,40}\b(no|refusals?|requests?"
    r"|wish(es)?)\b", re.I)


def _clean(line: str) -> str:
    line = _MARKUP.sub("", line).strip().lstrip("#").strip()
    if (step := _STEP.match(line)) is not None:
        return f"Step {step.group(1)}: {step.group(2)}".rstrip(": ")
    return _LABEL.sub("", _BULLET.sub("- ", line))


def _start(lines: list[str]) -> int | None:
    """Index of the SOP's first line: the last header followed by a step, else the last
    "Step 1"."""
    steps = [i for i, line in enumerate(lines) if _STEP.match(line)]
    headers = [i for i, line in enumerate(lines)
               if _HEADER.match(line) and any(s > i for s in steps)]
    if headers:
        return headers[-1] + 1
    firsts = [i for i in steps if (m := _STEP.match(lines[i])) and m.group(1) == "1"]
    return firsts[-1] if firsts else None


def _why_removed(line: str, domain: DomainPack) -> str | None:
    if _IDENTITY.search(line):
        return "talks about being an AI or a human (a fixed rule, not the SOP's)"
    if is_opt_out(line) or _OPT_OUT_TALK.search(line):
        return "talks about opt-outs or overriding a refusal (a fixed rule, not the SOP's)"
    # The claim checker that guards speech (step numbers are not claims).
    if bad := prompt_line_problems(domain, _STEP_REF.sub(" ", line)):
        return "stopped by the claim checker: " + "; ".join(bad)
    return None


def _tidy(lines: list[str]) -> list[str]:
    """Drop steps left with no lines, number the others 1..n."""
    out = [line for i, line in enumerate(lines)
           if not (_STEP.match(line) and (i + 1 == len(lines) or _STEP.match(lines[i + 1])))]
    n = 0
    for i, line in enumerate(out):
        if (m := _STEP.match(line)) is not None:
            n += 1
            out[i] = f"Step {n}: {m.group(2)}".rstrip(": ")
    return out


def _cap(lines: list[str], max_chars: int) -> list[str]:
    """Whole lines up to ``max_chars`` with the header, without a dangling step header or
    label at the end."""
    kept: list[str] = []
    total = len(HEADER)
    for line in lines:
        if total + 1 + len(line) > max_chars:
            break
        kept.append(line)
        total += 1 + len(line)
    if len(kept) < len(lines):
        while kept and (_STEP.match(kept[-1]) or kept[-1].endswith(":")):
            kept.pop()
    return kept


def parse_sop(
    reply: str, domain: DomainPack, *, truncated: bool = False, max_chars: int = SOP_MAX_CHARS
) -> ParsedSOP:
    """The Business SOP in an optimizer reply, cleaned, checked and capped.

    ``truncated``: the reply hit max_tokens, so its last line may be cut mid-way.
    Raises EvolutionError when no SOP with steps is left.
    """
    if not reply.strip():
        raise EvolutionError("the optimizer returned an empty reply")
    raw_lines = _THINK.sub("", reply).splitlines()
    removed: list[RemovedLine] = []
    if truncated and raw_lines:
        removed.append(RemovedLine(raw_lines.pop().strip(), "cut off by max_tokens"))
    lines: list[str] = []
    for raw in raw_lines:
        if raw.strip().startswith("```"):
            continue
        lines.append("---" if _RULE_LINE.match(raw) else _clean(raw))
    start = _start(lines)
    if start is None:
        raise EvolutionError(
            f"the optimizer's reply has no '{HEADER}' with 'Step n:' lines", reply)
    body: list[str] = []
    for line in lines[start:]:
        if line == "---" or _CLOSER.match(line) or _HEADER.match(line):
            break
        if not line:
            continue
        if (why := _why_removed(line, domain)) is not None:
            removed.append(RemovedLine(line, why))
            if _STEP.match(line):
                body.append("Step 0")  # the step's other lines stay apart; renumbered below
        else:
            body.append(line)
    body = _cap(_tidy(body), max_chars)
    if not any(_STEP.match(line) for line in body):
        raise EvolutionError("no 'Step n:' line is left in the optimizer's SOP", reply)
    return ParsedSOP("\n".join([HEADER, *body]), tuple(removed))


# -- prompt --------------------------------------------------------------------------------
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


class _StepJSON(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phase: str = Field(min_length=3, max_length=40)
    objective: str = Field(min_length=5, max_length=110)
    points: list[Annotated[str, Field(min_length=5, max_length=130)]] = Field(
        min_length=1, max_length=2)
    key_notes: str = Field(max_length=110)


class _SOPJSON(BaseModel):
    """The structured reply: small models that drift in free text still fill a schema
    (every field capped, so the output cannot be cut into invalid JSON)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"x-guidance": {"whitespace_flexible": False}})
    reflection: str = Field(max_length=400)
    steps: list[_StepJSON] = Field(min_length=3, max_length=4)


def render_sop(steps: Sequence[_StepJSON]) -> str:
    """The MADS SOP text (Step n / Objective / Strategic Points / Key Notes)."""
    lines = [HEADER]
    for n, step in enumerate(steps, 1):
        lines += [f"Step {n}: {step.phase.strip()}", f"Objective: {step.objective.strip()}",
                  "Strategic Points:", *(f"- {p.strip()}" for p in step.points)]
        if step.key_notes.strip():
            lines.append(f"Key Notes: {step.key_notes.strip()}")
    return "\n".join(lines)


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


class Evolver:
    """Rewrites an agent program's Business SOP from its calls (the MADS optimization agent)."""

    def __init__(
        self,
        llm: LLM,
        domain: DomainPack,
        *,
        sampling: Sampling = EVOLVE_SAMPLING,
        max_dialogues: int = 6,
        budget_chars: int = 7000,
        structured: bool = True,
    ) -> None:
        """``structured``: the SOP as constrained JSON rendered into the MADS format
        (the embedded 1.5B model echoes the calls instead of writing free-text SOPs);
        off: the paper's free-text reply, parsed."""
        self.structured = structured
        self._llm = llm
        self.domain = domain
        self._sampling = sampling
        self.max_dialogues = max_dialogues
        self.budget_chars = budget_chars

    def messages(
        self,
        program: AgentProgram,
        dialogues: Sequence[Dialogue],
        scores: Mapping[str, JudgeScores] | None = None,
        *,
        note: str = "",
    ) -> tuple[list[ChatMessage], list[Dialogue]]:
        """The optimizer's prompt within ``budget_chars`` and the calls it shows."""
        scores = scores or {}
        current = program.sop.strip() or "(none yet: the Assistant has only the fixed part)"
        successes = sum(_verdict(d, scores) for d in dialogues)

        def user(background: str, history: str, shown: int) -> str:
            parts = [
                f"Background (the product sheet):\n{background}",
                "Assistant System Prompt\nFixed part:\n" + _fixed_part(program, self.domain)
                + f"\nCurrent {HEADER}:\n{current}",
                f"Chat History ({shown} of {len(dialogues)} calls shown; {successes} of "
                f"{len(dialogues)} succeeded):\n{history}",
            ]
            if note.strip():
                parts.append("Operator note: " + note.strip()[:NOTE_MAX_CHARS])
            # The task comes last: small models follow the most recent instruction.
            tail = [_TASK, _JSON_FORMAT] if self.structured else [_TASK]
            return "\n\n".join([*parts, *tail, _END])

        def room_with(background: str) -> int:
            return self.budget_chars - len(_SYSTEM) - len(user(background, "", self.max_dialogues))

        # The full sheet when it leaves at least 40% of the budget for calls, else a brief one.
        background = self.domain.sheet()
        if room_with(background) < 0.4 * self.budget_chars:
            background = _brief_sheet(self.domain)
        chosen = select_dialogues(dialogues, scores, self.max_dialogues)
        if not chosen:
            raise EvolutionError("no dialogue with a caller line to learn from")
        history, shown = _history(chosen, scores, room_with(background))
        if not shown:
            raise EvolutionError(
                f"budget_chars={self.budget_chars} leaves {room_with(background)} chars for "
                f"the chat history, under {MIN_EXCERPT_CHARS}; raise budget_chars")
        text = user(background, history, len(shown))
        return [ChatMessage("system", _SYSTEM), ChatMessage("user", text)], shown

    async def evolve(
        self,
        program: AgentProgram,
        dialogues: Sequence[Dialogue],
        scores: Mapping[str, JudgeScores] | None = None,
        *,
        note: str = "",
    ) -> Evolution:
        """A new program version with the rewritten SOP; ``program`` is untouched.
        ``scores`` (by dialogue id) rank the failures and replace recorded outcomes;
        ``note`` adds an instruction (e.g. the acceptance rate against its target)."""
        if "{playbook}" not in program.system_prompt:
            raise EvolutionError(
                f"program {program.version} has no {{playbook}} in its system prompt, so an "
                "SOP would never reach the agent; add it where the playbook should go")
        messages, shown = self.messages(program, dialogues, scores, note=note)
        if self.structured:
            try:
                out = await self._llm.complete_json(messages, _SOPJSON, self._sampling)
            except SalesvoiceError as exc:
                raise EvolutionError(f"the optimizer's reply is not a valid SOP: {exc}") from exc
            raw, text, truncated = out.completion.text, render_sop(out.value.steps), False
        else:
            completion = await self._llm.complete(messages, self._sampling)
            raw = text = completion.text
            truncated = completion.finish_reason == "length"
        parsed = parse_sop(text, self.domain, truncated=truncated)
        try:
            child = program.evolve(created_by=CREATED_BY, sop=parsed.sop)
        except ValueError as exc:  # unchanged SOP, or a program without {playbook}
            raise EvolutionError(f"the new SOP cannot make a program version: {exc}",
                                 raw) from None
        return Evolution(child, raw, parsed.removed, tuple(d.id for d in shown))
