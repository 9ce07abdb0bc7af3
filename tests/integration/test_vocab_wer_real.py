"""The vocabulary bench end to end on the real embedded models: sheet sentences spoken
by piper (agent) and espeak-ng (caller), through the telephone line, into whisper."""

from __future__ import annotations

import pytest

from agent.domain import load_domain
from models.asr import ASR
from models.registry import build_tts
from models.tts import TTS
from server.settings import Settings
from simulator.audio import LineSettings
from simulator.vocab_bench import measure, vocab_lines

pytestmark = pytest.mark.real


async def test_sheet_names_and_figures_cross_the_telephone_line_and_are_scored(
        settings: Settings, piper: TTS, asr: ASR) -> None:
    domain = load_domain("insurance")
    lines = vocab_lines(domain)
    agent = [vl for vl in lines if vl.voice == "agent" and vl.product == "term_life"][:3]
    caller = [vl for vl in lines if vl.voice == "caller" and vl.product == "medical"][:2]
    espeak = build_tts(settings.tts.model_copy(update={"backend": "espeak-ng"}),
                       settings.cache_dir)
    try:
        result = await measure([*agent, *caller], {"agent": piper, "caller": espeak}, asr,
                               domain, LineSettings())
    finally:
        await espeak.aclose()
    print(result)
    rows = result["by_voice"]
    assert len(result["lines"]) == 5 and all(line["heard"] for line in result["lines"])
    assert rows["all"]["product_words"] > 0 and rows["agent"]["figures"] >= 5
    # The agent's clear voice: most words, names and figures come through the line.
    assert rows["agent"]["wer"] <= 0.3
    assert rows["agent"]["product_word_error"] <= 0.5
    assert rows["agent"]["figure_error"] <= 0.5
    # Rates are rates: the category ones count reference words only.
    for row in rows.values():
        for key in ("product_word_error", "figure_error", "other_word_error"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0
        assert row["wer"] >= 0.0
