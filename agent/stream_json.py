"""Read a streamed JSON array of strings as it is generated. Pure.

The live agent emits ``["pivot","medical","engaged","Q","spoken reply..."]`` in one
constrained generation. The thought fields are short; the last string is the reply,
which must reach TTS while it is still being generated — so it is decoded and handed on
character by character instead of waiting for the closing bracket.
"""

from __future__ import annotations

import json

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class StreamedArrayReader:
    """Feed text deltas; completed leading fields land in ``fields``; the last field's
    text is returned by ``feed`` as it arrives."""

    def __init__(self, leading: int) -> None:
        self.leading = leading
        self.fields: list[str] = []
        self._started = False
        self._in_string = False
        self._escape = ""  # pending escape sequence after a backslash
        self._high = ""  # a high surrogate escape waiting for its pair
        self._current: list[str] = []
        self.done = False

    @property
    def thought_ready(self) -> bool:
        return len(self.fields) >= self.leading

    def feed(self, delta: str) -> str:
        """Consume ``delta``; return any new characters of the trailing (spoken) field."""
        spoken: list[str] = []
        for ch in delta:
            if self.done:
                break
            if not self._started:
                if ch == "[":
                    self._started = True
                elif not ch.isspace():
                    raise ValueError(f"expected a JSON array, got {ch!r}")
                continue
            if not self._in_string:
                if ch == '"':
                    self._in_string = True
                    self._current = []
                elif ch == "]":
                    self.done = True
                elif ch not in ", \n\t\r":
                    raise ValueError(f"expected a JSON string, got {ch!r}")
                continue
            out = self._string_char(ch)
            if out is None:  # closing quote
                self._in_string = False
                text = "".join(self._current)
                if len(self.fields) < self.leading:
                    self.fields.append(text)
                else:
                    self.done = True
                continue
            if out:
                self._current.append(out)
                if len(self.fields) >= self.leading:
                    spoken.append(out)
        return "".join(spoken)

    def _string_char(self, ch: str) -> str | None:
        """Decoded text for one raw character ('' while an escape is incomplete;
        None for the closing quote)."""
        if self._escape:
            self._escape += ch
            if self._escape[1] == "u":
                if len(self._escape) < 6:
                    return ""
                seq, self._escape = self._escape, ""
                if self._high:  # second half of a surrogate pair (emoji and the like)
                    seq, self._high = self._high + seq, ""
                elif 0xD800 <= int(seq[2:], 16) <= 0xDBFF:
                    self._high = seq
                    return ""
                decoded: str = json.loads(f'"{seq}"')
                return decoded
            seq, self._escape = self._escape, ""
            return _ESCAPES.get(seq[1], seq[1])
        if ch == "\\":
            self._escape = ch
            return ""
        if ch == '"':
            return None
        return ch
