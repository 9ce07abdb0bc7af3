"""The batch report: every file written, valid PNGs, escaped HTML, a JSON summary that
reads back, the same bytes for the same dialogues."""

from __future__ import annotations

import json
import re
from pathlib import Path

from agent.dialogue import Dialogue, Outcome, Template
from agent.stats import cluster_mean, persona_rate, rate
from simulator.metrics import Summary, summarize
from simulator.report import (
    Section,
    Table,
    render_html,
    render_markdown,
    write_report,
)
from tests.unit.test_simulator_metrics import make_dialogue, three_dialogues

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script>"


def dialogues() -> list[Dialogue]:
    evil = {"sector": "R", "gender": "Female", "occupation": EVIL, "mbti_ei": "I"}
    return [*three_dialogues(),
            make_dialogue("d4", "p3", [(Template.PIVOT, "travel")], Outcome.EXPLICIT_INTENT,
                          "travel", groups=evil, utterances=3)]


def test_report_writes_summary_markdown_html_and_valid_pngs(tmp_path: Path) -> None:
    paths = write_report(dialogues(), tmp_path / "out", title="batch one",
                         group_by=("sector", "occupation"))
    for path in (paths.summary, paths.markdown, paths.html):
        assert path.is_file() and path.stat().st_size > 0
    names = sorted(p.name for p in paths.plots)
    assert names == ["intents_by_sector.png", "outcomes.png", "success_by_sector.png",
                     "turns_by_occupation.png", "turns_by_sector.png"]
    for plot in paths.plots:
        data = plot.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, plot.name
    page = paths.html.read_text()
    for name in names:
        assert f'<img src="{name}"' in page


def test_html_has_the_tables_and_escapes_persona_values(tmp_path: Path) -> None:
    paths = write_report(dialogues(), tmp_path, title="A & B <test>",
                         group_by=("sector", "occupation"))
    page = paths.html.read_text()
    assert page.count("<table>") == 4  # overall, sectors, by sector, by occupation
    assert "<h2>By occupation</h2>" in page
    assert "<td>K · Financial and insurance activities</td>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "<title>A &amp; B &lt;test&gt;</title>" in page
    markdown = paths.markdown.read_text()
    assert r"| \<script\>alert(1)\</script\> |" in markdown  # literal text, no markup
    assert not re.search(r"(?<!\\)<script", markdown) and "&lt;" not in markdown
    assert "| dialogues | 4 |" in markdown
    assert "| success (95% CI) | 50.0% (" in markdown  # d1 and d4 of four


def test_summary_json_round_trips_and_carries_extra(tmp_path: Path) -> None:
    ds = dialogues()
    extra = {"throughput": {"dialogues per hour": 1234.5, "workers": 4}, "asr_wer": 0.07}
    paths = write_report(ds, tmp_path, title="t", group_by=("sector",), extra=extra)
    data = json.loads(paths.summary.read_text())
    assert data.pop("extra") == extra
    assert data == summarize(ds, ("sector",))
    assert Summary.model_validate(data).n_personas == 3


def test_extra_renders_as_key_value_tables(tmp_path: Path) -> None:
    extra = {"throughput": {"dialogues per hour": 1234.5, "workers": 4}, "asr_wer": 0.07}
    paths = write_report(dialogues(), tmp_path, title="t", group_by=(), extra=extra)
    markdown = paths.markdown.read_text()
    assert "## throughput" in markdown
    assert "| dialogues per hour | 1234.5 |" in markdown
    assert "## Extra" in markdown and "| asr_wer | 0.07 |" in markdown
    assert "<h2>throughput</h2>" in paths.html.read_text()


def test_report_is_byte_identical_for_the_same_dialogues(tmp_path: Path) -> None:
    a = write_report(dialogues(), tmp_path / "a", title="t")
    b = write_report(list(reversed(dialogues())), tmp_path / "b", title="t")
    for pa, pb in zip([a.summary, a.markdown, a.html, *a.plots],
                      [b.summary, b.markdown, b.html, *b.plots], strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_sector_plots_are_drawn_even_when_not_grouped_by_sector(tmp_path: Path) -> None:
    paths = write_report(dialogues(), tmp_path, title="t", group_by=("gender",))
    assert {p.name for p in paths.plots} >= {"intents_by_sector.png", "success_by_sector.png"}


def test_a_sector_without_successes_falls_back_to_mentioned_intents(tmp_path: Path) -> None:
    ds = [make_dialogue("x", "p", [(Template.PIVOT, "medical")], Outcome.WITHDREW,
                        groups={"sector": "A"})]
    paths = write_report(ds, tmp_path, title="t", group_by=())
    assert (tmp_path / "intents_by_sector.png").read_bytes().startswith(PNG_MAGIC)
    row = "| A · Agriculture, forestry and fishing | 1 | 1 | 0.0% (0.0 to 79.3) | — |"
    assert f"{row} medical 100.0% |" in paths.markdown.read_text()


def test_report_of_no_dialogues_says_so_and_draws_nothing(tmp_path: Path) -> None:
    paths = write_report([], tmp_path, title="empty")
    assert paths.plots == ()
    assert "No dialogues." in paths.markdown.read_text()
    assert json.loads(paths.summary.read_text())["n_dialogues"] == 0


def test_markdown_shows_plain_text_and_html_shows_escaped_text() -> None:
    section = Section("Cramér's V & friends", (
        "Cramér's V of attribute x intent; p < 0.05 for A & B.",
        Table(("attribute", "note"), (("sector", "a|b *not bold* [no link](x) &amp;"),))))
    markdown = render_markdown("Tom's report", [section])
    assert "# Tom's report" in markdown and "## Cramér's V & friends" in markdown
    assert "Cramér's V of attribute x intent; p \\< 0.05 for A & B." in markdown
    assert r"| sector | a\|b \*not bold\* \[no link\](x) \&amp; |" in markdown
    assert "&#x27;" not in markdown and "&amp; friends" not in markdown
    page = render_html("Tom's report", [section])
    assert "<h2>Cramér&#x27;s V &amp; friends</h2>" in page
    assert "p &lt; 0.05 for A &amp; B." in page


def test_persona_rates_are_wilson_per_persona_or_a_bootstrap_over_personas() -> None:
    assert persona_rate([[1.0], [0.0], [1.0], [1.0]]) == rate(3, 4)
    several = [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    assert persona_rate(several) == cluster_mean(several)
    assert persona_rate([[1.0, 0.0, 0.0], [1.0]], persona_mean=True) == cluster_mean(
        [[1 / 3], [1.0]])
    # Nothing to resample: every persona counts as one trial (not a zero-width interval).
    assert persona_rate([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]) == rate(0, 3)
    one = persona_rate([[1.0, 0.0]])
    assert (one.value, one.low, one.high, one.n) == (0.5, 0.0, 1.0, 1)
