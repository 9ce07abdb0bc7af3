"""The greeting is the first thing a caller hears and waits through before answering:
every built-in program's greeting, spoken by the default voice, lasts at most
``MAX_GREETING_S`` (issue 13: greeting ≤ 3 s of audio) and still says it is an AI."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.program import load_program
from models.tts import TTS
from voice.greeting import MAX_GREETING_S, GreetingCache

pytestmark = pytest.mark.real

PROGRAMS = sorted(p.stem for p in (Path(__file__).parents[2] / "agent" / "programs").glob("*.json"))


@pytest.mark.parametrize("name", PROGRAMS)
async def test_each_built_in_greeting_is_short_and_discloses_the_ai(name: str, piper: TTS) -> None:
    program = load_program(name)
    seconds = await GreetingCache().warm(program.version, program.greeting, piper)
    assert 0.5 < seconds <= MAX_GREETING_S, (program.greeting, seconds)
    assert " AI " in f" {program.greeting} ", program.greeting
