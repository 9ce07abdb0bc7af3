"""StreamedArrayReader: thought fields and the spoken reply out of a streamed JSON array."""

from __future__ import annotations

import json

import pytest

from agent.stream_json import StreamedArrayReader

THOUGHT = ["pivot", "medical", "engaged", "Q"]
REPLY = 'She said "hi" \\ then left.\nCafé time?'
ARRAY = json.dumps([*THOUGHT, REPLY])  # ensure_ascii: é arrives as \u00e9


def feed_all(deltas: list[str]) -> tuple[StreamedArrayReader, str]:
    reader = StreamedArrayReader(leading=4)
    spoken = "".join(reader.feed(d) for d in deltas)
    return reader, spoken


def test_fixture_array_really_uses_escapes() -> None:
    assert '\\"' in ARRAY and "\\\\" in ARRAY and "\\n" in ARRAY and "\\u00e9" in ARRAY


def test_whole_array_at_once_gives_fields_and_spoken_reply() -> None:
    reader, spoken = feed_all([ARRAY])
    assert reader.fields == THOUGHT
    assert spoken == REPLY
    assert reader.thought_ready
    assert reader.done


def test_character_by_character_gives_the_same_fields_and_spoken_text() -> None:
    reader, spoken = feed_all(list(ARRAY))
    assert reader.fields == THOUGHT
    assert spoken == REPLY
    assert reader.done


@pytest.mark.parametrize("size", [2, 3, 5, 7, 11])
def test_any_chunking_gives_the_same_result(size: int) -> None:
    reader, spoken = feed_all([ARRAY[i : i + size] for i in range(0, len(ARRAY), size)])
    assert (reader.fields, spoken) == (THOUGHT, REPLY)


def test_spoken_text_arrives_as_it_is_generated() -> None:
    reader = StreamedArrayReader(leading=4)
    assert reader.feed('["pivot","medical","engaged","Q","Hel') == "Hel"
    assert reader.feed("lo th") == "lo th"
    assert reader.feed('ere"]') == "ere"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ('\\"', '"'),
        ("\\\\", "\\"),
        ("\\n", "\n"),
        ("\\t", "\t"),
        ("\\/", "/"),
        ("\\u00e9", "é"),
        ("\\u20ac5", "€5"),
    ],
)
def test_escapes_in_the_spoken_string_are_decoded(raw: str, decoded: str) -> None:
    _, spoken = feed_all([f'["a","b","c","d","x{raw}y"]'])
    assert spoken == f"x{decoded}y"


def test_backslash_escape_split_across_two_deltas() -> None:
    reader = StreamedArrayReader(leading=4)
    assert reader.feed('["a","b","c","d","say \\') == "say "
    assert reader.feed('"hi\\') == '"hi'
    assert reader.feed('"."]') == '".'
    assert reader.done


def test_unicode_escape_split_across_deltas() -> None:
    reader = StreamedArrayReader(leading=4)
    assert reader.feed('["a","b","c","d","caf\\u0') == "caf"
    assert reader.feed("0") == ""
    assert reader.feed('e9!"]') == "é!"


def test_escaped_quotes_inside_leading_fields_do_not_end_them() -> None:
    reader, spoken = feed_all(['["a\\"b","c\\\\","d","e","reply"]'])
    assert reader.fields == ['a"b', "c\\", "d", "e"]
    assert spoken == "reply"


def test_leading_fields_never_leak_into_the_spoken_output() -> None:
    reader = StreamedArrayReader(leading=4)
    for ch in '["pivot","medical","engaged","Q",':
        assert reader.feed(ch) == ""
    assert reader.thought_ready
    assert not reader.done
    assert reader.feed('"Hi"]') == "Hi"


def test_thought_is_ready_only_after_the_fourth_field_closes() -> None:
    reader = StreamedArrayReader(leading=4)
    reader.feed('["pivot","medical","engaged","Q')
    assert reader.fields == ["pivot", "medical", "engaged"]
    assert not reader.thought_ready
    reader.feed('"')
    assert reader.thought_ready


def test_whitespace_around_elements_is_allowed() -> None:
    reader, spoken = feed_all(['  [ "a" ,\n "b",\t"c" , "d" ,\r\n "hello" ]'])
    assert reader.fields == ["a", "b", "c", "d"]
    assert spoken == "hello"


def test_done_after_the_spoken_strings_closing_quote() -> None:
    reader = StreamedArrayReader(leading=4)
    reader.feed('["a","b","c","d","hello')
    assert not reader.done
    reader.feed('"')
    assert reader.done


def test_input_after_done_is_ignored() -> None:
    reader = StreamedArrayReader(leading=4)
    assert reader.feed('["a","b","c","d","hi"] trailing "junk"') == "hi"
    assert reader.feed("more text") == ""


def test_short_array_is_done_at_its_closing_bracket_without_a_thought() -> None:
    reader = StreamedArrayReader(leading=4)
    assert reader.feed('["a","b"]') == ""
    assert reader.done
    assert not reader.thought_ready
    assert reader.fields == ["a", "b"]


def test_leading_zero_speaks_the_first_string() -> None:
    reader = StreamedArrayReader(leading=0)
    assert reader.feed('["just speech"]') == "just speech"
    assert reader.fields == []


@pytest.mark.parametrize("text", ['{"a": 1}', "hello", '"just a string"'])
def test_non_array_input_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="expected a JSON array"):
        StreamedArrayReader(leading=4).feed(text)


@pytest.mark.parametrize("text", ['["a", 1]', '["a", null]', '[["a"]]'])
def test_non_string_element_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="expected a JSON string"):
        StreamedArrayReader(leading=4).feed(text)
