"""PlayoutTracker: which words of the reply the caller has heard."""

from __future__ import annotations

from voice.playout import PlayoutTracker


def tracker() -> PlayoutTracker:
    t = PlayoutTracker()
    # "aaa bbb ccc": 12 characters with spaces, 4 per word -> 400 samples per word.
    t.add("aaa bbb ccc", 1200)
    # "dd ee": 6 characters, 3 per word -> 300 samples per word.
    t.add("dd ee", 600)
    return t


def test_nothing_is_heard_before_playback_starts() -> None:
    t = tracker()
    assert t.played == 0
    assert t.played_text() == ""
    assert not t.done


def test_whole_pieces_are_heard_once_played() -> None:
    t = tracker()
    t.advance(1200)
    assert t.played_text() == "aaa bbb ccc"
    t.advance(600)
    assert t.played_text() == "aaa bbb ccc dd ee"
    assert t.played_text() == t.full_text()


def test_a_word_is_heard_only_once_its_estimated_end_has_played() -> None:
    t = tracker()
    t.advance(399)
    assert t.played_text() == ""
    t.advance(1)
    assert t.played_text() == "aaa"
    t.advance(399)
    assert t.played_text() == "aaa"
    t.advance(1)
    assert t.played_text() == "aaa bbb"


def test_partial_words_of_a_later_piece_follow_the_whole_earlier_piece() -> None:
    t = tracker()
    t.advance(1200 + 299)
    assert t.played_text() == "aaa bbb ccc"
    t.advance(1)
    assert t.played_text() == "aaa bbb ccc dd"


def test_words_take_time_in_proportion_to_their_length_in_characters() -> None:
    t = PlayoutTracker()
    # "a" + space is 2 of 12 characters; "bbbbbbbbb" + space the other 10.
    t.add("a bbbbbbbbb", 1200)
    t.advance(199)
    assert t.played_text() == ""
    t.advance(1)
    assert t.played_text() == "a"
    t.advance(999)
    assert t.played_text() == "a"
    t.advance(1)
    assert t.played_text() == "a bbbbbbbbb"


def test_advance_is_capped_at_the_queued_samples() -> None:
    t = tracker()
    assert t.queued == 1800
    t.advance(10_000)
    assert t.played == 1800
    assert t.done
    assert t.played_text() == "aaa bbb ccc dd ee"


def test_done_only_after_everything_queued_has_played_and_not_after_more_is_added() -> None:
    t = tracker()
    t.advance(1799)
    assert not t.done
    t.advance(1)
    assert t.done
    t.add("more", 100)
    assert t.queued == 1900
    assert not t.done
    assert t.played_text() == "aaa bbb ccc dd ee"


def test_full_text_joins_every_queued_piece() -> None:
    t = tracker()
    assert t.full_text() == "aaa bbb ccc dd ee"
    assert PlayoutTracker().full_text() == ""
