"""``salesvoice dataset sample``: best-of-N teacher data from N sampled dialogues per persona."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import pytest

from agent.dialogue import CallerProfile, Dialogue, Outcome, Template, Thought, Turn
from agent.domain import load_domain
from agent.program import load_program
from optimizer.best_of_n import NoWinners, select
from optimizer.dataset import DatasetBuilder, DatasetConfig
from optimizer.judge import JudgeScores
from server.cli import main
from simulator.evaluate_bench import planted_program
from simulator.store import read_dialogues
from simulator.users import load_world

DOMAIN = load_domain("insurance")
BASE = load_program("insurance-default")
RULES = DatasetConfig(claim_head=False)
WON = ("accepted", "explicit_intent")


# -- selection on hand-made samples -------------------------------------------------------
def sample(k: int, reply: str, outcome: Outcome, persona: str = "p") -> Dialogue:
    turns = [Turn(speaker="agent", text=BASE.greeting), Turn(speaker="user", text="Go on."),
             Turn(speaker="agent", text=reply,
                  thought=Thought(template=Template.PIVOT, intent="travel"))]
    return Dialogue(id=f"b:{persona}:default:s0:k{k}", source="simulated",
                    program_version=BASE.version, turns=turns, outcome=outcome,
                    caller=CallerProfile(sector="Q"),
                    metadata={"persona_id": persona, "seed": 0, "index": k,
                              "variant": "default", "user_kind": "programmatic"})


def judged(mean: int) -> JudgeScores:
    every = dict.fromkeys(("authenticity", "relevance", "consistency", "efficiency",
                           "human_likeness"), mean)
    return JudgeScores.model_validate({"reason": "-", "task_success": True, **every})


A = "Travel Insurance covers cancelled trips and lost bags. Are you travelling soon?"
B = "Travel Insurance covers cancelled trips. Where are you off to?"
C = "Travel Insurance covers lost bags too. Shall I tell you more?"
SAMPLES = [sample(0, A, Outcome.ACCEPTED), sample(1, B, Outcome.ACCEPTED),
           sample(2, C, Outcome.WITHDREW)]


def completions(rows: list[dict[str, object]], key: str = "messages") -> list[str]:
    return [r[key][-1]["content"] for r in rows]  # type: ignore[index]


def test_the_best_judged_accepted_sample_wins_and_the_others_are_not_losers() -> None:
    scores = {SAMPLES[0].id: judged(1), SAMPLES[1].id: judged(3)}
    chosen = select(SAMPLES, RULES, scores, keep="best", n=3)
    assert chosen.winners == {SAMPLES[1].id}
    built = DatasetBuilder(RULES, BASE, DOMAIN).build(SAMPLES, scores, select=chosen.winners)
    assert completions(built.sft) == [B]
    # A was accepted but not chosen: neither desirable nor a KTO loser; C failed.
    assert sorted((e["completion"][0]["content"], e["label"]) for e in built.kto) == [
        (B, True), (C, False)]
    assert {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in built.dpo} == {
        (B, A), (B, C)}  # A: lower judge score; C: failed
    assert built.counts["dialogue_filters"]["best_of_n"] == {"dialogues": 1, "turns": 1}
    c = chosen.counts
    assert (c["n"], c["samples"], c["personas"], c["accepted_samples"],
            c["personas_with_winner"], c["winners"]) == (3, 3, 1, 2, 1, 1)
    assert c["sample_acceptance"] == round(2 / 3, 4) and c["persona_acceptance"] == 1.0


def test_unjudged_samples_rank_by_sample_order_and_keep_all_keeps_every_accepted() -> None:
    shuffled = [SAMPLES[2], SAMPLES[1], SAMPLES[0]]
    assert select(shuffled, RULES).winners == {SAMPLES[0].id}
    assert select(shuffled, RULES, keep="all").winners == {SAMPLES[0].id, SAMPLES[1].id}
    built = DatasetBuilder(RULES, BASE, DOMAIN).build(
        shuffled, select=select(shuffled, RULES, keep="all").winners)
    assert sorted(completions(built.sft)) == sorted([A, B])
    assert built.counts["dialogue_filters"]["best_of_n"] == {"dialogues": 0, "turns": 0}


def test_no_winner_is_an_error_naming_the_counts() -> None:
    lost = [sample(k, A, Outcome.WITHDREW, persona=f"p{k % 2}") for k in range(4)]
    with pytest.raises(NoWinners, match=r"no winner among 4 samples of 2 personas \(N = 2 per "
                       r"persona and arm\): 4 failed the outcome filter"):
        select(lost, RULES, n=2)
    strict = RULES.model_copy(update={"min_judge_mean": 2.0})
    with pytest.raises(NoWinners, match=r"0 failed the outcome filter.*2 more the judge filter"):
        select(SAMPLES[:2], strict)


# -- the command: a real batch (rule agent, programmatic users, occupation not told) -------
PLANTED = planted_program(load_world(), BASE)


def batch_toml(tmp: Path, *, arms: int = 1, extra: str = "") -> Path:
    (tmp / "planted.json").write_text(PLANTED.model_dump_json(exclude={"version"}))
    programs = '{ default = "insurance-default" }' if arms == 1 else (
        f'{{ default = "insurance-default", planted = "{tmp / "planted.json"}" }}')
    path = tmp / "batch.toml"
    path.write_text(f"""name = "bon-test"
dialogues_per_persona = 1
workers = 1
output = "{tmp / 'store.jsonl'}"
{extra}
[personas]
count = 12
seed = 4

[user]
kind = "programmatic"

[agent]
kind = "rule"
programs = {programs}
""")
    return path


def run(tmp: Path, *argv: str, arms: int = 1) -> int:
    return main(["dataset", "sample", "--batch", str(batch_toml(tmp, arms=arms)),
                 "--no-claim-head", *argv])


def by_persona(dialogues: list[Dialogue]) -> dict[str, list[Dialogue]]:
    out: dict[str, list[Dialogue]] = defaultdict(list)
    for d in dialogues:
        out[str(d.metadata["persona_id"])].append(d)
    return out


def won(d: Dialogue) -> bool:
    return d.outcome is not None and d.outcome.value in WON  # the user's own verdict


def history(d: Dialogue, i: int) -> tuple[tuple[str, str, str | None], ...]:
    return tuple((t.speaker, t.text, t.strategy) for t in d.turns[: i + 1])


def test_sample_keeps_each_personas_first_won_call_and_counts_acceptance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert run(tmp_path, "--n", "3", "--out", str(out)) == 0
    store = read_dialogues(tmp_path / "store.jsonl")
    assert len(store) == 12 * 3
    groups = by_persona(store)
    winners = {min((d for d in ds if won(d)), key=lambda d: d.metadata["index"]).id
               for ds in groups.values() if any(won(d) for d in ds)}
    card = json.loads((out / "card.json").read_text())
    b = card["best_of_n"]
    assert (b["n"], b["samples"], b["personas"]) == (3, 36, 12)
    assert b["accepted_samples"] == sum(map(won, store))
    assert b["personas_with_winner"] == b["winners"] == len(winners) > 0
    assert b["winners_decided_by"] == {"user_truth": len(winners), "agent_reading": 0}
    sectors = b["by_sector"]
    assert sum(s["samples"] for s in sectors.values()) == 36
    assert sum(s["personas_with_winner"] for s in sectors.values()) == len(winners)
    # SFT: one example per distinct history of the winners' replies (greeting excluded).
    expected = {(history(d, i), str(d.turns[i].thought)) for d in store if d.id in winners
                for i in range(1, len(d.turns)) if d.turns[i].speaker == "agent"}
    assert card["counts"]["outputs"]["sft"] == len(expected)
    # The rule agent says the same in the same context: one arm, no preference pair.
    replies: dict[tuple[object, ...], set[str]] = defaultdict(set)
    for d in store:
        for i, t in enumerate(d.turns):
            if t.speaker == "agent":
                replies[(d.metadata["persona_id"], history(d, i - 1))].add(t.text)
    assert all(len(r) == 1 for r in replies.values())
    assert card["counts"]["outputs"]["dpo"] == 0
    readme = (out / "README.md").read_text()
    assert f"| personas with a winner (acceptance of best-of-N) | {len(winners)} (" in readme
    assert card["sha256"]["sft.jsonl"] == hashlib.sha256(
        (out / "sft.jsonl").read_bytes()).hexdigest()
    assert "36 samples of 12 personas" in capsys.readouterr().out


def test_two_arms_pair_the_winners_reply_with_a_lost_calls_where_they_part(
        tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert run(tmp_path, "--n", "2", "--out", str(out), arms=2) == 0
    store = read_dialogues(tmp_path / "store.jsonl")
    assert len(store) == 12 * 2 * 2
    expected: set[tuple[str, str]] = set()
    for ds in by_persona(store).values():
        ranked = sorted((d for d in ds if won(d)),
                        key=lambda d: (d.metadata["seed"], d.metadata["index"], d.variant, d.id))
        if not ranked:
            continue
        best = ranked[0]
        for lost in (d for d in ds if not won(d)):
            for x, y in zip(best.turns, lost.turns, strict=False):
                if x.text != y.text:
                    if x.speaker == "agent":
                        expected.add((x.text, y.text))
                    break
    got = {(p["chosen"][0]["content"], p["rejected"][0]["content"])
           for p in map(json.loads, (out / "dpo.jsonl").read_text().splitlines())}
    assert got == expected and expected
    # Keeping every accepted sample is the plain build of the same dialogues.
    builder = DatasetBuilder(RULES, BASE, DOMAIN)
    every = builder.build(store, select=select(store, RULES, keep="all").winners)
    plain = builder.build(store)
    assert (every.sft, every.kto, every.dpo) == (plain.sft, plain.kto, plain.dpo)


def test_a_rerun_resumes_and_a_smaller_n_uses_only_its_samples(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert run(tmp_path, "--n", "3", "--out", str(out)) == 0
    first = (out / "card.json").read_text()
    capsys.readouterr()
    assert run(tmp_path, "--n", "3", "--out", str(out), "--overwrite") == 0
    assert "0 dialogues run, 36 already in" in capsys.readouterr().out
    assert json.loads((out / "card.json").read_text()) == json.loads(first)
    assert run(tmp_path, "--n", "2", "--out", str(out), "--overwrite") == 0
    card = json.loads((out / "card.json").read_text())
    assert (card["best_of_n"]["samples"], card["sources"]) == (
        24, {str(tmp_path / "store.jsonl"): 24})
    assert len(read_dialogues(tmp_path / "store.jsonl")) == 36


@pytest.mark.parametrize(("argv", "extra", "message"), [
    (["--n", "0"], "", "N (samples per persona and arm) must be at least 1, got 0"),
    ([], "dialogues_per_persno = 3", "dialogues_per_persno: unknown key"),
    (["--config", "recipe.toml"], "", "min_wrods: unknown key"),
    (["--keep-outcomes", "opted_out"], "", "no winner among 12 samples of 12 personas"),
])
def test_bad_input_is_a_clear_error_and_writes_no_dataset(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], extra: str,
        message: str) -> None:
    (tmp_path / "recipe.toml").write_text("min_wrods = 3\n")
    batch = batch_toml(tmp_path, extra=extra)
    argv = [a.replace("recipe.toml", str(tmp_path / "recipe.toml")) for a in argv]
    code = main(["dataset", "sample", "--batch", str(batch), "--no-claim-head",
                 "--out", str(tmp_path / "ds"), *argv])
    assert code == 2
    assert message in capsys.readouterr().out.replace("\n", "")
    assert not (tmp_path / "ds").exists()
