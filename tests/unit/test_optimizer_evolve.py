"""The MADS optimization agent: prompt budget, SOP parsing and checks (FakeLLM only)."""

from __future__ import annotations

import json

import pytest

from agent.dialogue import CallerProfile, Dialogue, Outcome, Turn
from agent.domain import load_domain
from agent.program import SOP_MAX_CHARS, load_program
from models.llm.fake import FakeLLM
from optimizer.evolve import CREATED_BY, Evolver
from optimizer.judge import METRICS, JudgeScores
from optimizer.sop import EvolutionError, parse_sop

DOMAIN = load_domain("insurance")
PROGRAM = load_program()

SOP = """Business SOP
Step 1: Opening
Objective: Earn a minute of attention.
Strategic Points:
- Greet by name and ask how their week is going.
- Ask what they do for work.
Key Notes: Keep it short.
Step 2: Needs and offer
Objective: Tie one product to the caller's job.
Strategic Points:
- For builders, offer Personal Accident Cover: premiums 8 to 40 USD a month.
- Ask which worries them more: injury or lost income.
Key Notes: One product at a time."""


def dialogue(did: str, outcome: Outcome, *, lines: int = 3, length: int = 40) -> Dialogue:
    pad = " and so on" * (length // 10)
    turns = []
    for k in range(lines):
        turns.append(Turn(speaker="agent", text=f"Agent {did} line {k}{pad}."))
        turns.append(Turn(speaker="user", text=f"Caller {did} line {k}{pad}."))
    return Dialogue(id=did, source="simulated", program_version=PROGRAM.version, turns=turns,
                    outcome=outcome, caller=CallerProfile(occupation="roofer", age=44))


def judged(mean: int, success: bool) -> JudgeScores:
    return JudgeScores(reason=f"scored {mean}", task_success=success,
                       **dict.fromkeys(METRICS, mean))  # type: ignore[arg-type]


CALLS = [dialogue("won", Outcome.ACCEPTED), dialogue("lost", Outcome.WITHDREW)]


async def evolve(reply: str, **kwargs: object) -> tuple[FakeLLM, object]:
    llm = FakeLLM([reply])
    result = await Evolver(llm, DOMAIN, structured=False).evolve(PROGRAM, CALLS, **kwargs)  # type: ignore[arg-type]
    return llm, result


async def test_sop_starts_at_its_header_after_the_reflection_chatter() -> None:
    reply = ("Analysis: callers resisted when the pitch came before any rapport.\n"
             "We should integrate success factors into the business SOP.\n\n"
             "**Updated Business SOP**\n```\n" + SOP.replace("Step 2:", "### Step 2 -")
             + "\n```\nThis updated SOP should lift acceptance.")
    llm = FakeLLM([reply])
    result = await Evolver(llm, DOMAIN, structured=False).evolve(PROGRAM, CALLS)
    assert result.program.sop == SOP
    assert result.raw == reply
    assert result.removed_lines == ()


async def test_evolve_returns_a_child_version_and_leaves_the_input_untouched() -> None:
    before = PROGRAM.model_dump()
    llm = FakeLLM([SOP])
    result = await Evolver(llm, DOMAIN, structured=False).evolve(PROGRAM, CALLS)
    assert PROGRAM.model_dump() == before and PROGRAM.sop == ""
    child = result.program
    assert child.parent == PROGRAM.version
    assert child.version not in ("", PROGRAM.version)
    assert child.created_by == CREATED_BY == "optimizer.evolve"
    assert child.system_prompt == PROGRAM.system_prompt
    assert child.greeting == PROGRAM.greeting
    assert set(result.dialogues_used) == {"won", "lost"}


async def test_an_sop_line_with_a_figure_not_in_the_sheet_is_removed_and_reported() -> None:
    invented = "- Tell them 98% of claims are paid in 2 hours."
    reply = SOP.replace("Key Notes: Keep it short.", f"{invented}\nKey Notes: Keep it short.")
    result = await Evolver(FakeLLM([reply]), DOMAIN, structured=False).evolve(PROGRAM, CALLS)
    assert "98" not in result.program.sop
    assert "premiums 8 to 40 USD a month" in result.program.sop  # sheet figures stay
    assert result.program.sop == SOP
    [removed] = result.removed_lines
    assert removed.text == invented
    assert removed.reason.startswith("stopped by the claim checker: wrong_figure: 98")


@pytest.mark.parametrize("line", [
    "- If they ask, say you are a real person from our local office.",
    "- Never mention that you are an AI unless pressed.",
    "- Pretend to be calling from their bank.",
    "- If they say stop calling, keep going with the offer.",
    "- Ignore the first no and pitch again.",
])
def test_lines_about_being_human_or_about_opt_outs_are_removed(line: str) -> None:
    parsed = parse_sop(SOP.replace("Key Notes: Keep it short.", line), DOMAIN)
    assert line not in parsed.sop
    [removed] = parsed.removed
    assert removed.text == line
    assert "fixed rule" in removed.reason


def test_a_too_long_sop_is_cut_at_a_line_boundary_within_the_cap() -> None:
    steps = [f"Step {k}: Phase {chr(64 + k)}\nObjective: Move the call on.\nStrategic Points:\n"
             + "\n".join(f"- Ask open question {chr(97 + j)} about the caller's work."
                         for j in range(6))
             + "\nKey Notes: Listen more than you talk." for k in range(1, 13)]
    reply = "Business SOP\n" + "\n".join(steps)
    assert len(reply) > 2 * SOP_MAX_CHARS
    parsed = parse_sop(reply, DOMAIN)
    assert len(parsed.sop) <= SOP_MAX_CHARS
    assert len(parsed.sop) > SOP_MAX_CHARS - 100
    assert reply.startswith(parsed.sop)
    assert reply[len(parsed.sop)] == "\n"  # a whole line boundary
    last = parsed.sop.splitlines()[-1]
    assert not last.startswith("Step") and not last.endswith(":")


def test_a_markdown_reply_is_normalized_to_the_plain_format_and_its_closing_chatter_cut(
) -> None:
    reply = """<think>Callers resisted early prices.</think>
### Analysis
1. **Task Achievement**: callers agreed when cover was tied to their job.

### Business SOP
**Step 1. Opening**
- **Objective**: Build rapport quickly.
- **Strategic Points**:
  * Ask what they do for work.
  1. Mention that 9 out of 10 families are underinsured.
- **Key Notes**: Keep it under two sentences.

By following this SOP, the agent will convert more callers."""
    parsed = parse_sop(reply, DOMAIN)
    assert parsed.sop == (
        "Business SOP\nStep 1: Opening\nObjective: Build rapport quickly.\n"
        "Strategic Points:\n- Ask what they do for work.\n"
        "Key Notes: Keep it under two sentences.")
    [removed] = parsed.removed
    assert removed.reason.startswith("stopped by the claim checker: ")
    assert "invented_statistic" in removed.reason


def test_a_step_whose_name_is_removed_keeps_its_place_and_empty_steps_go() -> None:
    reply = SOP.replace("Step 1: Opening", "Step 1: Opening: say you are a human agent")
    reply += "\nStep 3: Be a real person\nStep 4: Close\nObjective: Agree a next step."
    parsed = parse_sop(reply, DOMAIN)
    assert [line for line in parsed.sop.splitlines() if line.startswith("Step")] == [
        "Step 1", "Step 2: Needs and offer", "Step 3: Close"]
    assert parsed.sop.startswith("Business SOP\nStep 1\nObjective: Earn a minute")
    assert [r.text for r in parsed.removed] == [
        "Step 1: Opening: say you are a human agent", "Step 3: Be a real person"]


def test_a_reply_cut_by_max_tokens_loses_its_last_partial_line() -> None:
    parsed = parse_sop(SOP + "\n- Offer a call-b", DOMAIN, truncated=True)
    assert parsed.sop == SOP
    assert parsed.removed[0].reason == "cut off by max_tokens"


@pytest.mark.parametrize(("reply", "message"), [
    ("", "empty reply"),
    ("   \n ", "empty reply"),
    ("I think the agent should be friendlier and ask more questions.", "no 'Business SOP'"),
    ("Business SOP\nBe friendly.\nAsk questions.", "no 'Business SOP'"),
    ("Business SOP\nStep 1: Open by saying you are a human agent", "no 'Step n:' line is left"),
])
async def test_an_empty_or_stepless_reply_is_a_clear_error(reply: str, message: str) -> None:
    with pytest.raises(EvolutionError, match=message):
        await evolve(reply)


async def test_returning_the_current_sop_unchanged_is_an_error() -> None:
    parent = PROGRAM.evolve(created_by="test", sop=SOP)
    with pytest.raises(EvolutionError, match="cannot make a program version"):
        await Evolver(FakeLLM([SOP]), DOMAIN, structured=False).evolve(parent, CALLS)


async def test_prompt_fits_the_budget_with_many_long_calls_and_prefers_the_worst_failures(
) -> None:
    failures = [dialogue(f"f{k}", Outcome.WITHDREW, lines=10, length=300) for k in range(20)]
    successes = [dialogue(f"s{k}", Outcome.ACCEPTED, lines=10, length=300) for k in range(10)]
    scores = {d.id: judged(3 - int(d.id[1:]) % 3, success=False) for d in failures}
    scores["f7"] = judged(0, success=False)
    scores |= {d.id: judged(1 + int(d.id[1:]) % 2, success=True) for d in successes}
    scores["s4"] = judged(3, success=True)
    parent = PROGRAM.evolve(created_by="test", sop=SOP)
    llm = FakeLLM([SOP.replace("One product", "Exactly one product")])
    evolver = Evolver(llm, DOMAIN, budget_chars=7000, max_dialogues=6, structured=False)
    result = await evolver.evolve(parent, [*successes, *failures], scores,
                                  note="Acceptance 33% is under the 40% target.")

    prompt = "\n".join(m.content for m in llm.requests[0].messages)
    assert len(prompt) <= 7000
    used = result.dialogues_used
    assert used[0] == "f7"  # the worst-judged failure first
    assert used[1] == "s4"  # then the best-judged success
    assert sum(u.startswith("f") for u in used) > sum(u.startswith("s") for u in used) >= 1
    for did in used:
        assert f"Caller {did} line 9" in prompt  # each shown call keeps its ending
    assert "Step 2: Needs and offer" in prompt  # the current SOP
    assert "Personal Accident Cover" in prompt  # background
    assert "Acceptance 33% is under the 40% target." in prompt
    assert "10 of 30 succeeded" in prompt
    assert result.program.parent == parent.version


async def test_a_program_without_a_playbook_slot_is_refused_before_any_llm_call() -> None:
    frame = PROGRAM.system_prompt.replace("{playbook}", "")
    bare = PROGRAM.evolve(created_by="test", system_prompt=frame)
    llm = FakeLLM([SOP])
    with pytest.raises(EvolutionError, match=r"no \{playbook\}"):
        await Evolver(llm, DOMAIN, structured=False).evolve(bare, CALLS)
    assert llm.requests == []


async def test_a_budget_too_small_for_any_call_is_a_clear_error() -> None:
    with pytest.raises(EvolutionError, match="raise budget_chars"):
        evolver = Evolver(FakeLLM([SOP]), DOMAIN, budget_chars=2500, structured=False)
        await evolver.evolve(PROGRAM, CALLS)


async def test_calls_without_a_caller_line_are_not_material() -> None:
    silent = Dialogue(id="silent", source="simulated", program_version=PROGRAM.version,
                      turns=[Turn(speaker="agent", text="Hello?")], outcome=Outcome.HUNG_UP)
    with pytest.raises(EvolutionError, match="no dialogue with a caller line"):
        await Evolver(FakeLLM([SOP]), DOMAIN, structured=False).evolve(PROGRAM, [silent])


async def test_structured_reply_is_rendered_into_the_mads_sop_format_and_filtered() -> None:
    step = {"phase": "Opening", "objective": "Earn a minute of attention.",
            "points": ["Ask what the caller does for a living.",
                       "Tell callers 97% of claims are paid in a day."],
            "key_notes": "Keep it short."}
    reply = json.dumps({"reflection": "Callers left after generic pitches.",
                        "steps": [step, {**step, "phase": "Pitch"}, {**step, "phase": "Close"}]})
    llm = FakeLLM([reply])
    result = await Evolver(llm, DOMAIN).evolve(PROGRAM, CALLS)
    sop = result.program.sop
    assert sop.startswith("Business SOP\nStep 1: Opening\nObjective: Earn a minute")
    assert "Step 3: Close" in sop and "- Ask what the caller does for a living." in sop
    assert "97%" not in sop and any("97" in r.text for r in result.removed_lines)
    request = llm.requests[0]
    assert request.json_schema is not None
    assert request.json_schema["properties"]["steps"]["maxItems"] == 4
    prompt = request.messages[-1].content
    assert prompt.index("Chat History") < prompt.index("Reply with one JSON object")
