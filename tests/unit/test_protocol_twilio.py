"""Twilio Media Streams codec, request signatures and TwiML, against Twilio's wire shapes."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from agent.dialogue import CallerProfile
from server.protocol.errors import CloseCode, ProtocolError
from server.protocol.twilio import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    TwilioCodec,
    mark_name,
    parse_mark_name,
    twilio_signature,
    twiml_connect,
    valid_twilio_signature,
)

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"

# The messages below have the exact shapes of Twilio's published Media Streams
# messages (docs: voice/media-streams/websocket-messages), values made up.
CONNECTED = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'

START = """{
  "event": "start",
  "sequenceNumber": "1",
  "start": {
    "accountSid": "AC0000000000000000000000000000000a",
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    "callSid": "CA0000000000000000000000000000000c",
    "tracks": ["inbound"],
    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    "customParameters": {
      "caller_id": "+4915100000000",
      "name": "Ana",
      "occupation": "nurse",
      "sector": "Q",
      "age": "41",
      "gender": "",
      "variant": "B",
      "crm_id": "7"
    }
  },
  "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
}"""

# 160 bytes of μ-law 0xFF (G.711 zero): 20 ms of silence at 8 kHz.
SILENCE_B64 = base64.b64encode(b"\xff" * 160).decode()

MEDIA = """{
  "event": "media",
  "sequenceNumber": "3",
  "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "%s"},
  "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
}"""

MARK = """{
  "event": "mark",
  "sequenceNumber": "4",
  "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
  "mark": {"name": "turn-2-piece-1"}
}"""

DTMF = """{
  "event": "dtmf",
  "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
  "sequenceNumber": "5",
  "dtmf": {"track": "inbound_track", "digit": "1"}
}"""

STOP = """{
  "event": "stop",
  "sequenceNumber": "6",
  "stop": {
    "accountSid": "AC0000000000000000000000000000000a",
    "callSid": "CA0000000000000000000000000000000c"
  },
  "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
}"""


def started() -> TwilioCodec:
    codec = TwilioCodec()
    codec.receive(CONNECTED)
    codec.receive(START)
    return codec


def error_of(codec: TwilioCodec, text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        codec.receive(text)
    return info.value


def start_with(**media_format: object) -> str:
    obj = json.loads(START)
    obj["start"]["mediaFormat"].update(media_format)
    return json.dumps(obj)


# -- inbound events ---------------------------------------------------------------------


def test_a_whole_twilio_stream_becomes_events_in_order() -> None:
    codec = TwilioCodec()
    assert codec.receive(CONNECTED) == Connected(protocol="Call", version="1.0.0")
    start = codec.receive(START)
    assert start == Start(
        stream_sid=SID,
        call_sid="CA0000000000000000000000000000000c",
        account_sid="AC0000000000000000000000000000000a",
        custom_parameters={
            "caller_id": "+4915100000000",
            "name": "Ana",
            "occupation": "nurse",
            "sector": "Q",
            "age": "41",
            "gender": "",
            "variant": "B",
            "crm_id": "7",
        },
        caller=CallerProfile(
            caller_id="+4915100000000",
            name="Ana",
            occupation="nurse",
            sector="Q",
            age=41,
            gender=None,  # an empty parameter counts as unknown
            attributes={"crm_id": "7"},
        ),
        variant="B",
    )
    assert codec.start == start
    media = codec.receive(MEDIA % SILENCE_B64)
    assert isinstance(media, Media)
    assert (media.chunk, media.timestamp) == (1, 5)
    assert media.pcm16k.dtype == np.int16
    assert media.pcm16k.tolist() == [0] * 320  # 20 ms at 16 kHz
    assert codec.receive(MARK) == Mark("turn-2-piece-1")
    assert codec.receive(DTMF) == Dtmf("1")
    assert codec.receive(STOP) == Stop()
    assert codec.stopped


def test_start_without_custom_parameters_has_an_empty_caller() -> None:
    obj = json.loads(START)
    del obj["start"]["customParameters"]
    event = TwilioCodec().receive(json.dumps(obj))
    assert isinstance(event, Start)
    assert (event.caller, event.variant, event.custom_parameters) == (CallerProfile(), None, {})


def test_unknown_fields_from_twilio_are_ignored() -> None:
    obj = json.loads(MEDIA % SILENCE_B64)
    obj["media"]["newField"] = True
    obj["extra"] = {"x": 1}
    assert isinstance(started().receive(json.dumps(obj)), Media)


def test_media_decodes_g711_codes_to_pcm() -> None:
    # G.711 μ-law: 0x80 is the positive maximum (32124), 0x00 the negative one.
    loud = base64.b64encode(bytes([0x80, 0x00] * 400)).decode()
    event = started().receive(MEDIA % loud)
    assert isinstance(event, Media)
    assert len(event.pcm16k) == 1600
    assert event.pcm16k[400:1200].max() > 25000 and event.pcm16k[400:1200].min() < -25000


def test_mulaw_round_trip_through_media_recovers_the_audio() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    codec = started()
    outbound = json.loads(codec.media(tone))
    assert list(outbound) == ["event", "streamSid", "media"]
    assert len(base64.b64decode(outbound["media"]["payload"])) == 8000  # 1 s of 8 kHz μ-law
    inbound = MEDIA % outbound["media"]["payload"]
    event = codec.receive(inbound)
    assert isinstance(event, Media)
    assert len(event.pcm16k) == len(tone)
    # The streaming resamplers are causal FIRs: a constant delay of a few samples.
    got = event.pcm16k.astype(float)

    def snr(lag: int) -> float:
        ref = tone[200 : -200 - lag].astype(float)
        error = got[200 + lag : len(got) - 200] - ref
        return float(10 * np.log10(np.mean(ref**2) / np.mean(error**2)))

    assert max(snr(lag) for lag in range(64)) > 30


# -- inbound errors ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["not json", "", '{"event":"media"'])
def test_text_that_is_not_json_is_1003(text: str) -> None:
    assert error_of(started(), text).code == CloseCode.UNSUPPORTED_DATA


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"event":"dance"}', "unknown Twilio event 'dance'"),
        ('{"streamSid":"MZ"}', "message has no string 'event' field"),
        ("[1]", "message must be a JSON object, got array"),
    ],
)
def test_unknown_event_is_4400(text: str, message: str) -> None:
    err = error_of(started(), text)
    assert (err.code, err.message) == (CloseCode.MALFORMED, message)


@pytest.mark.parametrize("text", [MEDIA % SILENCE_B64, MARK, DTMF, STOP])
def test_stream_events_before_start_are_4400(text: str) -> None:
    codec = TwilioCodec()
    codec.receive(CONNECTED)
    err = error_of(codec, text)
    assert err.code == 4400 and "before 'start'" in err.message


@pytest.mark.parametrize("text", [MEDIA % SILENCE_B64, MARK, DTMF, STOP])
def test_another_stream_sid_is_4400(text: str) -> None:
    err = error_of(started(), text.replace(SID, "MZ000000000000000000000000000000ff"))
    assert err.code == 4400
    assert "streamSid 'MZ000000000000000000000000000000ff' is not this stream's" in err.message


def test_start_whose_two_stream_sids_differ_is_4400() -> None:
    obj = json.loads(START)
    obj["streamSid"] = "MZother"
    assert error_of(TwilioCodec(), json.dumps(obj)).code == 4400


@pytest.mark.parametrize(
    "media_format",
    [
        {"encoding": "audio/l16"},
        {"sampleRate": 16000},
        {"channels": 2},
    ],
)
def test_media_format_other_than_mulaw_8k_mono_is_4400(media_format: dict[str, object]) -> None:
    codec = TwilioCodec()
    err = error_of(codec, start_with(**media_format))
    assert err.code == 4400 and "unsupported mediaFormat" in err.message
    assert codec.start is None


@pytest.mark.parametrize("payload", ["***", "//8", "//8=\\n//8="])
def test_bad_base64_payload_is_4400(payload: str) -> None:
    err = error_of(started(), MEDIA % payload)
    assert err.code == 4400 and "media.payload is not base64" in err.message


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('"chunk": "1"', '"chunk": "one"', "media.chunk"),
        ('"payload": "', '"payloads": "', "media.payload: Field required"),
        ('"track": "inbound"', '"track": "outbound"', "only 'inbound' expected"),
    ],
)
def test_bad_media_fields_are_4400_naming_the_field(old: str, new: str, named: str) -> None:
    err = error_of(started(), (MEDIA % SILENCE_B64).replace(old, new))
    assert err.code == 4400 and named in err.message


def test_unparseable_caller_age_is_4400() -> None:
    err = error_of(TwilioCodec(), START.replace('"age": "41"', '"age": "forty"'))
    assert err.code == 4400 and "start.customParameters" in err.message


def test_start_twice_and_anything_after_stop_are_4400() -> None:
    codec = started()
    assert error_of(codec, START).message == "'start' sent twice"
    assert error_of(codec, CONNECTED).message == "'connected' after 'start'"
    codec.receive(STOP)
    assert error_of(codec, MEDIA % SILENCE_B64).message == "'media' after 'stop'"


# -- outbound ---------------------------------------------------------------------------


def test_outbound_messages_are_twilio_json_exactly() -> None:
    codec = started()
    silence = np.zeros(320, dtype=np.int16)  # 20 ms at 16 kHz → 160 μ-law bytes
    assert codec.media(silence) == (
        '{"event":"media","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0",'
        '"media":{"payload":"' + SILENCE_B64 + '"}}'
    )
    assert codec.mark("turn-2-piece-1") == (
        '{"event":"mark","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0",'
        '"mark":{"name":"turn-2-piece-1"}}'
    )
    assert codec.clear() == '{"event":"clear","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}'


def test_sending_before_start_is_a_server_bug() -> None:
    codec = TwilioCodec()
    with pytest.raises(RuntimeError, match="no Twilio stream yet"):
        codec.clear()


# -- X-Twilio-Signature -----------------------------------------------------------------

# Published test vector of Twilio's own request validator (twilio-ruby's spec).
TOKEN = "2bd9e9638872de601313dc77410d3b23"
URL = "http://twiliotests.heroku.com/validate/sms"
PARAMS = {
    "ToState": "CA",
    "FromState": "CA",
    "AccountSid": "ACba8bc05eacf94afdae398e642c9cc32d",
    "SmsMessageSid": "SM2003cbd5e6a3701999aa3e5f20ff2787",
    "Body": "Orly",
    "From": "+14159354345",
    "FromCity": "SAN FRANCISCO",
    "SmsStatus": "received",
    "FromZip": "94107",
    "FromCountry": "US",
    "To": "+14158141819",
    "ToCity": "SAN FRANCISCO",
    "ToZip": "94105",
    "ToCountry": "US",
    "ApiVersion": "2010-04-01",
    "SmsSid": "SM2003cbd5e6a3701999aa3e5f20ff2787",
}
SIGNATURE = "mxeiv65lEe0b8L6LdVw2jgJi8yw="


def test_signature_matches_twilios_published_vector() -> None:
    assert twilio_signature(TOKEN, URL, PARAMS) == SIGNATURE
    assert valid_twilio_signature(TOKEN, URL, PARAMS, SIGNATURE)


def test_signature_does_not_depend_on_parameter_order() -> None:
    reordered = dict(reversed(list(PARAMS.items())))
    assert valid_twilio_signature(TOKEN, URL, reordered, SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("0" * 32, URL, PARAMS, SIGNATURE),  # another account's token
        (TOKEN, URL + "?x=1", PARAMS, SIGNATURE),  # another URL
        (TOKEN, URL, {**PARAMS, "Body": "Orly!"}, SIGNATURE),  # tampered form field
        (TOKEN, URL, {**PARAMS, "Extra": ""}, SIGNATURE),  # added form field
        (TOKEN, URL, PARAMS, SIGNATURE[:-2] + "x="),  # tampered signature
        (TOKEN, URL, PARAMS, ""),
        (TOKEN, URL, PARAMS, "mxeiv65lEe0b8L6LdVw2jgJi8yé"),  # non-ASCII header
    ],
)
def test_wrong_or_tampered_signatures_are_invalid(
    token: str, url: str, params: dict[str, str], signature: str
) -> None:
    assert not valid_twilio_signature(token, url, params, signature)


def test_websocket_upgrade_signature_covers_the_url_alone() -> None:
    url = "wss://calls.example.com/twilio/stream"
    signature = twilio_signature(TOKEN, url, None)
    assert signature == twilio_signature(TOKEN, url, {})
    assert valid_twilio_signature(TOKEN, url, None, signature)
    assert not valid_twilio_signature(TOKEN, url + "x", None, signature)


# -- TwiML ------------------------------------------------------------------------------


def test_twiml_connect_is_exact() -> None:
    twiml = twiml_connect(
        "wss://calls.example.com/twilio/stream",
        {"caller_id": "+4915100000000", "sector": "Q"},
    )
    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://calls.example.com/twilio/stream">'
        '<Parameter name="caller_id" value="+4915100000000"/>'
        '<Parameter name="sector" value="Q"/>'
        "</Stream></Connect></Response>"
    )


def test_twiml_escapes_values_so_they_survive_an_xml_parser() -> None:
    nasty = {"name": 'O\'Brien & "Sons" <Ltd>', "note": "line 1\nline\t2\r", "city": "Zürich"}
    url = "wss://calls.example.com/twilio/stream?a=1&b=2"
    twiml = twiml_connect(url, nasty)
    assert '<Parameter name="name" value="O\'Brien &amp; &quot;Sons&quot; &lt;Ltd&gt;"/>' in twiml
    stream = ET.fromstring(twiml.encode("utf-8")).find("./Connect/Stream")
    assert stream is not None and stream.get("url") == url
    assert {p.get("name"): p.get("value") for p in stream} == nasty


@pytest.mark.parametrize("value", ["bell\x07", "\ufffe", "\ud800"])
def test_twiml_refuses_characters_xml_cannot_carry(value: str) -> None:
    with pytest.raises(ValueError, match="cannot be sent in XML"):
        twiml_connect("wss://h/s", {"name": value})


def test_mark_names_carry_the_turn_and_position_and_others_are_not_ours() -> None:
    assert parse_mark_name(mark_name(3, 123456)) == (3, 123456)
    for name in ("", "turn3", "turn-1-at5", "turn3-at5x", "hello", "turn3-at" + "9" * 20):
        assert parse_mark_name(name) is None
