"""Experiments as data: arms, weights, what counts as a conversion, the plan; and which arm
a call gets.

An experiment is a TOML file (``load_experiment``), kept in the call database once created
(``server.store_ab``). Assignment is weighted rendezvous hashing: every arm draws an
exponential "arrival time" from a sha256 of (experiment, arm, caller) scaled by 1/weight,
and the earliest arrival wins. That gives each arm exactly its share of callers, the same
answer in every process, and stability when weights change: raising one arm's weight
only pulls callers into it, lowering it only lets its callers go, and every other caller
keeps their arm.

    exp = load_experiment(Path("examples/experiment.toml"))
    chosen = assign_call(exp, exp.weights, caller.caller_id, call_id)
    chosen.arm, chosen.how, chosen.unit_key     # "B", "assigned", "caller:+15550100199"
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from agent.ab_analysis import GUARDRAILS
from agent.compliance import normalize_caller_id
from agent.dialogue import Outcome
from models.config import StrictModel, load_toml_config
from models.errors import SalesvoiceError

_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ARM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ExperimentError(SalesvoiceError, ValueError):
    """An experiment, arm or weight setting is invalid."""


class UnknownArmError(ExperimentError, LookupError):
    def __init__(self, arm: str, experiment: str, arms: list[str]) -> None:
        super().__init__(
            f"unknown arm {arm!r} of experiment {experiment!r}; its arms: {', '.join(arms)}")
        self.arm = arm
        self.experiment = experiment


def check_slug(name: str) -> str:
    """``name`` if it is a valid experiment, arm or outcome name, else ValueError."""
    if not _SLUG.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid name: use 1-64 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit")
    return name


def check_arm_name(name: str) -> str:
    """``name`` if it is a valid arm name (a slug, upper case allowed: "A", "B"), else
    ValueError."""
    if not _ARM.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid arm name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
    return name


Slug = Annotated[str, AfterValidator(check_slug)]
ArmName = Annotated[str, AfterValidator(check_arm_name)]
How = Literal["assigned", "forced", "no_caller_id"]
"""How a call got its arm: by hash of its caller, forced by the client (QA), or by hash of
its call id because it had no caller id."""


def check_weights(weights: Mapping[str, float]) -> None:
    """Raise ExperimentError unless every weight is finite and >= 0 and they sum to > 0."""
    shown = ", ".join(f"{k}={v:g}" for k, v in weights.items())
    bad = [k for k, v in weights.items() if not math.isfinite(v) or v < 0]
    if bad:
        raise ExperimentError(
            f"arm weights must be finite numbers >= 0; {', '.join(bad)} is not ({shown})")
    if not sum(weights.values()) > 0:
        raise ExperimentError(f"arm weights must sum to a positive number ({shown or 'none'})")


class Arm(StrictModel):
    """One configuration callers may get."""

    name: ArmName
    program: str
    """Agent program name or JSON file, as in ``[server] program``."""
    weight: float = Field(1.0, ge=0, allow_inf_nan=False)
    """Relative share of new callers; 0 takes no new callers."""
    llm: dict[str, Any] | None = None
    """Merged over the ``[llm]`` settings, e.g. {llamacpp = {lora = "path/lora.gguf"}}."""
    tts: dict[str, Any] | None = None
    """Merged over the ``[tts]`` settings."""


class Conversion(StrictModel):
    """What makes a unit (a caller) count as converted."""

    in_call: list[Outcome] = Field(
        default_factory=lambda: [Outcome.ACCEPTED, Outcome.EXPLICIT_INTENT])
    """In-call outcomes that count (may be empty)."""
    outcomes: list[Slug] = Field(default_factory=list)
    """Kinds of later outcomes (``salesvoice outcomes import``) that count (may be empty)."""
    require: Literal["any", "all"] = "any"
    """"any": either source converts; "all": an in-call outcome and a later one."""
    window_days: float = Field(30.0, gt=0, allow_inf_nan=False)
    """A later outcome counts if it is at most this long after the unit's first call."""

    @model_validator(mode="after")
    def _sources(self) -> Conversion:
        if not self.in_call and not self.outcomes:
            raise ValueError("conversion needs in_call outcomes, later outcomes, or both")
        if self.require == "all" and not (self.in_call and self.outcomes):
            raise ValueError('require = "all" needs both in_call and outcomes')
        return self


class Plan(StrictModel):
    """The effect the experiment is sized to find."""

    baseline: float = Field(gt=0, lt=1)
    """Expected conversion rate of the control arm."""
    mde: float = Field(gt=0, lt=1)
    """Minimum detectable effect: an absolute difference in conversion rate."""
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    units_per_arm: int | None = Field(None, ge=1)
    """Planned units (callers) per arm; None: computed from the four above."""

    @model_validator(mode="after")
    def _rate(self) -> Plan:
        if self.baseline + self.mde >= 1:
            raise ValueError(f"baseline + mde must stay below 1 (got {self.baseline + self.mde:g})")
        return self


class Experiment(StrictModel):
    """An A/B (or A/B/n) test of arms against a control arm."""

    name: Slug
    description: str = ""
    control: ArmName
    """Name of the control arm."""
    arms: list[Arm] = Field(min_length=2)
    conversion: Conversion = Conversion()
    plan: Plan
    guardrails: list[str] = Field(default_factory=lambda: list(GUARDRAILS))
    """Guardrail metrics to watch (agent.ab_analysis.GUARDRAILS; default all)."""

    @field_validator("guardrails")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [g for g in names if g not in GUARDRAILS]
        if unknown:
            raise ValueError(f"unknown guardrail(s) {', '.join(map(repr, unknown))}; known: "
                             f"{', '.join(GUARDRAILS)}")
        return names

    @model_validator(mode="after")
    def _arms(self) -> Experiment:
        names = [a.name for a in self.arms]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"arm names must be unique: {', '.join(twice)} given twice")
        if self.control not in names:
            raise ValueError(f"control {self.control!r} is not an arm ({', '.join(names)})")
        check_weights(self.weights)
        return self

    @property
    def weights(self) -> dict[str, float]:
        """Arm name → weight, as configured."""
        return {a.name: a.weight for a in self.arms}

    def arm(self, name: str) -> Arm:
        """The arm called ``name``; UnknownArmError names the arms there are."""
        for a in self.arms:
            if a.name == name:
                return a
        raise UnknownArmError(name, self.name, [a.name for a in self.arms])


def load_experiment(path: Path) -> Experiment:
    """The experiment of a TOML file; ConfigError names the file and the bad key."""
    return load_toml_config(path, Experiment, "experiment")


def _uniform(experiment: str, arm: str, key: str) -> float:
    digest = hashlib.sha256(f"{experiment}\0{arm}\0{key}".encode()).digest()
    # 53 bits and a half step: exactly representable, strictly inside (0, 1).
    return ((int.from_bytes(digest[:8], "big") >> 11) + 0.5) / 2**53


def assign_arm(experiment_name: str, weights: Mapping[str, float], key: str) -> str:
    """The arm of ``key`` (a unit key, see ``unit_key``) by weighted rendezvous hashing.

    Each arm of weight w > 0 scores -ln(u) / w, u uniform from sha256(experiment, arm,
    key); the lowest score wins, so P(arm) = w / sum(w). Deterministic across processes;
    the order of ``weights`` does not matter."""
    check_weights(weights)
    return min((-math.log(_uniform(experiment_name, arm, key)) / w, arm)
               for arm, w in weights.items() if w > 0)[1]


def moved_share(old: Mapping[str, float], new: Mapping[str, float]) -> float:
    """The expected share of callers whose arm (``assign_arm``) changes from weights ``old``
    to ``new``.

    Arm i keeps a caller under both settings when its exponential race wins both: with E_j
    independent Exp(1), P(E_j/w_j > E_i/w_i and E_j/w'_j > E_i/w'_i for all j) =
    1 / (1 + sum_j max(w_j/w_i, w'_j/w'_i)); exact, no simulation."""
    stay = 0.0
    for arm in old:
        w, w2 = old[arm], new.get(arm, 0.0)
        if w > 0 and w2 > 0:
            stay += 1 / (1 + sum(max(old[j] / w, new.get(j, 0.0) / w2)
                                 for j in {*old, *new} if j != arm))
    return max(0.0, 1 - stay)


def unit_key(caller_id: str | None, call_id: str) -> str:
    """The unit of randomisation and analysis: "caller:<normalized caller id>", or
    "call:<call id>" for a call without caller id."""
    if caller_id is not None and caller_id.strip():
        return "caller:" + normalize_caller_id(caller_id)
    return "call:" + call_id


@dataclass(frozen=True, slots=True)
class Assignment:
    arm: str
    how: How
    unit_key: str


def assign_call(experiment: Experiment, weights: Mapping[str, float], caller_id: str | None,
                call_id: str, forced: str | None = None) -> Assignment:
    """The arm of a new call and how it was chosen. ``weights``: the current epoch's;
    ``forced``: an arm the client asked for (QA), UnknownArmError if there is none such."""
    key = unit_key(caller_id, call_id)
    if forced is not None:
        return Assignment(experiment.arm(forced).name, "forced", key)
    how: How = "no_caller_id" if key.startswith("call:") else "assigned"
    return Assignment(assign_arm(experiment.name, weights, key), how, key)
