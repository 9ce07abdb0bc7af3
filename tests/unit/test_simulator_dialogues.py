"""User models, the scripted agent and the dialogue runner, without real models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from agent.dialogue import Outcome, Template
from agent.domain import load_domain
from agent.program import load_program
from models.asr.fake import FakeASR
from models.audio import HOUSE_RATE, AudioChunk
from models.llm.base import LLMRequest
from models.llm.fake import FakeLLM
from models.tts.fake import FakeTTS
from simulator.agents import RuleAgent
from simulator.audio import AudioChannel, LineSettings, TelephoneLine
from simulator.persona import PersonaSampler, load_spec
from simulator.runner import LocalConversation, is_success, run_dialogue
from simulator.users import (
    LLMUser,
    PlantedWorld,
    ProgrammaticUser,
    clean_line,
    load_world,
    user_system_prompt,
)

DOMAIN = load_domain("insurance")
PROGRAM = load_program()
SPEC = load_spec()


def persona(index: int = 0, **fixed: object):  # type: ignore[no-untyped-def]
    return PersonaSampler(SPEC, 3).one(index, fixed)  # type: ignore[arg-type]


def world(**changes: object) -> PlantedWorld:
    return load_world().model_copy(update=changes)


def test_programmatic_user_draws_its_hidden_intent_from_its_sectors_planted_distribution() -> None:
    w = load_world()
    nurse = persona(occupation="nurse", mbti="ISTJ")
    hidden = [ProgrammaticUser(nurse, w, DOMAIN, seed=k).hidden for k in range(3000)]
    dist = w.distribution("Q", DOMAIN.intent_ids)
    assert w.top("Q") == ["accident", "travel"]
    for intent, p in dist.items():
        assert abs(hidden.count(intent) / 3000 - p) < 0.03, intent
    assert abs(sum(dist.values()) - 1) < 1e-9


def test_programmatic_user_accepts_its_hidden_intent_when_pitched() -> None:
    user = ProgrammaticUser(persona(), world(accept_p=1.0, wording="plain"), DOMAIN, seed=1)
    user.decide("Hello, got a minute?")
    name = DOMAIN.product(user.hidden).name
    line = user.decide(f"Have you thought about {name}?")
    assert line.verdict is Outcome.ACCEPTED and line.intent == user.hidden
    assert line.text == f"Yes, {name} is what I need. How do I sign up?"


def test_programmatic_user_withdraws_after_its_patience_runs_out() -> None:
    p = persona(mbti="INTJ")  # introvert: base patience 2
    user = ProgrammaticUser(p, world(false_accept_p=0.0), DOMAIN, seed=2)
    user.decide("Hello")
    wrong = [i for i in DOMAIN.intent_ids if i != user.hidden]
    lines = [user.decide(f"What about {DOMAIN.product(i).name}?") for i in wrong[:3]]
    assert [ln.verdict for ln in lines] == [None, None, Outcome.WITHDREW]
    extravert = ProgrammaticUser(persona(mbti="ENFP"), world(false_accept_p=0.0), DOMAIN, seed=2)
    extravert.decide("Hello")
    wrong = [i for i in DOMAIN.intent_ids if i != extravert.hidden]
    assert [extravert.decide(DOMAIN.product(i).name).verdict for i in wrong[:3]] == [None] * 3


def test_programmatic_user_tells_its_occupation_when_asked_and_leaves_after_small_talk() -> None:
    user = ProgrammaticUser(persona(occupation="actuary"),
                            world(reveal_p=0.0, idle_patience=2, wording="plain"), DOMAIN, seed=0)
    user.decide("Hi!")
    assert user.decide("What do you do for a living?").text.startswith("I'm an actuary.")
    verdicts = [user.decide("Lovely weather.").verdict for _ in range(3)]
    assert verdicts == [None, None, Outcome.GOODBYE]


def test_programmatic_user_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[str]:
        u = ProgrammaticUser(persona(), load_world(), DOMAIN, seed=seed)
        return [u.decide(t).text for t in ("Hi", "Nice day", "How are you?", "And you?")]

    assert run(5) == run(5)


async def test_rule_agent_pitches_the_strategy_for_the_callers_sector_first() -> None:
    nurse = persona(occupation="nurse")
    agent = RuleAgent(PROGRAM, domain=DOMAIN, caller=nurse.caller_profile(), session="s")
    agent.commit("", agent.greeting, False)
    turn = await agent.respond("Hi. Sure, I have a minute.")
    assert turn.thought is not None and turn.thought.template is Template.PIVOT
    assert turn.thought.intent == PROGRAM.strategy["Q"].intents[0]
    assert turn.strategy and "Critical Illness Cover" in turn.strategy


async def test_rule_agent_without_metadata_asks_for_the_job_then_uses_it() -> None:
    nurse = persona(occupation="nurse")
    agent = RuleAgent(PROGRAM, domain=DOMAIN,
                      caller=nurse.caller_profile(share_occupation=False), session="s")
    first = await agent.respond("Hi.")
    assert first.thought and first.thought.template is Template.CHITCHAT
    assert "for a living" in first.text
    second = await agent.respond("I'm a nurse.")
    assert second.thought and second.thought.intent == PROGRAM.strategy["Q"].intents[0]


async def test_truth_from_a_programmatic_user_decides_the_outcome() -> None:
    p = persona(occupation="nurse")
    user = ProgrammaticUser(p, world(accept_p=1.0, false_accept_p=0.0, patience=20,
                                     wording="plain"), DOMAIN, seed=4)
    agent = RuleAgent(PROGRAM, domain=DOMAIN, caller=p.caller_profile(), session="s")
    d = await run_dialogue(LocalConversation(agent), user, max_utterances=40)
    assert d.outcome is Outcome.ACCEPTED and d.outcome_intent == user.hidden
    assert is_success(d) and d.metadata["user_truth"] == {"hidden_intent": user.hidden}
    assert d.metadata["agent_outcome"] == "accepted"
    assert d.turns[0].speaker == "agent" and d.turns[0].text == PROGRAM.greeting
    assert d.metadata["utterances"] == sum(1 for t in d.turns if t.text)


@pytest.mark.parametrize("limit", [2, 3, 6])
async def test_dialogue_stops_at_the_utterance_limit(limit: int) -> None:
    p = persona()
    user = ProgrammaticUser(p, world(accept_p=0.0, false_accept_p=0.0, patience=99,
                                     reveal_p=0.0, idle_patience=99), DOMAIN, seed=0)
    agent = RuleAgent(PROGRAM, domain=DOMAIN, caller=p.caller_profile(), session="s")
    d = await run_dialogue(LocalConversation(agent), user, max_utterances=limit)
    assert d.outcome is Outcome.MAX_TURNS
    assert d.metadata["utterances"] <= limit + 1  # a user line is always answered
    assert len([t for t in d.turns if t.text]) == d.metadata["utterances"]


def test_clean_line_strips_tags_directions_and_prefixes_but_keeps_tags_as_hints() -> None:
    text, tags = clean_line('User: "Well, *sighs* I am not sure (pauses) 😀 [WITHDRAW]"\n\nMore')
    assert text == "Well, I am not sure"
    assert tags == ["WITHDRAW"]


def test_mads_user_prompt_carries_profile_business_attributes_and_signifier() -> None:
    p = persona()
    prompt = user_system_prompt(p, "mads", "zodiac")
    assert "<user_profile>" in prompt and p.profile_text() in prompt
    assert "Health status" in prompt and f"general {p.zodiac} personality" in prompt
    assert "Start the task!" in prompt
    paper = user_system_prompt(p.model_copy(update={"paragraph": "You're Ann, 40."}), "paper")
    assert paper.startswith("You are not an AI") and "You're Ann, 40." in paper


async def test_llm_user_sees_the_call_as_a_transcript_and_retries_a_repeated_line() -> None:
    llm = FakeLLM(["You: Hi, who is this? [ACCEPT]", "Hi, who is this?", "Okay, what is it about?"])
    user = LLMUser(persona(), llm, session="u")
    first = await user.reply("Hello, this is Ava.")
    assert first.text == "Hi, who is this?"
    assert first.hints == {"tags": ["ACCEPT"], "style": "mads", "role_slip": []}
    second = await user.reply("I'm calling from Acme Insurance.")
    assert second.text == "Okay, what is it about?"  # the repeat was resampled
    request: LLMRequest = llm.requests[-1]
    assert [m.role for m in request.messages] == ["system", "user"]
    transcript = request.messages[1].content
    assert ("Ava: Hello, this is Ava.\nYou: Hi, who is this?\n"
            "Ava: I'm calling from Acme Insurance.") in transcript
    assert request.temperature > llm.requests[1].temperature


def test_telephone_line_removes_energy_above_the_telephone_band() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.normal(0, 3000, HOUSE_RATE)).astype(np.int16)
    out = TelephoneLine(LineSettings(telephone=True, snr_db=None)).carry(noise)
    f, before = welch(noise.astype(float), HOUSE_RATE)
    _, after = welch(out.astype(float), HOUSE_RATE)
    high = f > 4500
    band = (f > 500) & (f < 3000)
    assert after[high].mean() < 1e-3 * before[high].mean()
    assert after[band].mean() > 0.3 * before[band].mean()
    assert len(out) == len(noise)


def test_telephone_line_noise_has_the_requested_snr() -> None:
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(HOUSE_RATE) / HOUSE_RATE)).astype(np.int16)
    out = TelephoneLine(LineSettings(telephone=False, snr_db=10), seed=1).carry(tone)
    noise = out.astype(float) - tone.astype(float)
    snr = 10 * np.log10(np.mean(tone.astype(float) ** 2) / np.mean(noise**2))
    assert 9.5 < snr < 10.5


async def test_audio_channel_records_what_was_said_heard_and_the_wer() -> None:
    tts = FakeTTS()
    asr = FakeASR(["hello they are", "fine thanks"])
    channel = AudioChannel(user_tts=tts, agent_tts=tts, asr=asr,
                           line=LineSettings(telephone=True, snr_db=40))
    heard = await channel.to_agent("hello there")
    assert heard.said == "hello there" and heard.heard == "hello they are"
    assert heard.info["wer"] == pytest.approx(1.0)  # 1 substitution + 1 insertion over 2 words
    assert heard.info["audio_s"] > 0
    back = await channel.to_user("Fine, thanks.")
    assert back.info["wer"] == 0.0
    assert isinstance(await tts.synthesize("x"), AudioChunk)
