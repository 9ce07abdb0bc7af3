"""Fine-tuning datasets in TRL's standard JSON-lines formats, checked row by row.

``sft``: ``{"messages": [{"role", "content"}, ...]}``, the last message the assistant's target.
``dpo``: ``{"prompt", "chosen", "rejected"}``; ``kto``: ``{"prompt", "completion", "label"}``.
Prompts and completions are either plain strings or message lists (TRL's "conversational"
form); one file uses one form. Every problem names the file and line, so a bad export is
fixed at its source rather than half-trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import SalesvoiceError
from models.weights import sha256_file

Method = Literal["sft", "dpo", "kto"]
ROLES = ("system", "user", "assistant")
_FIELDS: dict[str, tuple[str, ...]] = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}


class DatasetError(SalesvoiceError, ValueError):
    """A fine-tuning dataset is missing, empty, or has rows of the wrong shape."""


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Rows ready for a TRL trainer, with the identity of the file they came from."""

    method: Method
    path: Path
    sha256: str
    rows: list[dict[str, Any]]


def _messages(value: object, where: str, field: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}: {field!r} must be a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        if (not isinstance(m, dict) or m.get("role") not in ROLES
                or not isinstance(m.get("content"), str)):
            raise DatasetError(
                f"{where}: {field}[{i}] must be {{'role': one of {ROLES}, 'content': str}}, "
                f"got {json.dumps(m)[:120]}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _text_or_messages(value: object, where: str, field: str,
                      conversational: bool) -> str | list[dict[str, str]]:
    if conversational:
        return _messages(value, where, field)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: {field!r} must be a non-empty string (as on line 1)")
    return value


def _row(method: Method, raw: dict[str, Any], where: str,
         conversational: bool) -> dict[str, Any]:
    """One row in the form the trainer takes: SFT becomes prompt/completion so the loss
    falls on the target turn only, not on the system prompt and the caller's words."""
    if method == "sft":
        messages = _messages(raw["messages"], where, "messages")
        if messages[-1]["role"] != "assistant" or len(messages) < 2:
            raise DatasetError(f"{where}: the last of at least two messages must be the "
                               "assistant's target turn")
        if not messages[-1]["content"].strip():
            raise DatasetError(f"{where}: the assistant's target turn is empty")
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    row: dict[str, Any] = {"prompt": _text_or_messages(raw["prompt"], where, "prompt",
                                                       conversational)}
    answers = ("chosen", "rejected") if method == "dpo" else ("completion",)
    for field in answers:
        value = _text_or_messages(raw[field], where, field, conversational)
        if isinstance(value, list) and value[-1]["role"] != "assistant":
            raise DatasetError(f"{where}: {field!r} must end with an assistant message")
        row[field] = value
    if method == "dpo" and row["chosen"] == row["rejected"]:
        raise DatasetError(f"{where}: 'chosen' and 'rejected' are identical")
    if method == "kto":
        if not isinstance(raw["label"], bool):
            raise DatasetError(f"{where}: 'label' must be true or false")
        row["label"] = raw["label"]
    return row


def load_training_data(path: Path, method: Method) -> TrainingData:
    """Read and check ``path`` as a ``method`` dataset; DatasetError on the first bad row."""
    if not path.is_file():
        raise DatasetError(f"no dataset file at {path} (make one with 'salesvoice dataset "
                           "build')")
    rows: list[dict[str, Any]] = []
    conversational: bool | None = None
    with path.open(encoding="utf-8") as src:
        for n, line in enumerate(src, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{where}: not JSON ({exc})") from None
            if not isinstance(raw, dict):
                raise DatasetError(f"{where}: a row must be a JSON object")
            missing = [f for f in _FIELDS[method] if f not in raw]
            if missing:
                raise DatasetError(
                    f"{where}: a {method} row needs {list(_FIELDS[method])}, missing {missing}"
                    f" (is this a {_guess(raw)} file?)")
            if conversational is None:
                conversational = method == "sft" or isinstance(raw.get("prompt"), list)
            rows.append(_row(method, raw, where, conversational))
    if not rows:
        raise DatasetError(f"{path} has no rows: nothing to train on (did every example get "
                           "filtered out?)")
    if method == "kto" and len({r["label"] for r in rows}) < 2:
        raise DatasetError(f"{path}: KTO needs both desirable and undesirable examples")
    return TrainingData(method, path, sha256_file(path), rows)


def check_lengths(rows: list[dict[str, Any]], count_tokens: Any, max_length: int,
                  where: Path) -> int:
    """The longest row in tokens; DatasetError when any row is longer than ``max_length``.

    A trainer truncates a long row from the end, which is where the target turn is: its
    loss would be cut away (TRL then drops the row as fully masked, or trains on half a
    reply). ``count_tokens(prompt, answer)`` counts the chat-templated tokens of one
    prompt and one of its answers.
    """
    answers = ("completion", "chosen", "rejected")
    lengths: list[int] = [max(count_tokens(r["prompt"], r[a]) for a in answers if a in r)
                          for r in rows]
    longest = max(lengths)
    over = sum(n > max_length for n in lengths)
    if over:
        raise DatasetError(
            f"{where}: {over} of {len(rows)} examples are longer than max_length "
            f"{max_length} tokens (longest {longest}): their target turns would be cut "
            f"off; raise --max-length to at least {longest}")
    return longest


def _guess(raw: dict[str, Any]) -> str:
    for method, fields in _FIELDS.items():
        if all(f in raw for f in fields):
            return method
    return "different"
