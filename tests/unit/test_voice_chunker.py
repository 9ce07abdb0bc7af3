"""ClauseChunker: cutting streamed reply text into TTS pieces."""

from __future__ import annotations

import re

import pytest

from voice.chunker import ChunkerConfig, ClauseChunker


def chunk_once(text: str, config: ChunkerConfig | None = None) -> list[str]:
    """All pieces of ``text`` pushed in one go, then flushed."""
    chunker = ClauseChunker(config)
    pieces = chunker.push(text)
    if (rest := chunker.flush()) is not None:
        pieces.append(rest)
    return pieces


def chunk_tokens(text: str, config: ChunkerConfig | None = None) -> list[str]:
    """All pieces of ``text`` streamed LLM-style, one word plus its trailing space at a time."""
    chunker = ClauseChunker(config)
    pieces: list[str] = []
    for token in re.findall(r"\s*\S+", text):
        pieces += chunker.push(token)
    if (rest := chunker.flush()) is not None:
        pieces.append(rest)
    return pieces


def chunk_chars(text: str) -> list[str]:
    chunker = ClauseChunker()
    pieces: list[str] = []
    for ch in text:
        pieces += chunker.push(ch)
    if (rest := chunker.flush()) is not None:
        pieces.append(rest)
    return pieces


REPLY = (
    "Sure, I can help with that, and then we can look at the price. "
    "Our basic plan costs twenty dollars a month. Does that sound okay?"
)


def test_first_piece_ends_at_the_first_clause_boundary_after_three_words() -> None:
    # "Sure," is only one word: too short. "that," closes six words: the first piece.
    assert chunk_once(REPLY)[0] == "Sure, I can help with that,"


def test_first_piece_may_end_at_a_comma_once_it_has_three_words() -> None:
    assert chunk_once("Yes, of course, we can do that. Thanks.") == [
        "Yes, of course,",
        "we can do that.",
        "Thanks.",
    ]


def test_later_pieces_end_at_sentence_ends_not_at_commas() -> None:
    assert chunk_once(REPLY) == [
        "Sure, I can help with that,",
        "and then we can look at the price.",
        "Our basic plan costs twenty dollars a month.",
        "Does that sound okay?",
    ]


def test_first_piece_is_forced_at_six_words_without_punctuation() -> None:
    # Six: the words the agent's speech gate releases before a clause boundary.
    text = "one two three four five six seven eight nine ten eleven"
    chunker = ClauseChunker()
    assert chunker.push(text + " ") == ["one two three four five six"]
    assert chunker.flush() == "seven eight nine ten eleven"


def test_first_piece_waits_for_the_space_after_the_sixth_word() -> None:
    chunker = ClauseChunker()
    # The sixth word may still be growing ("six" -> "sixteen").
    assert chunker.push("one two three four five six") == []
    assert chunker.push("teen ") == ["one two three four five sixteen"]


def test_boundary_is_only_taken_once_whitespace_follows_it() -> None:
    chunker = ClauseChunker()
    assert chunker.push("Sure, I can help,") == []
    assert chunker.push(" and") == ["Sure, I can help,"]


def test_later_piece_without_sentence_end_waits_for_more_text() -> None:
    chunker = ClauseChunker()
    assert chunker.push("Sure, I can help, and then we can, maybe, talk ") == ["Sure, I can help,"]
    assert chunker.push("about price ") == []
    assert chunker.push("today. ") == ["and then we can, maybe, talk about price today."]


def test_very_long_later_piece_ends_at_a_clause_boundary() -> None:
    config = ChunkerConfig(max_words=10)
    chunker = ClauseChunker(config)
    assert chunker.push("Sure, I can help. ") == ["Sure, I can help."]
    long = "we have plans for you, your family and your home and your car and more "
    assert chunker.push(long) == ["we have plans for you,"]


@pytest.mark.parametrize(
    "text",
    [
        REPLY,
        "Yes, of course, we can do that. Thanks.",
        "one two three four five six seven eight",
        "Hello there Mr. Smith, how are you today? I am calling about your policy.",
        "We cover e.g. travel and home, and more. The rate is 3.5 percent! Great.",
        'About price: not much; okay. He said "yes." Then (really!) we agreed.',
    ],
)
def test_streaming_token_by_token_gives_the_same_pieces_as_one_push(text: str) -> None:
    assert chunk_tokens(text) == chunk_once(text)
    assert chunk_chars(text) == chunk_once(text)


def test_mr_does_not_end_a_piece() -> None:
    assert chunk_once("Please call Mr. Smith today, he knows. Thanks again.") == [
        "Please call Mr. Smith today,",
        "he knows.",
        "Thanks again.",
    ]


def test_abbreviations_do_not_end_later_pieces() -> None:
    assert chunk_once("Sure, I can help. Dr. Jones and Mrs. Lee agree. Bye.") == [
        "Sure, I can help.",
        "Dr. Jones and Mrs. Lee agree.",
        "Bye.",
    ]


def test_eg_does_not_end_a_piece() -> None:
    assert chunk_once("We cover e.g. travel and home, and more. Fine.") == [
        "We cover e.g. travel and home,",
        "and more.",
        "Fine.",
    ]


def test_decimal_point_does_not_end_a_piece() -> None:
    assert chunk_once("Sure, I can help. The rate is 3.5 percent for you. Okay?") == [
        "Sure, I can help.",
        "The rate is 3.5 percent for you.",
        "Okay?",
    ]


def test_closing_quote_or_bracket_stays_with_its_sentence() -> None:
    assert chunk_once('Sure, I can help. He said "yes." Then (really!) we agreed. ') == [
        "Sure, I can help.",
        'He said "yes."',
        "Then (really!)",
        "we agreed.",
    ]


def test_flush_returns_the_unfinished_rest_once() -> None:
    chunker = ClauseChunker()
    assert chunker.push("Sure, I can help with") == []
    assert chunker.flush() == "Sure, I can help with"
    assert chunker.flush() is None


def test_flush_of_whitespace_only_is_none() -> None:
    chunker = ClauseChunker()
    chunker.push("   ")
    assert chunker.flush() is None


def test_after_flush_the_next_reply_uses_sentence_ends() -> None:
    # A chunker serves one reply; after flush it no longer cuts a short first piece.
    chunker = ClauseChunker()
    chunker.push("Hi")
    chunker.flush()
    assert chunker.push("Well, yes, I can help, of course. ") == [
        "Well, yes, I can help, of course."
    ]


@pytest.mark.parametrize(
    "text",
    [
        REPLY,
        "one two three four five six seven eight nine ten eleven twelve",
        "Hello there Mr. Smith, how are you today? I am calling about your policy",
        "We cover e.g. travel and home, and more. The rate is 3.5 percent! Great.",
    ],
)
def test_no_text_is_lost_joined_pieces_equal_the_input(text: str) -> None:
    for pieces in (chunk_once(text), chunk_tokens(text)):
        assert " ".join(pieces) == text


def test_no_words_are_lost_with_irregular_whitespace() -> None:
    text = "  Sure,   I can\thelp with that,\n and then\n\nmore.   Okay?  "
    for pieces in (chunk_once(text), chunk_tokens(text)):
        assert " ".join(pieces).split() == text.split()
        assert all(p == p.strip() and p for p in pieces)


# Regressions found in review.


def _pieces(text: str) -> list[str]:
    c = ClauseChunker()
    out = c.push(text)
    if (rest := c.flush()) is not None:
        out.append(rest)
    return out


def _streamed(text: str) -> list[str]:
    c = ClauseChunker()
    out = [p for word in text.split(" ") for p in c.push(word + " ")]
    if (rest := c.flush()) is not None:
        out.append(rest)
    return out


def test_first_piece_is_cut_at_six_words_even_when_a_later_boundary_is_already_known() -> None:
    text = "one two three four five six seven eight nine ten. Next."
    expected = ["one two three four five six", "seven eight nine ten.", "Next."]
    assert _pieces(text) == expected
    assert _streamed(text) == expected


def test_quoted_sentence_end_is_a_first_piece_boundary() -> None:
    text = 'He said "yes." Then we talked about the price.'
    assert _pieces(text)[0] == 'He said "yes."'


def test_words_ending_like_abbreviations_still_end_sentences() -> None:
    text = "Yes I can do that. This plan is the best. It covers all items. Call me."
    assert _pieces(text) == [
        "Yes I can do that.",
        "This plan is the best.",
        "It covers all items.",
        "Call me.",
    ]


def test_a_short_sentence_is_a_first_piece_at_once_but_a_short_clause_is_not() -> None:
    assert chunk_once("I see. That is a good point. ") == ["I see.", "That is a good point."]
    assert chunk_once("Sure, I can help with that. ") == ["Sure, I can help with that."]
