"""``bench soak`` in CI size: two callers for 20 s against the real app with scripted
models, every kind of call (normal with barge-ins, hang-up mid-turn, slow reader) over
both protocols; what the callers were told is checked against the call store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from rich.console import Console

from server.bench_calls import SALES_LINES
from server.bench_calls_run import Voices
from server.bench_soak import CallRecord, SoakBench, Target, run_soak
from server.bench_soak_report import slope_per_hour
from tests.unit.test_server_ab import serving, settings_for


def tone(seconds: float = 1.0) -> np.ndarray:
    """Loud enough for the energy VAD of the scripted models."""
    t = np.arange(int(16_000 * seconds))
    return (np.sin(2 * np.pi * 220 * t / 16_000) * 9000).astype(np.int16)


async def test_a_short_soak_over_both_protocols_loses_no_turn_and_reports_the_server_over_time(
    tmp_path: Path,
) -> None:
    soak = SoakBench(callers=2, minutes=20 / 60, turns=2, barge_in_every=2, hang_up_every=3,
                     slow_reader_every=4, slow_reader_s=3, window_s=5, warmup_s=5,
                     sample_s=0.5, reply_timeout_s=5, retry_s=1)
    voices = Voices(real=[(tone(), "hello there")], tts={line: tone() for line in SALES_LINES})
    async with serving(settings_for(tmp_path)) as (address, _hub):
        result = await run_soak(soak, Target(f"http://{address}", pid=os.getpid()), voices,
                                Console(width=120, force_terminal=False))
    json.dumps(result)  # the CLI writes it as JSON
    calls, turns = result["calls"], result["turns"]
    assert calls["made"] >= 6
    assert calls["completed"] == calls["made"], calls["not_completed"]
    assert all(calls["by_kind"][k] for k in ("normal", "hang_up", "slow_reader")), calls
    assert all(calls["by_protocol"][p] for p in ("browser", "twilio")), calls
    assert calls["stored"] == calls["made"] and not calls["stored_unfinished"]
    assert not calls["twilio_not_stored"]
    assert turns["client_seen"] > 0 and turns["lost"] == 0, turns["lost_detail"]
    assert turns["server_counted_not_stored"] == 0
    assert result["server_errors"]["errors_total_growth"] == 0
    assert len(result["latency_windows"]) >= 4
    assert any(w["v2v_n"] for w in result["latency_windows"])
    assert result["rss_mib"]["slope_after_warmup_mib_per_hour"] is not None
    assert result["fds"]["max"] is not None


def test_turns_the_caller_was_told_of_but_not_stored_count_as_lost() -> None:
    from server.bench_soak import summarize_soak

    told = CallRecord("browser", "normal", 0, 0, "+15550000001", 0.0, 1.0, "c1", [0, 1, 2],
                      1000)
    stored = {"c1": {"caller_id": "+15550000001", "finished_at": "x",
                     "turns": [{"index": 0}, {"index": 1}]}}
    result = summarize_soak(SoakBench(minutes=1), [told], [], stored, [], 60.0)
    assert result["turns"]["lost"] == 1
    assert result["turns"]["lost_detail"] == [
        {"call_id": "c1", "caller_id": "+15550000001", "turns": [2]}]


def test_the_rss_slope_is_per_hour_and_needs_three_samples() -> None:
    assert slope_per_hour([(0, 100.0), (1800, 110.0)]) is None
    slope = slope_per_hour([(0, 100.0), (1800, 110.0), (3600, 120.0)])
    assert slope is not None and abs(slope - 20.0) < 1e-9
