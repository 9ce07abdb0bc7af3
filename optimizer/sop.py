"""The Business SOP in an optimizer reply (MADS: "Step n / Objective / Strategic Points /
Key Notes"): found, cleaned, checked and capped.

A parsed reply is checked before it can become a program version: figures not in the
product sheet and lines about the agent's identity or opt-outs (fixed rules, out of the
SOP's reach) are removed and reported, and the text is capped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.compliance import is_opt_out, prompt_line_problems
from agent.domain import DomainPack
from agent.program import SOP_MAX_CHARS
from models.errors import SalesvoiceError

HEADER = "Business SOP"


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


# -- parsing a free-text reply -------------------------------------------------------------
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
