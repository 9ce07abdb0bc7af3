"""Outcomes that arrive after the call (a policy bought, a quote sent, a complaint): read
from a CSV or JSON-lines file, or from a CRM's JSON post, into checked rows.

Every row is checked before anything is stored; any bad row fails the whole batch with
errors naming the row (CSV: 1-based data row and its line; JSONL: the line; a posted
list: the position) and the field.

    rows = read_outcomes(Path("crm-export.csv"))     # call_id,caller_id,outcome,value,time
    result = await ExperimentStore(store).add_outcomes(rows, source="crm")
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, Field, ValidationError, model_validator

from models.config import StrictModel
from models.errors import SalesvoiceError
from server.experiments import Slug

COLUMNS = ("call_id", "caller_id", "outcome", "value", "time")
_SHOWN = 10
"""Errors listed in one message; the rest are counted."""


class OutcomeImportError(SalesvoiceError, ValueError):
    """An outcome batch has bad rows (each named); nothing of it was stored."""


class OutcomeRow(StrictModel):
    """One later outcome, of a call (``call_id``) or of a caller (``caller_id``)."""

    row: int
    """Where it came from, for error messages: CSV data row, JSONL line, list position."""
    call_id: str | None = None
    caller_id: str | None = None
    outcome: Slug
    """Its kind, e.g. "policy_bought", "quote_sent", "complaint"."""
    value: float | None = Field(None, allow_inf_nan=False)
    """E.g. the premium; None when the outcome has no amount."""
    time: AwareDatetime
    """When it happened (ISO 8601 with a zone)."""

    @model_validator(mode="after")
    def _one_key(self) -> OutcomeRow:
        if (self.call_id is None) == (self.caller_id is None):
            raise ValueError("give call_id or caller_id (exactly one)")
        return self


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    skipped: int
    """Rows identical to ones already stored (or given twice): re-importing is harmless."""


def read_outcomes(path: Path) -> list[OutcomeRow]:
    """The rows of a CSV (with a header row) or JSON-lines file: ``.csv`` is CSV,
    ``.jsonl``/``.ndjson``/``.json`` JSON lines, otherwise the first character decides."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OutcomeImportError(f"no outcome file at {path}") from None
    except UnicodeDecodeError as exc:
        raise OutcomeImportError(f"{path} is not UTF-8 text: {exc}") from None
    if not content.strip():
        raise OutcomeImportError(f"{path} is empty: no outcome rows to import")
    suffix = path.suffix.lower()
    jsonl = suffix in (".jsonl", ".ndjson", ".json") or (
        suffix != ".csv" and content.lstrip().startswith("{"))
    rows = _parse_jsonl(content, str(path)) if jsonl else _parse_csv(content, str(path))
    if not rows:
        raise OutcomeImportError(f"{path} has no outcome rows (only a header?)")
    return rows


def parse_outcome_objects(items: object, where: str = "request") -> list[OutcomeRow]:
    """Rows of a posted JSON list of outcome objects; errors name the 1-based position."""
    if not isinstance(items, list):
        raise OutcomeImportError(f"{where}: expected a JSON list of outcome objects")
    if not items:
        raise OutcomeImportError(f"{where}: the list of outcomes is empty")
    return _check(((i, f"row {i}", item) for i, item in enumerate(items, 1)), where)


def _parse_jsonl(content: str, where: str) -> list[OutcomeRow]:
    objects: list[tuple[int, str, object]] = []
    for n, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            objects.append((n, f"line {n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            objects.append((n, f"line {n}", _Malformed(f"not valid JSON ({exc.msg})")))
    return _check(objects, where)


def _parse_csv(content: str, where: str) -> list[OutcomeRow]:
    reader = csv.reader(io.StringIO(content, newline=""))
    header = [h.strip() for h in next(reader, [])]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise OutcomeImportError(
            f"{where}: unknown column(s) {', '.join(map(repr, unknown))} in the header "
            f"(expected {', '.join(COLUMNS)}; a header row is required)")
    if len(set(header)) < len(header):
        raise OutcomeImportError(f"{where}: a column is named twice in the header {header}")
    if "outcome" not in header or "time" not in header or not {"call_id", "caller_id"} & {
            *header}:
        raise OutcomeImportError(
            f"{where}: the header needs outcome, time, and call_id or caller_id (got "
            f"{', '.join(header)})")
    objects: list[tuple[int, str, object]] = []
    n = 0
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue  # a blank line
        n += 1
        label = f"row {n} (line {reader.line_num})"
        if len(fields) != len(header):
            objects.append((n, label, _Malformed(
                f"{len(fields)} fields where the header has {len(header)}")))
            continue
        # An empty cell is a missing value: CSV has no null.
        objects.append((n, label, {k: v.strip() for k, v in zip(header, fields, strict=True)
                                   if v.strip()}))
    return _check(objects, where)


@dataclass(frozen=True, slots=True)
class _Malformed:
    why: str


def _check(objects: Iterable[tuple[int, str, object]], where: str) -> list[OutcomeRow]:
    rows: list[OutcomeRow] = []
    errors: list[str] = []
    for n, label, obj in objects:
        if isinstance(obj, _Malformed):
            errors.append(f"{label}: {obj.why}")
        elif not isinstance(obj, Mapping):
            errors.append(f"{label}: expected an object with {', '.join(COLUMNS)}")
        elif unknown := [k for k in obj if k not in COLUMNS]:
            errors.append(f"{label}: unknown field(s) {', '.join(map(repr, unknown))} "
                          f"(expected {', '.join(COLUMNS)})")
        else:
            try:
                rows.append(OutcomeRow.model_validate({**obj, "row": n}))
            except ValidationError as exc:
                errors.extend(f"{label}{_field(e)}: {_message(e)}" for e in exc.errors())
    if errors:
        raise_rows(where, errors)
    return rows


def raise_rows(where: str, errors: list[str]) -> None:
    """Raise OutcomeImportError listing the first errors (and how many more there are)."""
    more = f"; and {len(errors) - _SHOWN} more" if len(errors) > _SHOWN else ""
    raise OutcomeImportError(
        f"{where}: {len(errors)} bad row(s), nothing imported: "
        + "; ".join(errors[:_SHOWN]) + more)


def _field(error: Any) -> str:
    loc = [str(p) for p in error["loc"]]
    return f", field {loc[0]!r}" if loc else ""


def _message(error: Any) -> str:
    if error["type"] == "timezone_aware":
        return "the time needs a zone, e.g. 2026-01-05T14:30:00+00:00 or ...Z"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")
