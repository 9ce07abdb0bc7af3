"""``salesvoice dataset build``: dialogues → SFT / KTO / DPO in the agent's own format."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.compliance import ComplianceGuard
from agent.dialogue import CallerProfile, Dialogue, Outcome, Template, Thought, Turn
from agent.domain import load_domain
from agent.policy import SalesAgent
from agent.program import AgentProgram, load_program
from agent.prompt import render_system_prompt
from agent.refs import RefExpander
from models.errors import ConfigError
from models.llm import FakeLLM, LLMRequest
from optimizer.dataset import DatasetBuilder, DatasetConfig, EmptyDataset, load_scores, with_refs
from optimizer.judge import JudgeScores
from server.cli import main
from simulator.evaluate import outcome_of
from simulator.evaluate_bench import World, planted_program
from simulator.users import load_world

DOMAIN = load_domain("insurance")
BASE = load_program("insurance-default")
RULES = DatasetConfig(claim_head=False)
"""Rules-only claim checking: the filters under test do not depend on the learned head."""


def in_mode(mode: str) -> AgentProgram:
    decoding = BASE.decoding.model_copy(update={"mode": mode})
    return BASE.evolve("test", decoding=decoding.model_dump())


def builder(config: DatasetConfig = RULES, program: AgentProgram = BASE) -> DatasetBuilder:
    return DatasetBuilder(config, program, DOMAIN)


# -- the agent's own prompt and output ------------------------------------------------------
async def call_agent(program: AgentProgram, answers: list[str],
                     lines: list[str]) -> tuple[Dialogue, list[LLMRequest]]:
    """A real SalesAgent on a scripted LLM; the requests it wrote its replies from."""
    script = list(answers)
    replies: list[LLMRequest] = []

    def respond(request: LLMRequest) -> str:
        if request.session and request.session.endswith("-outcome"):
            return json.dumps({"state": "engaged", "product": "none"})
        replies.append(request)
        return script.pop(0)

    agent = SalesAgent(program, FakeLLM(respond), caller=CallerProfile(occupation="nurse"),
                       session="call-1", source="simulated")
    agent.commit("", agent.greeting, False)
    for line in lines:
        await agent.respond(line)
    agent.dialogue.outcome = Outcome.ACCEPTED
    return agent.dialogue, replies


def as_dicts(request: LLMRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in request.messages]


LINES = ["Hi, who is this?", "I work nights at the hospital.", "What does it cost?"]


async def test_single_mode_examples_are_the_agents_prompt_and_its_json_answer() -> None:
    program = in_mode("single")
    # The record keeps the sector the agent held after each turn, not the field written:
    # the script writes the one it holds (a nurse: Q, from the caller's metadata).
    answers = [json.dumps(a, separators=(",", ":")) for a in (
        ["chitchat", "none", "engaged", "Q", "I'm Ava from Acme Insurance. How are you today?"],
        ["pivot", "critical_illness", "engaged", "Q",
         "Night shifts are hard. Critical Illness Cover could help if you fall ill."],
        ["continue", "critical_illness", "engaged", "Q",
         "Critical Illness Cover costs {critical_illness.premium}."],
    )]
    dialogue, requests = await call_agent(program, answers, LINES)
    assert "dollars" in dialogue.turns[-1].text  # the caller heard the figure, not the ref
    built = builder(program=program).build([dialogue])
    assert len(built.sft) == 3
    for example, request, answer in zip(built.sft, requests, answers, strict=True):
        assert example["messages"][:-1] == as_dicts(request)
        assert example["messages"][-1] == {"role": "assistant", "content": answer}


async def test_learned_mode_examples_hold_the_private_plan_and_the_plain_response() -> None:
    program = BASE
    assert program.decoding.mode == "learned"
    answers = ["I'm Ava from Acme Insurance. How are you today?",
               "Night shifts are hard. Critical Illness Cover could help if you fall ill.",
               "Critical Illness Cover costs {critical_illness.premium}."]
    dialogue, requests = await call_agent(program, answers, LINES)
    built = builder(program=program).build([dialogue])
    assert len(built.sft) == 3
    for example, request, answer in zip(built.sft, requests, answers, strict=True):
        assert example["messages"][:-1] == as_dicts(request)
        assert example["messages"][-2]["content"].startswith("Private plan, never say it:")
        assert example["messages"][-1]["content"] == answer


def test_every_sheet_wording_reads_back_as_its_reference() -> None:
    """Inverse of the expander the live gate uses, the " for <product>" it adds included."""
    def unnamed(said: str, pid: str) -> str:
        return "" if pid in DOMAIN.mentioned(said, by_id=False) else \
            f" for {DOMAIN.product(pid).name}"

    for ref in DOMAIN.refs:
        product = DOMAIN.product(ref.split(".")[0])
        for written in (f"{product.name} has {{{ref}}}.", f"You get {{{ref}}}, nice."):
            expander = RefExpander(DOMAIN.refs, name=unnamed)
            heard = expander.feed(written) + expander.flush()
            assert heard != written
            assert with_refs(heard, DOMAIN, product.id) == written, ref


# -- filters ------------------------------------------------------------------------------
def agent(text: str, **kw: object) -> Turn:
    return Turn(speaker="agent", text=text,
                thought=Thought(template=Template.PIVOT, intent="travel"), **kw)


def user(text: str) -> Turn:
    return Turn(speaker="user", text=text)


def dialogue(did: str, replies: list[tuple[str, Turn]], outcome: Outcome | None,
             persona: str | None = None, sector: str = "Q") -> Dialogue:
    turns = [Turn(speaker="agent", text=BASE.greeting)]
    for line, reply in replies:
        turns += [user(line), reply]
    return Dialogue(id=did, source="simulated", program_version=BASE.version, turns=turns,
                    outcome=outcome, caller=CallerProfile(sector=sector),
                    metadata={"persona_id": persona or did})


GOOD = "Travel Insurance covers cancelled trips and lost bags. Are you travelling soon?"
PROMISE = "I guarantee Travel Insurance pays out for anything at all."
ECHO = "Is travel insurance for my trip to Spain worth it?"
NUMBER_WORD = "Travel Insurance is one option for your trip."
"""The guard lets it pass; the output grammar has no number words."""


def test_each_filter_removes_what_it_should_and_counts_it() -> None:
    guard = ComplianceGuard(DOMAIN, render_system_prompt(BASE, DOMAIN, ""), head=None)
    # The guard's own verdicts on the lines below.
    assert guard.check_reply(PROMISE)
    assert not any(guard.check_reply(t) for t in (GOOD, ECHO, NUMBER_WORD))
    replies = [
        ("Hello?", agent(GOOD)),
        ("Go on.", agent(PROMISE)),                                        # compliance
        ("Hmm.", agent("Okay.")),                                          # length
        (ECHO, agent(ECHO)),                                               # echo
        ("Options?", agent(NUMBER_WORD)),                                  # format
        ("Really?", agent(GOOD, compliance=["unsupported_number"])),       # stopped live
        ("Stop calling me.", agent(BASE.opt_out_reply, compliance=["opt_out"])),
        ("Wait, I", agent("Travel Insurance covers", interrupted=True)),
        ("Fine.", Turn(speaker="agent", text=GOOD)),                       # no thought
    ]
    one = dialogue("d1", replies, Outcome.ACCEPTED)
    built = builder().build([one, one.model_copy(update={"id": "d2"})])
    c = built.counts
    assert c["agent_turns"] == 2 * 10
    assert c["not_a_model_reply"] == {"fixed_reply": 2, "greeting": 2, "interrupted": 2,
                                      "no_thought": 2}
    assert c["turn_filters"] == {"compliance": 4, "length": 2, "echo": 2, "format": 2}
    assert c["pool"] == 2 and c["duplicates"]["sft"] == 1 and len(built.sft) == 1
    assert built.sft[0]["messages"][-1]["content"] == GOOD
    loose = RULES.model_copy(update={"compliance": False, "echo": False, "min_words": 1,
                                     "dedupe": False})
    # Unchecked, the promise still cannot be written: "guarantee" is not in the grammar.
    counts = builder(loose).build([one]).counts
    assert counts["turn_filters"] == {"compliance": 0, "length": 0, "echo": 0, "format": 2}
    assert counts["pool"] == 4


def test_outcome_and_judge_decide_desirable_and_the_judge_ranks_pairs() -> None:
    lines = [("Tell me about travel cover.", agent(GOOD))]
    better = "Travel Insurance covers cancelled trips. Where are you off to?"
    won_hi = dialogue("hi", [("Tell me about travel cover.", agent(better))],
                      Outcome.ACCEPTED, persona="p")
    won_lo = dialogue("lo", lines, Outcome.ACCEPTED, persona="p")
    lost = dialogue("no", [("Tell me about travel cover.",
                            agent("Travel Insurance covers both of you."))],
                    Outcome.WITHDREW, persona="p")
    scores = {"hi": JudgeScores(reason="good", authenticity=3, relevance=3, consistency=3,
                                efficiency=3, human_likeness=2, task_success=True),
              "lo": JudgeScores(reason="meh", authenticity=1, relevance=1, consistency=1,
                                efficiency=1, human_likeness=1, task_success=True)}
    built = builder().build([won_hi, won_lo, lost], scores)
    assert [e["messages"][-1]["content"] for e in built.sft] == [better, GOOD]
    assert sorted((e["completion"][0]["content"], e["label"]) for e in built.kto) == sorted(
        [(better, True), (GOOD, True), (lost.turns[-1].text, False)])
    assert {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in built.dpo} == {
        (better, GOOD), (better, lost.turns[-1].text)}
    strict = builder(RULES.model_copy(update={"min_judge_mean": 2.0}))
    judged = strict.build([won_hi, won_lo, lost], scores)
    assert [e["messages"][-1]["content"] for e in judged.sft] == [better]
    assert judged.counts["dialogue_filters"]["judge"] == {"dialogues": 1, "turns": 1}
    assert judged.counts["dialogue_filters"]["outcome"] == {"dialogues": 1, "turns": 1}


def test_judge_scores_load_from_a_file_and_bad_ones_are_named(tmp_path: Path) -> None:
    good = {"reason": "ok", "authenticity": 2, "relevance": 2, "consistency": 2,
            "efficiency": 2, "human_likeness": 2, "task_success": False}
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"a": good}))
    assert load_scores(path, [])["a"].mean == 2.0
    path.write_text(json.dumps({"a": {**good, "relevance": 7}}))
    with pytest.raises(ConfigError, match="judge scores are invalid"):
        load_scores(path, [])
    with pytest.raises(ConfigError, match="does not exist"):
        load_scores(tmp_path / "missing.json", [])


def test_no_example_left_names_the_filter_that_removed_them() -> None:
    lost = [dialogue(f"d{k}", [("Hello?", agent(GOOD))], Outcome.WITHDREW) for k in range(3)]
    with pytest.raises(EmptyDataset, match=r"outcome removed 3 turns \(3 dialogues failed it\)"):
        builder().build(lost)


# -- a simulated batch: rule agent, programmatic users, two arms ---------------------------
FAST = World(load_world().model_copy(update={"wording": "plain"}), "lexicon")
PLANTED = planted_program(load_world(), BASE)


@pytest.fixture(scope="module")
def batch() -> list[Dialogue]:
    return asyncio.run(FAST.dialogues({"base": BASE, "planted": PLANTED}, personas=30, seed=5))


def won(d: Dialogue) -> bool:
    return outcome_of(d, "truth") in ("accepted", "explicit_intent")


def test_sft_holds_each_distinct_reply_of_a_successful_call_once(batch: list[Dialogue]) -> None:
    built = builder().build(batch)
    # Independently: a reply's prompt is fixed by the turns before it (lines, strategies)
    # and its thought, so distinct examples are distinct such histories.
    expected = {
        (tuple((t.speaker, t.text, t.strategy) for t in d.turns[: i + 1]), str(d.turns[i].thought))
        for d in batch if won(d) for i in range(1, len(d.turns)) if d.turns[i].speaker == "agent"}
    assert len(built.sft) == len(expected) > 0
    assert all(e["messages"][0]["content"] == render_system_prompt(BASE, DOMAIN, DOMAIN.sheet())
               for e in built.sft)


def test_dpo_pairs_the_first_reply_where_a_won_and_a_lost_call_part(
        batch: list[Dialogue]) -> None:
    built = builder().build(batch)
    by_persona: dict[str, list[Dialogue]] = {}
    for d in batch:
        by_persona.setdefault(str(d.metadata["persona_id"]), []).append(d)
    expected: set[tuple[str, str]] = set()
    for a, b in by_persona.values():
        if won(a) == won(b):
            continue
        good, bad = (a, b) if won(a) else (b, a)
        for x, y in zip(good.turns, bad.turns, strict=False):
            if x.text != y.text:
                if x.speaker == "agent":
                    expected.add((x.text, y.text))
                break
    got = {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in built.dpo}
    assert got == expected and expected


# -- the command --------------------------------------------------------------------------
def write(path: Path, dialogues: list[Dialogue]) -> Path:
    path.write_text("".join(d.to_json() + "\n" for d in dialogues))
    return path


def run(*argv: str) -> int:
    return main(["dataset", "build", *argv])


def test_build_writes_files_card_and_checksums(tmp_path: Path, batch: list[Dialogue],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "dialogues.jsonl", batch)
    out = tmp_path / "ds"
    assert run(str(src), "--out", str(out), "--no-claim-head") == 0
    card = json.loads((out / "card.json").read_text())
    for name in ("sft.jsonl", "kto.jsonl", "dpo.jsonl"):
        data = (out / name).read_bytes()
        assert card["sha256"][name] == hashlib.sha256(data).hexdigest()
        assert len(data.splitlines()) == card["counts"]["outputs"][name.split(".")[0]]
    assert card["sources"] == {str(src): len(batch)}
    assert sum(v["sft"] for v in card["by_sector"].values()) == card["counts"]["outputs"]["sft"]
    assert sum(v["dialogues"] for v in card["by_sector"].values()) == len(batch)
    assert sum(v["dialogues"] for v in card["by_outcome"].values()) == len(batch)
    assert card["sha256"]["sft.jsonl"] in (out / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dialogues.jsonl", "ds"]
    assert run(str(src), "--out", str(out)) == 2  # exists
    assert "--overwrite" in capsys.readouterr().out


@pytest.mark.parametrize(("setup", "message"), [
    (lambda tmp: ["--config", str(tmp / "c.toml")], "min_wrods: unknown key"),
    (lambda tmp: ["--config", str(tmp / "none.toml")], "does not exist"),
    (lambda tmp: ["--min-words", "0"], "min_words"),
    (lambda tmp: ["--program", "nope"], "agent program 'nope' not found"),
    (lambda tmp: ["--keep-outcomes", "won"], "keep_outcomes"),
])
def test_bad_options_are_clear_errors_and_write_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        setup: Callable[[Path], list[str]], message: str) -> None:
    (tmp_path / "c.toml").write_text("min_wrods = 3\n")
    src = write(tmp_path / "d.jsonl", [dialogue("d", [("Hi?", agent(GOOD))], Outcome.ACCEPTED)])
    assert run(str(src), "--out", str(tmp_path / "ds"), *setup(tmp_path)) == 2
    assert message in capsys.readouterr().out.replace("\n", "")
    assert not (tmp_path / "ds").exists()


def test_missing_input_and_empty_result_fail_without_leftovers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "ds")) == 2
    assert "no dialogue file at" in capsys.readouterr().out
    src = write(tmp_path / "d.jsonl", [dialogue("d", [("Hi?", agent(GOOD))], Outcome.WITHDREW)])
    assert run(str(src), "--out", str(tmp_path / "ds"), "--no-claim-head") == 2
    assert "outcome removed 1" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl"]


def test_records_are_trl_conversational_formats(tmp_path: Path, batch: list[Dialogue]) -> None:
    from trl import data_utils  # the [train] extra, installed by setup

    built = builder().build(batch)
    assert built.dpo and built.kto
    for record in (*built.sft, *built.kto, *built.dpo):
        assert data_utils.is_conversational(record)
    assert set(built.kto[0]) == {"prompt", "completion", "label"}
    assert set(built.dpo[0]) == {"prompt", "chosen", "rejected"}
