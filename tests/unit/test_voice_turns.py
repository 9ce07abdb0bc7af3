"""TurnDetector: endpointing from VAD windows and partial transcripts."""

from __future__ import annotations

import pytest

from voice.turns import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnConfig,
    TurnDetector,
    TurnEnded,
    TurnEvent,
    is_complete_sentence,
)

W = 0.02
"""VAD window length (s)."""

SPEECH = 0.9
SILENCE = 0.05


class Feed:
    """Drives a detector with 20 ms windows, keeping time from an integer counter."""

    def __init__(self, detector: TurnDetector) -> None:
        self.detector = detector
        self.windows = 0
        self.log: list[tuple[float, TurnEvent]] = []

    @property
    def now(self) -> float:
        return self.windows * W

    def run(self, probability: float, seconds: float) -> list[TurnEvent]:
        events: list[TurnEvent] = []
        for _ in range(round(seconds / W)):
            self.windows += 1
            out = self.detector.on_vad(probability, self.now, W)
            self.log += [(self.now, e) for e in out]
            events += out
        return events

    def ended(self) -> list[TurnEnded]:
        return [e for _, e in self.log if isinstance(e, TurnEnded)]


def test_turn_ends_exactly_one_hangover_after_the_first_silent_window() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.5)))
    feed.run(SPEECH, 0.4)
    feed.run(SILENCE, 0.48)
    assert feed.ended() == []
    feed.run(SILENCE, 0.02)
    [end] = feed.ended()
    assert end.reason == "hangover"
    assert end.speech_end == pytest.approx(0.4, abs=1e-9)  # start of the first silent window
    assert end.decided_at == pytest.approx(0.9, abs=1e-9)
    assert end.decided_at - end.speech_end == pytest.approx(0.5, abs=1e-6)
    assert end.speech_start == pytest.approx(0.0, abs=1e-9)
    assert not feed.detector.in_speech


def test_events_of_a_simple_turn_are_started_paused_ended() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.5)))
    feed.run(SILENCE, 0.2)
    feed.run(SPEECH, 0.6)
    feed.run(SILENCE, 1.0)
    kinds = [type(e) for _, e in feed.log]
    assert kinds == [SpeechStarted, SpeechPaused, TurnEnded]
    started, paused, ended = (e for _, e in feed.log)
    assert isinstance(started, SpeechStarted)
    assert started.at == pytest.approx(0.2, abs=1e-9)  # onset of the first speech window
    assert isinstance(paused, SpeechPaused)
    assert paused.at == pytest.approx(0.8, abs=1e-9)
    assert isinstance(ended, TurnEnded)
    assert ended.speech_start == pytest.approx(0.2, abs=1e-9)
    assert ended.speech_end == pytest.approx(0.8, abs=1e-9)


def test_speech_started_is_reported_once_min_speech_has_accumulated() -> None:
    feed = Feed(TurnDetector(TurnConfig(min_speech_s=0.15)))
    assert feed.run(SPEECH, 0.14) == []
    assert not feed.detector.in_speech
    events = feed.run(SPEECH, 0.02)
    assert events == [SpeechStarted(0.0)]
    assert feed.detector.in_speech


def test_a_click_shorter_than_min_speech_does_not_start_a_turn() -> None:
    feed = Feed(TurnDetector(TurnConfig(min_speech_s=0.15)))
    feed.run(SILENCE, 0.1)
    feed.run(SPEECH, 0.06)
    feed.run(SILENCE, 2.0)
    assert feed.log == []
    assert not feed.detector.in_speech


def test_onset_restarts_after_a_click_so_short_bursts_do_not_add_up() -> None:
    feed = Feed(TurnDetector(TurnConfig(min_speech_s=0.15)))
    for _ in range(5):
        feed.run(SPEECH, 0.1)
        feed.run(SILENCE, 0.02)
    assert feed.log == []


def test_probability_between_thresholds_keeps_the_caller_speaking() -> None:
    config = TurnConfig(start_threshold=0.5, end_threshold=0.35, hangover_s=0.5)
    feed = Feed(TurnDetector(config))
    feed.run(SPEECH, 0.3)
    assert feed.run(0.4, 2.0) == []
    assert feed.detector.in_speech
    assert [type(e) for _, e in feed.log] == [SpeechStarted]


def test_probability_between_thresholds_does_not_resume_a_pause() -> None:
    config = TurnConfig(start_threshold=0.5, end_threshold=0.35, hangover_s=0.5)
    feed = Feed(TurnDetector(config))
    feed.run(SPEECH, 0.3)
    feed.run(SILENCE, 0.1)
    feed.run(0.4, 0.4)
    [end] = feed.ended()
    assert end.speech_end == pytest.approx(0.3, abs=1e-9)
    assert end.decided_at == pytest.approx(0.8, abs=1e-9)
    assert not any(isinstance(e, SpeechResumed) for _, e in feed.log)


def test_end_threshold_itself_is_not_silence() -> None:
    feed = Feed(TurnDetector(TurnConfig(end_threshold=0.35)))
    feed.run(SPEECH, 0.3)
    assert feed.run(0.35, 1.0) == []
    assert feed.run(0.3499, 0.02) == [SpeechPaused(pytest.approx(1.3, abs=1e-9))]


def test_pause_shorter_than_hangover_is_reported_paused_then_resumed() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.5)))
    feed.run(SPEECH, 0.4)
    paused = feed.run(SILENCE, 0.2)
    assert paused == [SpeechPaused(pytest.approx(0.4, abs=1e-9))]
    assert feed.detector.in_speech
    resumed = feed.run(SPEECH, 0.2)
    assert resumed == [SpeechResumed(pytest.approx(0.6, abs=1e-9))]
    feed.run(SILENCE, 1.0)
    kinds = [type(e) for _, e in feed.log]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechResumed, SpeechPaused, TurnEnded]
    [end] = feed.ended()
    assert end.speech_start == pytest.approx(0.0, abs=1e-9)
    assert end.speech_end == pytest.approx(0.8, abs=1e-9)
    assert end.decided_at == pytest.approx(1.3, abs=1e-9)


def test_complete_sentence_partial_covering_the_pause_ends_the_turn_early() -> None:
    config = TurnConfig(hangover_s=0.55, early_hangover_s=0.3)
    feed = Feed(TurnDetector(config))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I want life insurance.", covers_until=1.0)
    feed.run(SILENCE, 0.28)
    assert feed.ended() == []
    feed.run(SILENCE, 0.02)
    [end] = feed.ended()
    assert end.reason == "early"
    assert end.speech_end == pytest.approx(1.0, abs=1e-9)
    assert end.decided_at - end.speech_end == pytest.approx(0.3, abs=1e-6)


def test_complete_partial_arriving_during_the_pause_still_ends_early() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.55, early_hangover_s=0.3)))
    feed.run(SPEECH, 1.0)
    feed.run(SILENCE, 0.1)
    feed.detector.on_partial("I want life insurance.", covers_until=1.0)
    feed.run(SILENCE, 0.2)
    [end] = feed.ended()
    assert end.reason == "early"
    assert end.decided_at == pytest.approx(1.3, abs=1e-9)


def test_partial_that_does_not_cover_the_pause_waits_for_the_full_hangover() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.55, early_hangover_s=0.3)))
    feed.run(SPEECH, 1.0)
    # Decoded only up to 0.8 s: the last 0.2 s of speech may still change the text.
    feed.detector.on_partial("I want life insurance.", covers_until=0.8)
    feed.run(SILENCE, 1.0)
    [end] = feed.ended()
    assert end.reason == "hangover"
    # 0.55 s is not a whole number of 20 ms windows: the decision comes at the next window end.
    assert end.decided_at - end.speech_end == pytest.approx(0.56, abs=1e-6)


def test_incomplete_sentence_partial_waits_for_the_full_hangover() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.55, early_hangover_s=0.3)))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I was thinking", covers_until=1.0)
    feed.run(SILENCE, 1.0)
    [end] = feed.ended()
    assert end.reason == "hangover"
    assert end.decided_at == pytest.approx(1.56, abs=1e-9)


def test_complete_partial_before_resumed_speech_no_longer_ends_early() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.55, early_hangover_s=0.3)))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I want life insurance.", covers_until=1.0)
    feed.run(SILENCE, 0.1)
    feed.run(SPEECH, 0.5)  # the caller went on: the old sentence is no longer the end
    feed.run(SILENCE, 1.0)
    [end] = feed.ended()
    assert end.reason == "hangover"
    assert end.speech_end == pytest.approx(1.6, abs=1e-9)
    assert end.decided_at == pytest.approx(2.16, abs=1e-9)


def test_complete_partial_from_a_previous_turn_does_not_end_the_next_turn_early() -> None:
    feed = Feed(TurnDetector(TurnConfig(hangover_s=0.55, early_hangover_s=0.3)))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I want life insurance.", covers_until=1.0)
    feed.run(SILENCE, 1.0)
    feed.run(SPEECH, 1.0)
    feed.run(SILENCE, 1.0)
    first, second = feed.ended()
    assert first.reason == "early"
    assert second.reason == "hangover"


def test_long_utterance_is_cut_at_max_utterance_length() -> None:
    feed = Feed(TurnDetector(TurnConfig(max_utterance_s=2.0)))
    feed.run(SPEECH, 1.98)
    assert feed.ended() == []
    feed.run(SPEECH, 0.02)
    [end] = feed.ended()
    assert end.reason == "max_length"
    assert end.speech_start == pytest.approx(0.0, abs=1e-9)
    assert end.decided_at == pytest.approx(2.0, abs=1e-9)
    assert end.speech_end == pytest.approx(2.0, abs=1e-9)
    assert not feed.detector.in_speech


def test_speech_continuing_after_a_max_length_cut_starts_a_new_turn() -> None:
    feed = Feed(TurnDetector(TurnConfig(max_utterance_s=2.0, min_speech_s=0.15)))
    feed.run(SPEECH, 2.0)
    events = feed.run(SPEECH, 0.16)
    assert events == [SpeechStarted(pytest.approx(2.0, abs=1e-9))]


def test_max_length_cut_during_a_pause_reports_the_pause_start_as_speech_end() -> None:
    feed = Feed(TurnDetector(TurnConfig(max_utterance_s=2.0, hangover_s=0.55)))
    feed.run(SPEECH, 1.9)
    feed.run(SILENCE, 0.1)
    [end] = feed.ended()
    assert end.reason == "max_length"
    assert end.speech_end == pytest.approx(1.9, abs=1e-9)
    assert end.decided_at == pytest.approx(2.0, abs=1e-9)


def test_reset_returns_the_detector_to_idle() -> None:
    feed = Feed(TurnDetector())
    feed.run(SPEECH, 0.5)
    assert feed.detector.in_speech
    feed.detector.reset()
    assert not feed.detector.in_speech
    assert feed.run(SILENCE, 2.0) == []


@pytest.mark.parametrize(
    "text",
    [
        "I want life insurance.",
        "Is that right?",
        "That sounds great!",
        'She said "yes."',
        "I spoke to Mr. Smith yesterday.",
        "  I want life insurance.  ",
        "I can pay 3.5 percent.",
    ],
)
def test_is_complete_sentence_accepts_finished_sentences(text: str) -> None:
    assert is_complete_sentence(text)


@pytest.mark.parametrize(
    "text",
    [
        "I was thinking",
        "I was thinking...",
        "Well...",
        "Yes.",
        "Okay?",
        "",
        "   ",
        "I spoke to Mr. Smith",
        "Is it 3.5",
    ],
)
def test_is_complete_sentence_rejects_unfinished_or_one_word_text(text: str) -> None:
    assert not is_complete_sentence(text)


# -- a completion probability with the partial (the turn-completion head) ------------------

PROBABILISTIC = TurnConfig(hangover_s=0.55, early_hangover_s=0.3, late_hangover_s=1.0,
                           complete_at=0.8, incomplete_below=0.2)


def test_confidently_complete_partial_ends_early_even_without_punctuation() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("what does it cost", covers_until=1.0, complete=0.95)
    feed.run(SILENCE, 1.5)
    [end] = feed.ended()
    assert end.reason == "early"
    assert end.decided_at - end.speech_end == pytest.approx(0.3, abs=1e-6)


def test_confidently_unfinished_partial_waits_the_late_hangover_despite_its_period() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    # Whisper prints a period after the unfinished phrase; the probability says otherwise.
    feed.detector.on_partial("I'd like to know about.", covers_until=1.0, complete=0.05)
    feed.run(SILENCE, 0.98)
    assert feed.ended() == []
    feed.run(SILENCE, 0.02)
    [end] = feed.ended()
    assert end.reason == "late"
    assert end.decided_at - end.speech_end == pytest.approx(1.0, abs=1e-6)


def test_a_mid_sentence_pause_shorter_than_the_late_hangover_does_not_end_the_turn() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I'd like to know about", covers_until=1.0, complete=0.05)
    feed.run(SILENCE, 0.9)
    feed.run(SPEECH, 0.6)
    feed.detector.on_partial("I'd like to know about the price", covers_until=2.5, complete=0.9)
    feed.run(SILENCE, 1.0)
    [end] = feed.ended()
    assert end.reason == "early"
    assert end.speech_start == pytest.approx(0.0, abs=1e-9)
    assert end.speech_end == pytest.approx(2.5, abs=1e-9)


def test_an_undecided_probability_keeps_the_default_hangover() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I want life insurance.", covers_until=1.0, complete=0.5)
    feed.run(SILENCE, 1.5)
    [end] = feed.ended()
    assert end.reason == "hangover"
    assert end.decided_at == pytest.approx(1.56, abs=1e-9)


@pytest.mark.parametrize(("complete", "reason"), [(0.8, "early"), (0.7999, "hangover"),
                                                  (0.2, "hangover"), (0.1999, "late")])
def test_complete_at_is_inclusive_and_incomplete_below_is_strict(complete: float,
                                                                 reason: str) -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("some words", covers_until=1.0, complete=complete)
    feed.run(SILENCE, 1.5)
    assert [e.reason for e in feed.ended()] == [reason]


def test_a_probability_for_a_partial_that_does_not_cover_the_pause_is_ignored() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I'd like to know about", covers_until=0.8, complete=0.01)
    feed.run(SILENCE, 1.5)
    [end] = feed.ended()
    assert end.reason == "hangover"


def test_an_unfinished_verdict_is_forgotten_when_the_caller_resumes() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I'd like to know about", covers_until=1.0, complete=0.01)
    feed.run(SILENCE, 0.2)
    feed.run(SPEECH, 0.5)  # no partial covers this second pause yet
    feed.run(SILENCE, 1.5)
    [end] = feed.ended()
    assert end.reason == "hangover"
    assert end.speech_end == pytest.approx(1.7, abs=1e-9)


def test_a_late_hangover_no_longer_than_the_default_is_reported_as_the_default() -> None:
    config = PROBABILISTIC.model_copy(update={"late_hangover_s": 0.4})
    feed = Feed(TurnDetector(config))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I'd like to know about", covers_until=1.0, complete=0.01)
    feed.run(SILENCE, 1.5)
    [end] = feed.ended()
    assert end.reason == "hangover"
    assert end.decided_at - end.speech_end == pytest.approx(0.4, abs=1e-6)


def test_without_a_probability_the_punctuation_rule_still_decides() -> None:
    feed = Feed(TurnDetector(PROBABILISTIC))
    feed.run(SPEECH, 1.0)
    feed.detector.on_partial("I'd like to know about.", covers_until=1.0, complete=None)
    feed.run(SILENCE, 1.5)
    [end] = feed.ended()
    assert end.reason == "early"


def test_thresholds_out_of_order_are_rejected() -> None:
    with pytest.raises(ValueError, match="incomplete_below"):
        TurnConfig(complete_at=0.3, incomplete_below=0.6)
