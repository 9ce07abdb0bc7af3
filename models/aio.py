"""Asyncio helpers every floor shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


async def aclose_iterator(it: AsyncIterator[Any]) -> None:
    """Close ``it`` now if it can be closed (an async generator, a model stream).

    A plain ``AsyncIterator`` need not have ``aclose``; one that does, left open when its
    consumer stops early, would be closed later by the garbage collector, as a stray task.
    """
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()
