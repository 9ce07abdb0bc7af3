"""JSON text frames, shared by both codecs: strict parsing in, compact output out."""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from server.protocol.errors import CloseCode, ProtocolError, malformed

_M = TypeVar("_M", bound=BaseModel)
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a text frame may have (the protocols need 3)."""
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


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

    Text that is not JSON is a frame of the wrong kind (1003); JSON nested deeper than
    ``MAX_JSON_DEPTH`` or not an object with a string ``tag`` is a malformed message (4400).
    """
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ProtocolError(CloseCode.MALFORMED,
                            f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(CloseCode.UNSUPPORTED_DATA, f"text frame is not JSON: {exc}") from None
    except RecursionError:  # unreachable past the depth check; kept so it can never escape
        raise ProtocolError(CloseCode.MALFORMED, "JSON nested too deep") from None
    if not isinstance(obj, dict):
        got = _JSON_TYPES.get(type(obj), "other")
        raise ProtocolError(CloseCode.MALFORMED, f"message must be a JSON object, got {got}")
    value = obj.get(tag)
    if not isinstance(value, str):
        raise ProtocolError(CloseCode.MALFORMED, f"message has no string {tag!r} field")
    return value, obj


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``text``, outside strings; checked before
    parsing, since ``json.loads`` recurses once per level (``RecursionError``)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than the limit: skip the scan (every normal frame)
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def dump(obj: dict[str, Any]) -> str:
    """Compact JSON, fields in insertion order (the order of the spec)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def validate(shape: type[_M], obj: dict[str, Any], what: str) -> _M:
    """``obj`` as a ``shape``; a 4400 ``ProtocolError`` naming each bad field otherwise."""
    try:
        return shape.model_validate(obj)
    except ValidationError as exc:
        raise malformed(what, exc) from None
