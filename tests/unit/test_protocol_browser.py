"""Browser protocol v1 codec: frames in, events out, exact bytes and JSON out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from agent.dialogue import CallerProfile
from server.protocol.browser import Audio, BrowserCodec, End, Ping, Played, Start
from server.protocol.errors import CloseCode, ProtocolError

START = '{"type":"start","version":1}'


def started(max_frame_bytes: int = 64 * 1024, sample_rate: int = 16000) -> BrowserCodec:
    codec = BrowserCodec(max_frame_bytes=max_frame_bytes)
    codec.receive_text(f'{{"type":"start","version":1,"sample_rate":{sample_rate}}}')
    return codec


def close_code_of(codec: BrowserCodec, frame: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        if isinstance(frame, str):
            codec.receive_text(frame)
        else:
            codec.receive_bytes(frame)
    return info.value


# -- start ------------------------------------------------------------------------------


def test_start_with_every_field_becomes_a_start_event() -> None:
    codec = BrowserCodec()
    event = codec.receive_text(
        '{"type":"start","version":1,"token":"s3cret","sample_rate":48000,'
        '"caller":{"caller_id":"+4915100000000","name":"Ana","occupation":"nurse",'
        '"sector":"Q","age":41,"gender":"f","attributes":{"crm":"7"}},"variant":"B"}'
    )
    assert event == Start(
        version=1,
        token="s3cret",
        sample_rate=48000,
        caller=CallerProfile(
            caller_id="+4915100000000",
            name="Ana",
            occupation="nurse",
            sector="Q",
            age=41,
            gender="f",
            attributes={"crm": "7"},
        ),
        variant="B",
    )
    assert codec.start == event


def test_minimal_start_defaults_to_16k_and_an_empty_caller() -> None:
    event = BrowserCodec().receive_text(START)
    assert event == Start(1, None, 16000, CallerProfile(), None)


def test_start_repr_hides_the_token() -> None:
    event = BrowserCodec().receive_text('{"type":"start","version":1,"token":"s3cret"}')
    assert "s3cret" not in repr(event)


@pytest.mark.parametrize("rate", [8000, 48000])
def test_sample_rate_bounds_are_inclusive(rate: int) -> None:
    event = BrowserCodec().receive_text(f'{{"type":"start","version":1,"sample_rate":{rate}}}')
    assert isinstance(event, Start) and event.sample_rate == rate


# -- audio ------------------------------------------------------------------------------


def test_audio_at_16k_is_little_endian_int16_unchanged() -> None:
    event = started().receive_bytes(b"\x01\x00\xff\xff\x00\x80\xff\x7f")
    assert isinstance(event, Audio)
    assert event.pcm16k.dtype == np.int16
    assert event.pcm16k.tolist() == [1, -1, -32768, 32767]


@pytest.mark.parametrize(
    ("rate", "samples_in", "samples_out"), [(8000, 160, 320), (48000, 960, 320)]
)
def test_audio_is_resampled_to_16k(rate: int, samples_in: int, samples_out: int) -> None:
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(samples_in) / rate)).astype("<i2")
    event = started(sample_rate=rate).receive_bytes(tone.tobytes())
    assert event.pcm16k.dtype == np.int16
    assert len(event.pcm16k) == samples_out
    assert 6000 < np.abs(event.pcm16k).max() < 9000


def test_empty_binary_frame_is_zero_samples() -> None:
    assert len(started().receive_bytes(b"").pcm16k) == 0


def test_binary_frame_of_exactly_max_frame_bytes_is_accepted() -> None:
    assert len(started(max_frame_bytes=640).receive_bytes(bytes(640)).pcm16k) == 320


# -- end and ping -----------------------------------------------------------------------


def test_end_and_ping_events() -> None:
    codec = started()
    assert codec.receive_text('{"type":"ping","id":7}') == Ping(7)
    assert codec.receive_text('{"type":"ping","id":"a"}') == Ping("a")
    assert codec.receive_text('{"type":"ping"}') == Ping(None)
    assert codec.receive_text('{"type":"end"}') == End()
    assert codec.ended


# -- errors and their close codes -------------------------------------------------------


def test_binary_before_start_is_1003() -> None:
    err = close_code_of(BrowserCodec(), b"\x00\x00")
    assert err.code == CloseCode.UNSUPPORTED_DATA
    assert int(err.code) == 1003


@pytest.mark.parametrize("text", ['{"type":"end"}', '{"type":"ping","id":1}'])
def test_other_text_before_start_is_4400(text: str) -> None:
    err = close_code_of(BrowserCodec(), text)
    assert err.code == CloseCode.MALFORMED
    assert int(err.code) == 4400
    assert "first message must be 'start'" in err.message


def test_start_twice_is_4400() -> None:
    err = close_code_of(started(), START)
    assert (err.code, err.message) == (4400, "'start' sent twice")


@pytest.mark.parametrize("text", ["hello", '{"type":"start"', "", '{"type":"ping","id":NaN}'])
def test_text_that_is_not_json_is_1003(text: str) -> None:
    err = close_code_of(BrowserCodec(), text)
    assert err.code == 1003
    assert err.message.startswith("text frame is not JSON")


@pytest.mark.parametrize(
    ("text", "kind"), [("[]", "array"), ('"start"', "string"), ("1", "number"), ("null", "null")]
)
def test_json_that_is_not_an_object_is_4400(text: str, kind: str) -> None:
    err = close_code_of(BrowserCodec(), text)
    assert (err.code, err.message) == (4400, f"message must be a JSON object, got {kind}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type":"hangup"}', "unknown message type 'hangup'"),
        ('{"kind":"start"}', "message has no string 'type' field"),
        ('{"type":1}', "message has no string 'type' field"),
    ],
)
def test_unknown_or_missing_type_is_4400(text: str, message: str) -> None:
    for codec in (BrowserCodec(), started()):
        err = close_code_of(codec, text)
        assert (err.code, err.message) == (4400, message)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ('"version":2', "unsupported protocol version 2; this server speaks 1"),
        ('"version":0', "unsupported protocol version 0"),
        ("", "version: Field required"),
        ('"version":true', "version: Input should be a valid integer"),
        ('"version":"1"', "version: Input should be a valid integer"),
        ('"version":1.0', "version: Input should be a valid integer"),
        ('"version":1,"sample_rate":7999', "sample_rate: Input should be greater than or equal"),
        ('"version":1,"sample_rate":48001', "sample_rate: Input should be less than or equal"),
        ('"version":1,"sample_rate":"16000"', "sample_rate: Input should be a valid integer"),
        (
            '"version":1,"caller":{"nickname":"x"}',
            "caller.nickname: Extra inputs are not permitted",
        ),
        ('"version":1,"caller":{"age":"old"}', "caller.age: Input should be a valid integer"),
        ('"version":1,"caller":[]', "caller: Input should be"),
        ('"version":1,"variant":3', "variant: Input should be a valid string"),
        ('"version":1,"mode":"fast"', "mode: Extra inputs are not permitted"),
    ],
)
def test_bad_start_fields_are_4400_naming_the_field(fields: str, named: str) -> None:
    text = '{"type":"start"' + ("," + fields if fields else "") + "}"
    codec = BrowserCodec()
    err = close_code_of(codec, text)
    assert err.code == 4400
    assert named in err.message
    assert codec.start is None


def test_bad_token_error_does_not_echo_the_token() -> None:
    err = close_code_of(BrowserCodec(), '{"type":"start","version":1,"token":["s3cret"]}')
    assert err.code == 4400
    assert "token" in err.message and "s3cret" not in err.message


@pytest.mark.parametrize(
    "text", ['{"type":"ping","id":1.5}', '{"type":"ping","id":{}}', '{"type":"end","now":1}']
)
def test_bad_end_or_ping_fields_are_4400(text: str) -> None:
    assert close_code_of(started(), text).code == 4400


def test_odd_length_binary_is_1003() -> None:
    err = close_code_of(started(), b"\x01\x00\x02")
    assert err.code == 1003
    assert "odd number of bytes (3)" in err.message


def test_binary_larger_than_max_frame_bytes_is_1009() -> None:
    err = close_code_of(started(max_frame_bytes=640), bytes(642))
    assert (err.code, err.message) == (1009, "frame of 642 bytes exceeds max_frame_bytes=640")


def test_text_larger_than_max_frame_bytes_is_1009() -> None:
    codec = BrowserCodec(max_frame_bytes=400)
    padding = "é" * 190  # 190 characters, 380 bytes of UTF-8
    err = close_code_of(codec, '{"type":"start","version":1,"variant":"' + padding + '"}')
    assert err.code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize("frame", ['{"type":"ping"}', '{"type":"end"}', START, b"\x00\x00"])
def test_anything_after_end_is_4400(frame: str | bytes) -> None:
    codec = started()
    codec.receive_text('{"type":"end"}')
    assert close_code_of(codec, frame).code == 4400


def test_a_rejected_message_leaves_the_call_state_alone() -> None:
    codec = started()
    close_code_of(codec, '{"type":"ping","id":1.5}')
    assert codec.receive_text('{"type":"ping","id":2}') == Ping(2)
    assert not codec.ended


def test_close_reason_fits_a_close_frame() -> None:
    err = ProtocolError(CloseCode.MALFORMED, "ü" * 100)
    assert len(err.reason.encode("utf-8")) <= 123
    assert err.reason.endswith("...")
    assert ProtocolError(CloseCode.MALFORMED, "short").reason == "short"


# -- server → client --------------------------------------------------------------------


def test_server_messages_are_compact_json_in_spec_field_order() -> None:
    codec = BrowserCodec()
    assert codec.ready("c-1", "B", "prog-3") == (
        '{"type":"ready","version":1,"call_id":"c-1","sample_rate":16000,'
        '"variant":"B","program_version":"prog-3"}'
    )
    assert codec.ready("c-2", None, "p") == (
        '{"type":"ready","version":1,"call_id":"c-2","sample_rate":16000,'
        '"variant":null,"program_version":"p"}'
    )
    assert codec.transcript("hello there", False) == (
        '{"type":"transcript","text":"hello there","final":false}'
    )
    assert codec.agent_text(3, "Guten Tag, Frau Müller.") == (
        '{"type":"agent_text","turn":3,"text":"Guten Tag, Frau Müller."}'
    )
    assert codec.agent_info(3, {"strategy": "pivot", "sector": "Q"}) == (
        '{"type":"agent_info","turn":3,"data":{"strategy":"pivot","sector":"Q"}}'
    )
    assert codec.interrupt(4, "So the plan cov") == (
        '{"type":"interrupt","turn":4,"played_text":"So the plan cov"}'
    )
    assert codec.turn(4, "no thanks", "So the plan cov", True, {"voice_to_voice_s": 0.75}) == (
        '{"type":"turn","turn":4,"user_text":"no thanks","agent_text":"So the plan cov",'
        '"interrupted":true,"timings":{"voice_to_voice_s":0.75}}'
    )
    assert codec.error(CloseCode.MALFORMED, "bad ping") == (
        '{"type":"error","code":4400,"message":"bad ping"}'
    )
    assert codec.pong(7) == '{"type":"pong","id":7}'
    assert codec.pong(None) == '{"type":"pong","id":null}'
    assert codec.end("caller", "hung_up") == '{"type":"end","reason":"caller","outcome":"hung_up"}'
    assert codec.end("error", None) == '{"type":"end","reason":"error","outcome":null}'


def test_quotes_and_control_characters_are_escaped_in_json() -> None:
    text = BrowserCodec().transcript('he said "no"\n', True)
    assert text == '{"type":"transcript","text":"he said \\"no\\"\\n","final":true}'
    assert json.loads(text)["text"] == 'he said "no"\n'


def test_nan_timings_are_refused_rather_than_sent_as_invalid_json() -> None:
    with pytest.raises(ValueError):
        BrowserCodec().turn(1, "", "", False, {"asr_final": float("nan")})


def test_agent_audio_is_little_endian_int16_bytes() -> None:
    pcm = np.array([1, -1, 256, -32768, 32767], dtype=np.int16)
    assert BrowserCodec().audio(pcm) == b"\x01\x00\xff\xff\x00\x01\x00\x80\xff\x7f"


def test_agent_audio_round_trips_through_a_16k_call() -> None:
    pcm = np.arange(-160, 160, dtype=np.int16) * 100
    codec = started()
    assert np.array_equal(codec.receive_bytes(codec.audio(pcm)).pcm16k, pcm)


def test_close_codes_are_the_table_of_the_spec() -> None:
    spec = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = spec.split("### Close codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d{4}) \|", table, flags=re.MULTILINE)}
    assert documented == {int(code) for code in CloseCode}


# -- playout marks -------------------------------------------------------------------


def test_marks_go_out_and_their_echo_comes_back_as_played() -> None:
    codec = started()
    assert json.loads(codec.mark(2, 48000)) == {"type": "mark", "turn": 2, "position": 48000}
    assert json.loads(codec.clear(2)) == {"type": "clear", "turn": 2}
    assert codec.receive_text('{"type":"played","turn":2,"position":48000}') == Played(2, 48000)


@pytest.mark.parametrize("frame", [
    '{"type":"played","turn":2}',
    '{"type":"played","turn":"2","position":10}',
    '{"type":"played","turn":2,"position":-1}',
    '{"type":"played","turn":2,"position":10,"extra":1}',
])
def test_a_malformed_played_message_is_a_4400(frame: str) -> None:
    assert close_code_of(started(), frame).code == CloseCode.MALFORMED


def test_played_before_start_is_out_of_order() -> None:
    error = close_code_of(BrowserCodec(), '{"type":"played","turn":1,"position":0}')
    assert error.code == CloseCode.MALFORMED and "start" in error.message
