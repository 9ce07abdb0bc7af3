"""The radio-play LLM user and the role-slip check."""

from __future__ import annotations

import re
from typing import ClassVar

import pytest

from agent.domain import load_domain
from agent.program import load_program
from models.llm.base import Capabilities, LLMRequest
from models.llm.fake import FakeLLM
from simulator.agents import RuleAgent
from simulator.persona import PersonaSampler, load_spec
from simulator.roleplay import DIRECTIONS, customer_name, role_slips, slip_rate
from simulator.runner import LocalConversation, run_dialogue
from simulator.users import LLMUser

DOMAIN = load_domain("insurance")
PERSONA = PersonaSampler(load_spec(), 3).one(0)


class PrefillFakeLLM(FakeLLM):
    """A fake whose backend continues a final assistant message (as llama.cpp does)."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, json_schema=True, prefix_cache=False, prefill=True)


async def test_radio_user_writes_the_next_line_of_a_script_with_its_cue_prefilled() -> None:
    llm = PrefillFakeLLM(["Who is this?", "I'm a mechanic. Why?"])
    user = LLMUser(PERSONA, llm, style="radio", session="s", company="Acme Insurance")
    name = customer_name(PERSONA)
    first = await user.reply("Hi, this is Ava from Acme Insurance. Got a minute?")
    second = await user.reply("What do you do for a living?")
    assert (first.text, second.text) == ("Who is this?", "I'm a mechanic. Why?")
    request: LLMRequest = llm.requests[-1]
    assert [m.role for m in request.messages] == ["system", "user", "assistant"]
    scene = request.messages[1].content
    assert "radio play" in scene.lower() and "Acme Insurance" in scene
    assert "mechanic" in scene and PERSONA.mbti in scene
    assert (f'Ava: "Hi, this is Ava from Acme Insurance. Got a minute?"\n'
            f'{name}: "Who is this?"\nAva: "What do you do for a living?"') in scene
    cue = re.fullmatch(rf'{name} \((?P<direction>[a-z ]+)\): "', request.messages[2].content)
    assert cue and cue["direction"] in DIRECTIONS
    assert '"' in request.stop
    assert second.hints["style"] == "radio" and second.hints["role_slip"] == []
    assert second.hints["direction"] == cue["direction"]


async def test_without_assistant_prefill_the_radio_user_falls_back_to_the_chat_style() -> None:
    llm = FakeLLM(["Hello?"])
    user = LLMUser(PERSONA, llm, style="radio", session="s")
    line = await user.reply("Hi, this is Ava.")
    assert user.style == "mads" and line.hints["style"] == "mads"
    assert [m.role for m in llm.requests[0].messages] == ["system", "user"]
    assert '"' not in llm.requests[0].stop


async def test_each_dialogue_records_every_user_lines_slip_check() -> None:
    llm = PrefillFakeLLM(["Hello?", "How can I assist you today?", "I'm a nurse.",
                          "No thanks, goodbye."])
    user = LLMUser(PERSONA, llm, style="radio", session="s")
    agent = RuleAgent(load_program(), domain=DOMAIN,
                      caller=PERSONA.caller_profile(share_occupation=False), session="d")
    d = await run_dialogue(LocalConversation(agent), user, max_utterances=12)
    hints = d.metadata["user_hints"]
    assert len(hints) == sum(t.speaker == "user" for t in d.turns)
    assert [h["role_slip"] for h in hints][:2] == [[], ["offers_help"]]
    assert slip_rate(hints) == (1, len(hints))


SLIPS = [
    # Written for the check.
    ("How can I help you today?", "offers_help"),
    ("Is there anything else I can help you with?", "offers_help"),
    ("I'm an AI assistant, so I can't buy insurance.", "claims_ai"),
    ("As an AI language model, I don't have a family.", "claims_ai"),
    ("We offer a range of life insurance policies.", "sells"),
    ("Would you be interested in one of our plans?", "sells"),
    ("I'm calling from Acme Insurance about your cover.", "sells"),
    ("What kind of coverage are you looking for?", "asks_like_agent"),
    ("As the customer, I should ask about the price.", "recites_instructions"),
    ("You decide what to do next, whether to continue the conversation or to hang up.",
     "recites_instructions"),
    ("*sighs* Fine, go on.", "stage_direction"),
    ("Ava: Great, I'll set that up for you.", "speaks_as_agent"),
    ("Hello! I'm Ava, how can I assist you today?", "speaks_as_agent"),
    # Said by the embedded model (qwen2.5-1.5b) as the customer, in measured runs.
    ("Hi, Ava! I'm an AI designed to help people with a variety of tasks. How can I assist "
     "you today?", "claims_ai"),
    ("Oh, I see. My name is Ava, and I'm an AI assistant from Acme Insurance.", "claims_ai"),
    ("I'm glad you're interested in Personal Accident Cover. Would you like to learn more "
     "about it?", "asks_like_agent"),
    ("That sounds like a great option. What kind of policy would you like to set up for "
     "yourself?", "asks_like_agent"),
    ("Sure, I'd be happy to help you set up a term life insurance policy for your family.",
     "offers_help"),
    ("Sure! I'm available. What's your insurance question?", "asks_like_agent"),
    ("You ask if they're interested in setting up Critical Illness Cover.",
     "recites_instructions"),
    ("I don't have the ability to provide Personal Accident Cover, as I'm an AI assistant.",
     "claims_ai"),
    ("Sure, I'm here, Ava. What can I help you with?", "offers_help"),
    ("I'm sorry, I can't assist with that.", "offers_help"),
    ("Hello! How can I assist you?", "offers_help"),
    ("Sure, I can help with that.", "offers_help"),
    ("Certainly! Let me know what you need.", "offers_help"),
    ("Do you have any insurance questions?", "asks_like_agent"),
    ("I'm here! What's on your mind today?", "asks_like_agent"),
    ("Hi there! I'm here to help. What's your insurance issue?", "offers_help"),
    ("Oh, that's great! I'd be happy to help! What kind of investments are you interested in?",
     "asks_like_agent"),
]

IN_CHARACTER = [
    # Written for the check: customers, including the words the patterns look for.
    "I'm a shop assistant, so money's tight.",
    "I work as a teaching assistant at the primary school.",
    "Can you help me understand the premium?",
    "I'd like travel insurance, please. How much is it?",
    "Thanks for calling, but I'm not interested.",
    "My clients keep asking me about income protection, funnily enough.",
    "I already have car insurance with another company.",
    "What does your policy cover exactly?",
    "No thanks, goodbye.",
    # Said by the embedded model as the customer, in measured runs.
    "I work as a special education teacher.",
    "I am an investment analyst. What can you help me with?",
    "I'm a plumber, my job is to install and maintain pipes, faucets, and other fixtures.",
    "Oh my god, that sounds so complicated. Can you explain it in simpler terms?",
    "I'm sorry, I don't need any insurance. I just wanted to check my health.",
    "Sorry, I didn't know I had any insurance. Could you give me a quote?",
    "That sounds interesting. I'm actually looking into a term life insurance policy for my "
    "family.",
    "I think I need to further clarify my situation.",
    "Oh, that's interesting. Can you explain what kind of insurance products Acme offers?",
    "Yes, please, it's nice to talk. Can we get started?",
    "I'm going to look into it, Ava. Thanks for offering to help.",
    "Oh, yes, I can't wait for a chance to talk. What's on?",
    "I was wondering if you could give me some tips on how to manage my household expenses.",
    "Okay, I think I'll go with term life insurance. Let's talk more about it.",
]


@pytest.mark.parametrize(("line", "kind"), SLIPS)
def test_role_slip_check_flags_lines_that_sound_like_the_agent(line: str, kind: str) -> None:
    assert kind in role_slips(line, agent_name="Ava")


@pytest.mark.parametrize("line", IN_CHARACTER)
def test_role_slip_check_passes_what_customers_say(line: str) -> None:
    assert role_slips(line, agent_name="Ava") == []
