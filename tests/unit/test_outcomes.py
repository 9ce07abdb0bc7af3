"""Later outcomes from CSV / JSON-lines files and posted lists: checked rows, or an error
naming every bad row and field; and ``salesvoice outcomes import`` end to end."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from agent.dialogue import CallerProfile
from server.cli_outcomes import add_parsers
from server.outcomes import OutcomeImportError, parse_outcome_objects, read_outcomes
from server.store import CallStore

CSV = """\
call_id,caller_id,outcome,value,time
call-1,,policy_bought,420.5,2026-01-05T14:30:00Z
,+1 (555) 010-0199,quote_sent,,2026-01-06T09:00:00+01:00
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def import_error(path: Path) -> str:
    with pytest.raises(OutcomeImportError) as info:
        read_outcomes(path)
    return str(info.value)


def test_csv_rows_are_read_with_empty_cells_as_missing(tmp_path: Path) -> None:
    rows = read_outcomes(write(tmp_path, "crm.csv", CSV))
    assert [(r.row, r.call_id, r.caller_id, r.outcome, r.value) for r in rows] == [
        (1, "call-1", None, "policy_bought", 420.5),
        (2, None, "+1 (555) 010-0199", "quote_sent", None)]
    assert rows[0].time == datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    assert rows[1].time == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def test_jsonl_rows_are_read_and_numbered_by_line(tmp_path: Path) -> None:
    lines = [{"call_id": "call-1", "outcome": "policy_bought", "value": 420,
              "time": "2026-01-05T14:30:00Z"},
             {"caller_id": "+15550100199", "outcome": "complaint",
              "time": "2026-01-06T09:00:00+00:00"}]
    text = json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n"
    rows = read_outcomes(write(tmp_path, "crm.jsonl", text))
    assert [(r.row, r.outcome, r.value) for r in rows] == [(1, "policy_bought", 420.0),
                                                           (3, "complaint", None)]
    # No known extension: the first character tells JSON lines from CSV.
    assert read_outcomes(write(tmp_path, "crm.txt", text)) == rows
    assert len(read_outcomes(write(tmp_path, "crm.export", CSV))) == 2


def test_a_naive_time_is_an_error_naming_the_row_and_field(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "crm.csv", CSV.replace("2026-01-05T14:30:00Z",
                                                                  "2026-01-05T14:30:00")))
    assert "row 1 (line 2), field 'time': the time needs a zone" in message
    assert "nothing imported" in message and "row 2" not in message


def test_every_bad_row_is_named_with_its_field(tmp_path: Path) -> None:
    text = (CSV
            + "call-2,,policy_bought,lots,2026-01-05T14:30:00Z\n"        # row 3: value
            + "call-3,+15550100199,policy_bought,,2026-01-05T14:30:00Z\n"  # row 4: both ids
            + ",,policy_bought,,2026-01-05T14:30:00Z\n"                    # row 5: no id
            + "call-4,,Policy Bought,,2026-01-05T14:30:00Z\n"              # row 6: kind
            + "call-5,,policy_bought,,yesterday\n"                         # row 7: time
            + "call-6,,policy_bought,,2026-01-05T14:30:00Z,extra\n"        # row 8: fields
            + "call-7,,policy_bought,nan,2026-01-05T14:30:00Z\n"           # row 9: nan
            + "call-8,,,,2026-01-05T14:30:00Z\n")                          # row 10: outcome
    message = import_error(write(tmp_path, "crm.csv", text))
    assert "8 bad row(s), nothing imported" in message
    assert "row 3 (line 4), field 'value': Input should be a valid number" in message
    assert "row 4 (line 5): give call_id or caller_id (exactly one)" in message
    assert "row 5 (line 6): give call_id or caller_id" in message
    assert "row 6 (line 7), field 'outcome': 'Policy Bought' is not a valid name" in message
    assert "row 7 (line 8), field 'time'" in message
    assert "row 8 (line 9): 6 fields where the header has 5" in message
    assert "row 9 (line 10), field 'value'" in message
    assert "row 10 (line 11), field 'outcome': Field required" in message
    assert "row 1 " not in message and "row 2 " not in message


def test_unknown_columns_missing_columns_and_empty_files_are_refused(tmp_path: Path) -> None:
    assert "unknown column(s) 'premium' in the header" in import_error(
        write(tmp_path, "a.csv", CSV.replace("value", "premium")))
    assert "the header needs outcome, time, and call_id or caller_id" in import_error(
        write(tmp_path, "b.csv", "call_id,outcome\ncall-1,policy_bought\n"))
    assert "is empty" in import_error(write(tmp_path, "c.csv", "\n \n"))
    assert "no outcome rows (only a header?)" in import_error(
        write(tmp_path, "d.csv", "call_id,outcome,time\n"))
    assert "no outcome file at" in import_error(tmp_path / "missing.csv")
    assert "line 2: unknown field(s) 'premium'" in import_error(write(
        tmp_path, "e.jsonl", '{"call_id": "c", "outcome": "x", "time": "2026-01-05T00:00Z"}\n'
        '{"call_id": "c", "outcome": "x", "time": "2026-01-05T00:00Z", "premium": 3}\n'))


def test_malformed_json_lines_are_named(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "crm.jsonl",
                                 '{"call_id": "c1", "outcome": "x", "time": "2026-01-05T00:00Z"}\n'
                                 '{"call_id": "c2", \n'
                                 '["c3", "x"]\n'))
    assert "line 2: not valid JSON" in message
    assert "line 3: expected an object with call_id, caller_id, outcome, value, time" in message


def test_posted_lists_name_the_position_of_a_bad_row() -> None:
    good = {"call_id": "c1", "outcome": "policy_bought", "time": "2026-01-05T14:30:00Z"}
    assert [r.row for r in parse_outcome_objects([good, good])] == [1, 2]
    with pytest.raises(OutcomeImportError, match="row 2, field 'time': the time needs a zone"):
        parse_outcome_objects([good, {**good, "time": "2026-01-05T14:30:00"}])
    with pytest.raises(OutcomeImportError, match="row 1: unknown field"):
        parse_outcome_objects([{**good, "row": 7}])  # the row number is ours, not the client's
    with pytest.raises(OutcomeImportError, match="expected a JSON list"):
        parse_outcome_objects({"rows": [good]})
    with pytest.raises(OutcomeImportError, match="list of outcomes is empty"):
        parse_outcome_objects([])


def test_more_than_ten_bad_rows_are_summarised(tmp_path: Path) -> None:
    text = "call_id,outcome,time\n" + "c,x,never\n" * 25
    message = import_error(write(tmp_path, "crm.csv", text))
    assert "25 bad row(s)" in message and "row 10 " in message and "row 11 " not in message
    assert "; and 15 more" in message


# -- the command -------------------------------------------------------------------------


def run_cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="salesvoice")
    parser.add_argument("--config", type=Path, default=None)  # as server/cli.py's global flag
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    console = Console(record=True, width=300)
    code: int = args.func(args, console)
    return code, console.export_text()


def test_outcomes_import_stores_a_file_once_and_skips_it_the_second_time(
        tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    config = write(tmp_path, "salesvoice.toml",
                   f'data_dir = "{tmp_path}"\n[server]\ndatabase_url = "sqlite:///{db}"\n')

    async def seed() -> None:
        async with CallStore(f"sqlite:///{db}") as store:
            await store.start_call("call-1", "live", CallerProfile(), "p-1", None, "browser")
            await store.start_call("call-2", "live", CallerProfile(caller_id="+15550100199"),
                                   "p-1", None, "twilio")

    asyncio.run(seed())
    crm = write(tmp_path, "crm.csv", CSV)
    code, out = run_cli(["--config", str(config), "outcomes", "import", str(crm)])
    assert code == 0 and "imported 2 outcome(s)" in out and "source 'crm.csv'" in out, out
    # --config after the command works too, and a second import adds nothing.
    code, out = run_cli(["outcomes", "import", str(crm), "--source", "crm",
                         "--config", str(config)])
    assert code == 0 and "imported 0 outcome(s)" in out and "2 already stored" in out, out
    bad = write(tmp_path, "bad.csv", CSV + "call-9,,policy_bought,,2026-01-07T00:00:00Z\n")
    with pytest.raises(OutcomeImportError, match="row 3: no call 'call-9' in the call store"):
        run_cli(["--config", str(config), "outcomes", "import", str(bad)])
