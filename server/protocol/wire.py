"""JSON text frames, shared by both codecs: strict parsing in, compact output out."""

from __future__ import annotations

import json
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from server.protocol.errors import CloseCode, ProtocolError, malformed

_M = TypeVar("_M", bound=BaseModel)


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are Python extensions, not JSON (RFC 8259).
    raise ValueError(f"{name} is not valid JSON")


_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def load_object(text: str, tag: str) -> tuple[str, dict[str, Any]]:
    """Parse a text frame into (``tag`` value, object), e.g. ("start", {...}).

    Text that is not JSON is a frame of the wrong kind (1003); JSON that is not an object
    with a string ``tag`` is a malformed message (4400).
    """
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(CloseCode.UNSUPPORTED_DATA, f"text frame is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        got = _JSON_TYPES.get(type(obj), "other")
        raise ProtocolError(CloseCode.MALFORMED, f"message must be a JSON object, got {got}")
    value = obj.get(tag)
    if not isinstance(value, str):
        raise ProtocolError(CloseCode.MALFORMED, f"message has no string {tag!r} field")
    return value, obj


def dump(obj: dict[str, Any]) -> str:
    """Compact JSON, fields in insertion order (the order of the spec)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def validate(shape: type[_M], obj: dict[str, Any], what: str) -> _M:
    """``obj`` as a ``shape``; a 4400 ``ProtocolError`` naming each bad field otherwise."""
    try:
        return shape.model_validate(obj)
    except ValidationError as exc:
        raise malformed(what, exc) from None
