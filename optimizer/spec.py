"""The classifiers' TOML specs (attitude spaces, strategy tables): loading and checking.

A spec is built in (a file under ``optimizer/specs/``) or any TOML file; both load
through ``load_spec``, which turns every problem into a ConfigError.
"""

from __future__ import annotations

import tomllib
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.errors import ConfigError
from models.llm.base import Sampling

BUILTIN = Path(__file__).parent / "specs"

GREEDY = Sampling(temperature=0.0)
"""Default sampling of the classifiers: labels should not depend on the dice."""

M = TypeVar("M", bound=BaseModel)


def load_spec(name_or_path: str, model: type[M], builtin: Mapping[str, Path], kind: str) -> M:
    """A built-in TOML spec by name, or a TOML file by path; every problem becomes a
    ConfigError naming the file and the field."""
    path = builtin.get(name_or_path, Path(name_or_path))
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{kind} {name_or_path!r} not found: not a file and not built in "
                          f"({', '.join(builtin)})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{kind} {path} is not valid TOML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"{kind} {path} is invalid: {problems}") from None


class Spec(BaseModel):
    """What every spec has: a name, and at least two entries with distinct keys
    (checked before a subclass's own validators run)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    entry_words: ClassVar[tuple[str, str]] = ("entries", "keys")
    """How errors name the entries and their keys, e.g. ("states", "state names")."""

    name: str = Field(min_length=1)

    @abstractmethod
    def entry_keys(self) -> Sequence[str]:
        """Each entry's key, in order."""

    @model_validator(mode="after")
    def _check_entries(self) -> Self:
        keys = self.entry_keys()
        entries, keys_are = self.entry_words
        if len(keys) < 2:
            raise ValueError(f"needs at least 2 {entries}, got {len(keys)}")
        if dupes := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(f"duplicate {keys_are}: {', '.join(dupes)}")
        return self
