"""``server/ab_report.py``: an experiment's Analysis as Markdown, self-contained HTML, PNG
and JSON, with a first line that says whether anything is decided yet."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from statsmodels.stats.proportion import proportion_confint

from agent.ab_analysis import Epoch, Unit, UnitsData, analyze
from server.ab_report import headline, plot, to_html, to_markdown, write_report

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


def spec(units_per_arm: int | None = None, arms: tuple[str, ...] = ("A", "B"),
         guardrails: tuple[str, ...] = ("opt_out_rate", "call_seconds")) -> dict[str, Any]:
    return {"name": "pitch", "control": "A", "arms": [{"name": a, "weight": 1.0} for a in arms],
            "plan": {"baseline": 0.1, "mde": 0.05, "alpha": 0.05, "power": 0.8,
                     "units_per_arm": units_per_arm},
            "guardrails": list(guardrails)}


def units(arm: str, n: int, converted: int, *, opted_out: int = 0, days: int = 5,
          epoch: int = 0) -> list[Unit]:
    """``n`` callers spread over ``days`` days, the first ``converted`` of them converting
    an hour after their call, the last ``opted_out`` opting out."""
    out = []
    for i in range(n):
        first = START + timedelta(days=days * i / n)
        out.append(Unit(key=f"caller:{arm}{i}", arm=arm, first_at=first, epoch=epoch,
                        converted_at=first + timedelta(hours=1) if i < converted else None,
                        opted_out=i >= n - opted_out, turns=4, call_seconds=[60.0 + i % 7]))
    return out


def analysis(data: list[Unit], *, weights: dict[str, float] | None = None,
             **kw: Any) -> dict[str, Any]:
    epochs = [Epoch(0, weights or {"A": 1.0, "B": 1.0}, START)]
    return analyze(spec(**kw), UnitsData(data, epochs), now=START + timedelta(days=6)).to_json()


def test_first_line_says_not_enough_data_yet_until_the_plan_or_boundary_is_reached() -> None:
    early = analysis(units("A", 100, 10) + units("B", 100, 12), units_per_arm=400)
    md = to_markdown(early)
    first = md.splitlines()[0]
    assert "not enough data yet" in first
    assert "100 of the planned 400 callers" in first
    done = analysis(units("A", 400, 40) + units("B", 400, 44), units_per_arm=400)
    assert done["verdict"] == "no difference shown"
    first = to_markdown(done).splitlines()[0]
    assert "not enough data yet" not in first
    assert "no difference shown (at the planned sample size)" in first


def test_a_clear_winner_is_said_first_with_the_sequential_test_as_the_reason() -> None:
    a = analysis(units("A", 500, 50) + units("B", 500, 150))
    assert a["decided_by"] == "sequential"
    assert headline(a) == "B beats A (by the always-valid sequential test)."
    assert to_markdown(a).splitlines()[0] == "# Experiment pitch: " + headline(a)


def test_markdown_shows_each_arm_with_its_wilson_interval_and_each_comparison() -> None:
    a = analysis(units("A", 300, 30) + units("B", 300, 45))
    md = to_markdown(a)
    for k in (30, 45):
        low, high = proportion_confint(k, 300, method="wilson")
        assert f"{100 * k / 300:.1f}% ({100 * low:.1f} to {100 * high:.1f})" in md
    c = a["comparisons"][0]
    row = next(line for line in md.splitlines() if line.startswith("| B | A |"))
    assert f"{100 * c['diff']:+.1f} pt ({100 * c['low']:+.1f} to {100 * c['high']:+.1f})" in row
    assert f"{c['p_fixed']:.3g}" in row and f"{c['p_always_valid']:.3g}" in row
    assert f"{c['prob_beats']:.3g}" in row
    for section in ("Guardrails", "Plan", "Sample-ratio mismatch", "Excluded", "Looks",
                    "Statistics"):
        assert f"## {section}" in md


def test_breached_guardrails_and_sample_ratio_mismatch_are_called_out() -> None:
    a = analysis(units("A", 1000, 100, opted_out=10) + units("B", 1200, 120, opted_out=150))
    md = to_markdown(a)
    assert "Guardrail breached (worse than the control, interval above 0): B: opt_out_rate" in md
    assert "| B | opt_out_rate |" in md and "BREACHED" in md
    assert a["srm"][0]["flagged"]  # 1000 / 1200 at equal weights
    assert "Sample-ratio mismatch in weight setting 0" in md
    calm = to_markdown(analysis(units("A", 1000, 100) + units("B", 1000, 100)))
    assert "BREACHED" not in calm and "FLAGGED" not in calm


def test_html_is_one_self_contained_file_with_its_figure_inlined(tmp_path: Path) -> None:
    a = analysis(units("A", 300, 30) + units("B", 300, 45))
    [page] = write_report(a, "html", tmp_path / "r.html")
    text = page.read_text()
    assert list(tmp_path.iterdir()) == [page]
    sources = re.findall(r'src="([^"]+)"', text)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert base64.b64decode(sources[0].split(",", 1)[1]).startswith(PNG)
    assert "not enough data yet" in text.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert "<script" not in text and "http" not in text.replace("<!DOCTYPE html>", "")


def test_markdown_file_gets_its_figure_beside_it(tmp_path: Path) -> None:
    a = analysis(units("A", 300, 30) + units("B", 300, 45))
    md, png = write_report(a, "md", tmp_path / "out" / "report.md")
    assert png == tmp_path / "out" / "report.png" and png.read_bytes().startswith(PNG)
    assert "![conversion per arm and always-valid p over looks](report.png)" in md.read_text()


def test_png_and_json_are_written_and_the_json_is_the_analysis(tmp_path: Path) -> None:
    a = analysis(units("A", 300, 30) + units("B", 300, 45))
    [png] = write_report(a, "png", tmp_path / "r.png")
    assert png.read_bytes().startswith(PNG) and png.stat().st_size > 10_000
    [data] = write_report(a, "json", tmp_path / "r.json")
    assert json.loads(data.read_text()) == a
    # Same analysis, same bytes (no software version or date in the PNG).
    assert plot(a, tmp_path / "again.png").read_bytes() == png.read_bytes()


def test_three_arms_and_an_empty_experiment_render() -> None:
    three = analyze(spec(arms=("A", "B", "C")), UnitsData(
        units("A", 200, 20) + units("B", 200, 25) + units("C", 200, 60),
        [Epoch(0, {"A": 1.0, "B": 1.0, "C": 1.0}, START)]),
        now=START + timedelta(days=6)).to_json()
    md = to_markdown(three)
    assert "| B | A |" in md and "| C | A |" in md
    assert "smallest of 2 comparisons x 2 (Bonferroni)" in md
    empty = analysis([])
    assert to_markdown(empty).splitlines()[0].startswith(
        "# Experiment pitch: not enough data yet: 0 of the planned")
    assert "<h1>" in to_html(empty, None)
