"""BargeInPolicy: which caller speech interrupts the agent."""

from __future__ import annotations

import pytest

from voice.bargein import BargeInConfig, BargeInPolicy, Interrupt

W = 0.02
"""VAD window length (s)."""

CONFIG = BargeInConfig(min_speech_s=0.25, backchannel_max_s=0.7)


class Caller:
    """Feeds windows of caller speech into a policy, keeping time from a counter."""

    def __init__(self, policy: BargeInPolicy) -> None:
        self.policy = policy
        self.windows = 0

    def speak(self, seconds: float) -> list[Interrupt]:
        fired = []
        for _ in range(round(seconds / W)):
            self.windows += 1
            if (interrupt := self.policy.on_speech(W, self.windows * W)) is not None:
                fired.append(interrupt)
        return fired


def speaking_policy() -> BargeInPolicy:
    policy = BargeInPolicy(CONFIG)
    policy.agent_started()
    return policy


def test_speech_never_interrupts_when_the_agent_is_not_speaking() -> None:
    policy = BargeInPolicy(CONFIG)
    policy.on_partial("wait, I have a question")
    assert Caller(policy).speak(3.0) == []


def test_speech_after_the_agent_stopped_does_not_interrupt() -> None:
    policy = speaking_policy()
    policy.agent_stopped()
    policy.on_partial("wait, I have a question")
    assert Caller(policy).speak(3.0) == []


def test_speech_shorter_than_min_speech_never_interrupts_even_with_content_words() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial("stop")
    assert caller.speak(0.24) == []


def test_content_words_interrupt_as_soon_as_min_speech_is_reached() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial("wait")
    assert caller.speak(0.24) == []
    [interrupt] = caller.speak(0.02)
    assert interrupt.speech_s == pytest.approx(0.26)
    assert interrupt.at == pytest.approx(0.26)
    assert interrupt.words == "wait"


def test_content_words_arriving_later_interrupt_on_the_next_window() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    assert caller.speak(0.4) == []  # no transcript yet: could still be a backchannel
    policy.on_partial("actually I")
    [interrupt] = caller.speak(0.02)
    assert interrupt.speech_s == pytest.approx(0.42)
    assert interrupt.words == "actually I"


@pytest.mark.parametrize("words", ["uh-huh", "okay", "mm", "Mm-hmm.", "Yeah, okay.", "got it"])
def test_backchannels_shorter_than_backchannel_max_do_not_interrupt(words: str) -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial(words)
    assert caller.speak(0.68) == []


def test_backchannel_does_not_interrupt_and_caller_silent_starts_a_fresh_count() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    for _ in range(5):  # five "uh-huh"s, each 0.5 s, with gaps: 2.5 s of speech in total
        policy.on_partial("uh-huh")
        assert caller.speak(0.5) == []
        policy.caller_silent()


def test_without_caller_silent_speech_keeps_accumulating_towards_an_interrupt() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial("uh-huh")
    assert caller.speak(0.5) == []
    [interrupt] = caller.speak(0.5)
    assert interrupt.speech_s == pytest.approx(0.7)


def test_caller_silent_clears_the_previous_partial() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial("hold on")
    policy.caller_silent()
    # The old content words no longer count: a fresh burst without transcript waits.
    assert caller.speak(0.5) == []


@pytest.mark.parametrize("words", ["", "uh-huh", "okay", "mm"])
def test_any_speech_reaching_backchannel_max_interrupts(words: str) -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial(words)
    assert caller.speak(0.68) == []
    [interrupt] = caller.speak(0.02)
    assert interrupt.speech_s == pytest.approx(0.7)
    assert interrupt.words == words


def test_interrupt_fires_only_once_per_agent_turn() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial("wait")
    assert len(caller.speak(0.3)) == 1
    assert caller.speak(2.0) == []
    policy.caller_silent()
    policy.on_partial("excuse me")
    assert caller.speak(2.0) == []


def test_a_new_agent_turn_can_be_interrupted_again() -> None:
    policy = speaking_policy()
    caller = Caller(policy)
    policy.on_partial("wait")
    assert len(caller.speak(0.3)) == 1
    policy.agent_stopped()
    policy.agent_started()
    # agent_started forgets the old speech and words: content must be heard again.
    assert caller.speak(0.3) == []
    policy.on_partial("no thanks")
    assert len(caller.speak(0.02)) == 1


def test_is_backchannel_splits_hyphens_and_ignores_case_and_punctuation() -> None:
    policy = BargeInPolicy()
    assert policy.is_backchannel("Uh-huh.")
    assert policy.is_backchannel("Oh, I see!")
    assert policy.is_backchannel("OK okay alright")
    assert not policy.is_backchannel("okay but")
    assert not policy.is_backchannel("how much")


def test_custom_backchannel_words_replace_the_defaults() -> None:
    policy = BargeInPolicy(BargeInConfig(backchannels=frozenset({"ja", "genau"})))
    assert policy.is_backchannel("Ja, genau")
    assert not policy.is_backchannel("okay")
