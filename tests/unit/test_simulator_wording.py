"""Programmatic users' wording: paraphrases, fillers, indirect job talk, ASR-like noise,
and the truth seed that pairs arms."""

from __future__ import annotations

import random
import re

import pytest

from agent.dialogue import Outcome
from agent.domain import load_domain
from agent.occupation import SECTORS, sector_of
from agent.program import load_program
from simulator.batch import AgentSettings, BatchConfig, Toolkit, UserSettings, WorkItem
from simulator.persona import PersonaSampler, load_spec
from simulator.users import PlantedWorld, ProgrammaticUser, load_world
from simulator.wording import (
    JOB_BY_OCCUPATION,
    JOB_BY_SECTOR,
    PLAIN,
    POOLS,
    Speaker,
    Wording,
    article,
    asr_noise,
    fill,
)

DOMAIN = load_domain("insurance")
SPEC = load_spec()


def persona(index: int = 0, **fixed: object):  # type: ignore[no-untyped-def]
    return PersonaSampler(SPEC, 3).one(index, fixed)  # type: ignore[arg-type]


def world(**changes: object) -> PlantedWorld:
    return load_world().model_copy(update=changes)


def test_every_kind_of_line_has_a_paraphrase_pool_and_a_plain_template() -> None:
    assert set(POOLS) == set(PLAIN)
    for kind, pool in POOLS.items():
        assert len(pool) >= 5, kind
        assert len(set(pool)) == len(pool), kind


def test_indirect_job_phrases_exist_for_every_sector_and_never_name_the_occupation() -> None:
    assert set(JOB_BY_SECTOR) == set(SECTORS)
    for sector, pool in JOB_BY_SECTOR.items():
        assert len(pool) >= 3, sector
    for occupation, phrases in JOB_BY_OCCUPATION.items():
        assert sector_of(occupation) is not None, occupation
        for phrase in phrases:
            assert occupation not in phrase.lower(), phrase
    spec_jobs = {c.value for c in SPEC.demographics["occupation"].distribution()}
    assert spec_jobs <= set(JOB_BY_OCCUPATION)


def test_a_speaker_is_deterministic_for_its_seed() -> None:
    def lines(seed: str) -> list[str]:
        s = Speaker(Wording(asr_error_rate=0.5), random.Random(seed))
        return [s.say("accept", product="Car Insurance", keep=True), s.say("small_talk"),
                s.job("nurse", "Q")[0], s.say("decline", product="Travel Insurance")]

    assert lines("a") == lines("a")
    assert len({tuple(lines(str(k))) for k in range(20)}) > 15


def test_asr_noise_never_touches_a_protected_product_name() -> None:
    line = "Okay, sign me up for Car Insurance, it's right for me."
    kept = [asr_noise(line, random.Random(k), ["Car Insurance"]) for k in range(300)]
    assert all("car insurance" in k.lower() for k in kept)
    assert all(k != line for k in kept)  # every call makes at least one error
    loose = [asr_noise(line, random.Random(k)) for k in range(300)]
    assert any("car insurance" not in k.lower() for k in loose)  # "Car" can be dropped


def test_asr_noise_makes_the_errors_a_recognizer_makes() -> None:
    outs = [asr_noise("Yes, I'll buy it for my son. Right?", random.Random(k)) for k in range(400)]
    assert any(o == o.lower() and "I" not in o for o in outs)  # lower-cased
    assert any(not re.search(r"[.,?]", o) for o in outs)  # punctuation dropped
    assert any(len(o.split()) < 8 for o in outs)  # a short word dropped
    assert any(w in o.lower().split() for o in outs for w in ("four", "by", "write", "aisle"))


def test_accept_lines_keep_the_product_the_user_accepts_through_noise() -> None:
    named = 0
    for seed in range(300):
        user = ProgrammaticUser(persona(seed % 7), world(accept_p=1.0, asr_error_rate=1.0),
                                DOMAIN, seed=seed)
        user.decide("Hello, got a minute?")
        line = user.decide(f"Have you thought about {DOMAIN.product(user.hidden).name}?")
        assert line.verdict is Outcome.ACCEPTED and line.intent == user.hidden
        said = DOMAIN.mentioned(line.text)
        assert said in ([user.hidden], [])  # the product, or "I'll take it"
        named += said == [user.hidden]
    assert named > 200


def test_varied_users_sometimes_describe_their_work_instead_of_naming_it() -> None:
    hints, texts = [], []
    for seed in range(200):
        user = ProgrammaticUser(persona(occupation="nurse"), world(asr_error_rate=0.0),
                                DOMAIN, seed=seed)
        user.decide("Hi")
        line = user.decide("What do you do for a living?")
        hints.append(line.hints["job"])
        texts.append(line.text)
    assert 70 < hints.count("indirect") < 130
    assert all(("nurse" in t.lower()) == (h == "named") for h, t in zip(hints, texts, strict=True))
    assert len(set(texts)) > 10


def test_plain_wording_says_the_one_template_exactly() -> None:
    user = ProgrammaticUser(persona(occupation="actuary"),
                            world(wording="plain", asr_error_rate=1.0, indirect_job_p=1.0),
                            DOMAIN, seed=0)
    assert user.decide("Hi").text == PLAIN["greeting"][0]
    said = user.decide("What do you do?").text
    assert said == "I'm an actuary. I've done it for a few years now."


def test_articles_follow_the_sound() -> None:
    assert fill("I'm {a_job}.", job="university professor") == "I'm a university professor."
    assert fill("{A_job}, for my sins.", job="actuary") == "An actuary, for my sins."
    assert article("hairdresser") == "a"


def test_the_hidden_truth_comes_from_the_truth_seed_not_the_variant() -> None:
    p = persona(1)
    hidden = {ProgrammaticUser(p, load_world(), DOMAIN, seed=f"b:{p.id}:{v}:s0:k{k}",
                               truth_seed=f"s0:k{k}").hidden
              for v in ("a", "b", "c") for k in (0,)}
    assert len(hidden) == 1
    across = {ProgrammaticUser(p, load_world(), DOMAIN, seed="x", truth_seed=f"s0:k{k}").hidden
              for k in range(40)}
    assert len(across) > 1  # dialogues of one persona still differ


@pytest.mark.parametrize("draws", ["shared", "per_arm"])
def test_a_batch_gives_every_arm_the_same_hidden_intent_for_a_persona(draws: str) -> None:
    """The truth is the persona's in every arm; the wording too unless draws are per arm."""
    program = load_program()
    config = BatchConfig(name="pair", user=UserSettings(kind="programmatic", draws=draws),
                         agent=AgentSettings(kind="rule", programs={"a": "x", "b": "y"}))
    kit = Toolkit(config, DOMAIN, {"a": program, "b": program})
    people = PersonaSampler(SPEC, 5).sample(30)
    for p in people:
        for k in range(3):
            a = kit.user(WorkItem(p, "a", 0, k, "pair"))
            b = kit.user(WorkItem(p, "b", 0, k, "pair"))
            assert a.truth() == b.truth()
    arms = [[kit.user(WorkItem(p, v, 0, 0, "pair")) for p in people] for v in ("a", "b")]
    a_lines = [u.decide("Hi") for u in arms[0] if isinstance(u, ProgrammaticUser)]
    b_lines = [u.decide("Hi") for u in arms[1] if isinstance(u, ProgrammaticUser)]
    same = [x.text for x in a_lines] == [x.text for x in b_lines]
    assert same == (draws == "shared")
