"""Chain-of-Attitude (MADS §3.1): one attitude state per caller round, and how varied
the changes between them are.

A constrained LLM call labels a dialogue: exactly one state per caller round with the
caller's words as evidence, then whether the caller finally accepted. Labels are stored
on the user turns, so a dialogue (a live call too) is classified once. Across
dialogues, consecutive states give a first-order Markov transition matrix; its average
row entropy measures how diverse the attitude changes are, and the Jensen-Shannon
divergence tells how differently two groups of callers move between states.
"""

from __future__ import annotations

import math
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from scipy.special import entr, rel_entr

from agent.dialogue import Dialogue
from models.errors import ConfigError, SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.history import rounds, transcript
from simulator.metrics import groups_of
from simulator.report import Image, Section, Table

BUILTIN = Path(__file__).parent / "specs"

GREEDY = Sampling(temperature=0.0)
"""Default sampling of the classifiers: labels should not depend on the dice."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class AttitudeError(SalesvoiceError):
    """A dialogue's attitude labels could not be produced, or do not fit the dialogue."""


# -- the state space ------------------------------------------------------------------------
class AttitudeState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    group: str = Field(min_length=1, max_length=40)
    """The coarse group (MADS: Negative, Neutral, Positive, Acceptance)."""
    description: str = Field(min_length=1)
    """What the state looks like in a call; shown to the classifier."""


class AttitudeSpace(BaseModel):
    """The ordered attitude states; states of one coarse group are listed together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    states: tuple[AttitudeState, ...]

    @model_validator(mode="after")
    def _check(self) -> AttitudeSpace:
        if len(self.states) < 2:
            raise ValueError(f"needs at least 2 states, got {len(self.states)}")
        names = [s.name for s in self.states]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"duplicate state names: {', '.join(dupes)}")
        # Contiguous groups: the heatmaps draw one separator per group boundary.
        seen: list[str] = []
        for state in self.states:
            if seen and state.group == seen[-1]:
                continue
            if state.group in seen:
                raise ValueError(f"the states of group {state.group!r} must be listed "
                                 f"together ({state.name!r} is separated from the others)")
            seen.append(state.group)
        return self

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @cached_property
    def groups(self) -> tuple[str, ...]:
        """The coarse groups, in order."""
        return tuple(dict.fromkeys(s.group for s in self.states))

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise AttitudeError(f"attitude {name!r} is not a state of space {self.name!r} "
                                f"(states: {', '.join(self.names)})") from None

    def group_of(self, name: str) -> str:
        return self.states[self.index(name)].group


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


BUILTIN_SPACES = {"mads16": BUILTIN / "attitudes.toml"}


def load_attitudes(name_or_path: str = "mads16") -> AttitudeSpace:
    """A built-in space (``mads16``: the MADS states) or a TOML file of ``[[states]]``."""
    return load_spec(name_or_path, AttitudeSpace, BUILTIN_SPACES, "attitude space")


# -- labelling ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttitudeChain:
    """One dialogue's attitudes, one per caller round, in order."""

    dialogue_id: str
    states: tuple[str, ...]
    evidence: tuple[str, ...]
    """The caller's words behind each state ("" where unknown)."""
    accepted: bool | None
    """Whether the caller finally accepted the pitch; None when never judged."""

    def __post_init__(self) -> None:
        if len(self.evidence) != len(self.states):
            raise AttitudeError(f"dialogue {self.dialogue_id!r}: {len(self.states)} states "
                                f"but {len(self.evidence)} pieces of evidence")


_COA_PROMPT = """\
You study how a caller's attitude toward an insurance offer changes during a sales call.

Label every caller round of the transcript, from the first to the last, skipping none:
- exactly one attitude per round: the one that dominates the caller's line;
- only the state names listed below, spelled exactly as written;
- first quote the caller's words from that round that show it (without the "User:" \
label, at most {chars} characters; shorten by cutting, never by rewording), then name \
the attitude.

Then judge the end of the call. "accepted" is true only when the caller commits to \
something concrete: agreeing to buy or apply, asking for the quote or the paperwork, \
booking a time to continue, or giving contact details for that purpose. Curiosity, \
questions and polite interest are not acceptance.

Attitude states, by group:
{states}"""

_LABEL = re.compile(r"^\s*(\[Round \d+\]\s*)?User:\s*")
"""The transcript's line label, which small models copy into their quotes."""

_COMPACT = ConfigDict(extra="forbid",
                      json_schema_extra={"x-guidance": {"whitespace_flexible": False}})


class AttitudeClassifier:
    """Labels every caller round of a dialogue with one state of ``space``: one
    constrained-JSON call per dialogue (the MADS CoA classifier prompt)."""

    def __init__(self, llm: LLM, space: AttitudeSpace, *, evidence_chars: int = 80,
                 sampling: Sampling = GREEDY) -> None:
        self._llm = llm
        self.space = space
        self.evidence_chars = evidence_chars
        self._sampling = sampling
        states = "\n".join(
            f"{group}:\n" + "\n".join(f"- {s.name}: {s.description}"
                                      for s in space.states if s.group == group)
            for group in space.groups)
        self._system = _COA_PROMPT.format(chars=evidence_chars, states=states)

    def schema(self, n_rounds: int) -> type[BaseModel]:
        """The output for a dialogue of ``n_rounds`` caller rounds: exactly one item per
        round, each opening with its fixed round number. Without that anchor a small
        model's quotes drift to the wrong round (seen with the embedded 1.5B model)."""
        # Literals built at run time: JSON-schema consts and the enum of state names.
        state = Literal[(*self.space.names,)]  # type: ignore[valid-type]
        items = tuple(create_model(
            f"Round{k}", __config__=ConfigDict(extra="forbid"),
            round=(Literal[k], ...),  # type: ignore[arg-type]
            # Evidence first: the model names the attitude right after quoting its words.
            evidence=(str, Field(max_length=self.evidence_chars)),
            attitude=(state, ...)) for k in range(1, n_rounds + 1))
        return create_model("AttitudeChainJSON", __config__=_COMPACT,
                            rounds=(tuple[items], ...),  # type: ignore[valid-type]
                            accepted=(bool, ...))

    def max_tokens(self, n_rounds: int) -> int:
        """A ceiling the longest valid output fits under: a token is at least one
        character, and the evidence gets twice its length for escapes."""
        item = 40 + max(map(len, self.space.names)) + 2 * self.evidence_chars
        return 32 + n_rounds * item

    async def classify(self, dialogue: Dialogue) -> AttitudeChain:
        """The dialogue's chain; one without caller rounds needs no call. The call's
        ``max_tokens`` is set from the round count, whatever ``sampling`` says."""
        n = len(rounds(dialogue))
        if n == 0:
            return AttitudeChain(dialogue.id, (), (), accepted=False)
        # Never cut: every round the schema asks for must be in the prompt.
        text = transcript(dialogue, max_chars=sys.maxsize)
        messages = [
            ChatMessage("system", self._system),
            ChatMessage("user", f"Transcript ({n} caller rounds):\n{text}\n\n"
                                f'Reply with JSON: "rounds" holds one item per caller round, '
                                f'[Round 1] to [Round {n}] (its number, the caller\'s words, '
                                f'the attitude), then "accepted".'),
        ]
        try:
            out = await self._llm.complete_json(
                messages, self.schema(n), replace(self._sampling, max_tokens=self.max_tokens(n)))
        except SalesvoiceError as exc:
            raise AttitudeError(f"could not classify the attitudes of dialogue "
                                f"{dialogue.id!r}: {exc}") from exc
        data = out.value.model_dump()
        return AttitudeChain(
            dialogue.id,
            tuple(r["attitude"] for r in data["rounds"]),
            tuple(_LABEL.sub("", r["evidence"]).strip() for r in data["rounds"]),
            accepted=data["accepted"],
        )


def label(dialogue: Dialogue, chain: AttitudeChain) -> Dialogue:
    """A copy of ``dialogue`` with each caller turn's ``attitude`` set from ``chain``, and
    the evidence and verdict under ``metadata["coa"]``."""
    caller_turns = [r.turn_index for r in rounds(dialogue)]
    if chain.dialogue_id != dialogue.id or len(chain.states) != len(caller_turns):
        raise AttitudeError(f"chain of dialogue {chain.dialogue_id!r} ({len(chain.states)} "
                            f"states) does not fit dialogue {dialogue.id!r} "
                            f"({len(caller_turns)} caller rounds)")
    labelled = dialogue.model_copy(deep=True)
    for index, state in zip(caller_turns, chain.states, strict=True):
        labelled.turns[index].attitude = state
    labelled.metadata["coa"] = {"evidence": list(chain.evidence), "accepted": chain.accepted}
    return labelled


def chain_from_dialogue(dialogue: Dialogue) -> AttitudeChain | None:
    """The chain stored by ``label``; None when any caller turn is unlabelled."""
    states = [dialogue.turns[r.turn_index].attitude for r in rounds(dialogue)]
    known = tuple(s for s in states if s is not None)
    if len(known) != len(states):
        return None
    coa = dialogue.metadata.get("coa")
    coa = coa if isinstance(coa, Mapping) else {}
    evidence = coa.get("evidence")
    if not (isinstance(evidence, list) and len(evidence) == len(known)):
        evidence = [""] * len(known)
    accepted = coa.get("accepted")
    return AttitudeChain(dialogue.id, known, tuple(map(str, evidence)),
                         accepted if isinstance(accepted, bool) else None)


def by_group(items: Iterable[tuple[Dialogue, T]], key: str) -> dict[str, list[T]]:
    """Values grouped by their dialogue's persona group ``key`` (see
    ``simulator.metrics.groups_of``); dialogues without it fall under "unknown"."""
    out: dict[str, list[T]] = {}
    for dialogue, value in items:
        out.setdefault(groups_of(dialogue).get(key, "unknown"), []).append(value)
    return dict(sorted(out.items()))


# -- transition statistics (pure) -----------------------------------------------------------
def transition_counts(chains: Iterable[AttitudeChain], space: AttitudeSpace) -> NDArray[np.int64]:
    """N[i, j]: how often state j directly follows state i within one chain (chains are
    never joined end to start)."""
    counts = np.zeros((len(space.states), len(space.states)), dtype=np.int64)
    for chain in chains:
        idx = np.array([space.index(s) for s in chain.states], dtype=np.intp)
        np.add.at(counts, (idx[:-1], idx[1:]), 1)
    return counts


def _square(matrix: ArrayLike) -> NDArray[np.float64]:
    out = np.asarray(matrix, dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != out.shape[1] or out.shape[0] < 2:
        raise ValueError(f"expected a square matrix of at least 2 states, got {out.shape}")
    return out


def transition_matrix(counts: ArrayLike) -> NDArray[np.float64]:
    """T[i, j] = N[i, j] / Σ_k N[i, k]; a state never left keeps an all-zero row."""
    n = _square(counts)
    totals = n.sum(axis=1, keepdims=True)
    out = np.zeros_like(n)
    np.divide(n, totals, out=out, where=totals > 0)
    return out


def row_entropy(matrix: ArrayLike) -> NDArray[np.float64]:
    """H(T_i) = -Σ_j T_ij ln T_ij per row, with 0·ln 0 = 0."""
    return np.asarray(entr(_square(matrix)).sum(axis=1), dtype=np.float64)


def average_entropy(matrix: ArrayLike) -> float:
    """H_avg = (1/|S|) Σ_i H(T_i) over all |S| rows, unvisited states included (MADS)."""
    return float(row_entropy(matrix).mean())


def normalized_entropy(matrix: ArrayLike) -> float:
    """H_avg / ln |S|, in [0, 1]."""
    return average_entropy(matrix) / math.log(_square(matrix).shape[0])


def _joint(counts: ArrayLike) -> NDArray[np.float64]:
    n = _square(counts)
    total = float(n.sum())
    if total <= 0:
        raise ValueError("no transitions to compare")
    return (n / total).ravel()


def js_divergence(counts_a: ArrayLike, counts_b: ArrayLike) -> float:
    """Jensen-Shannon divergence (natural log, so in [0, ln 2]) between two groups'
    transition distributions.

    A group's distribution is the joint one, N_ij / Σ N over all |S|² transitions, not
    the row-normalised T: groups hold different numbers of transitions and visit
    states differently often, and the joint distribution weighs each transition as
    often as it was seen (a row seen once counts less than a row seen a hundred times).
    """
    p, q = _joint(counts_a), _joint(counts_b)
    if p.shape != q.shape:
        raise ValueError(f"count tables differ in shape: {p.size} vs {q.size} cells")
    m = (p + q) / 2
    return float(0.5 * rel_entr(p, m).sum() + 0.5 * rel_entr(q, m).sum())


# -- summary --------------------------------------------------------------------------------
class GroupCoA(BaseModel):
    """One group's attitude diversity (a row of MADS Table 1, and more)."""

    model_config = ConfigDict(extra="forbid")

    n_dialogues: int
    n_transitions: int
    h_avg: float
    h_norm: float
    js: float | None
    """JS divergence from the baseline group; None for the baseline itself, without a
    baseline, or when either side has no transitions."""
    acceptance_rate: float | None
    """Share of judged dialogues the classifier saw accepted."""
    state_freq: dict[str, float]
    """Share of labelled caller rounds in each state."""
    coarse_freq: dict[str, float]
    counts: list[list[int]]
    """The transition counts N (rows: from, columns: to, in state order)."""


class CoASummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    space: str
    states: list[str]
    baseline: str | None
    groups: dict[str, GroupCoA]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _shares(labels: Sequence[str], keys: Sequence[str]) -> dict[str, float]:
    return {k: (labels.count(k) / len(labels) if labels else 0.0) for k in keys}


def summarize_chains(chains_by_group: Mapping[str, Sequence[AttitudeChain]],
                     space: AttitudeSpace, baseline: str | None = None) -> CoASummary:
    """Per group: entropy of the attitude transitions, JS divergence from ``baseline``,
    state and coarse-group frequencies, acceptance rate."""
    if baseline is not None and baseline not in chains_by_group:
        raise AttitudeError(f"baseline group {baseline!r} is not among the groups "
                            f"({', '.join(chains_by_group)})")
    counts = {g: transition_counts(chains, space) for g, chains in chains_by_group.items()}
    base = counts[baseline] if baseline is not None else None
    groups: dict[str, GroupCoA] = {}
    for group, chains in chains_by_group.items():
        n = counts[group]
        t = transition_matrix(n)
        states = [s for chain in chains for s in chain.states]
        judged = [c.accepted for c in chains if c.accepted is not None]
        comparable = base is not None and group != baseline and n.sum() and base.sum()
        groups[group] = GroupCoA(
            n_dialogues=len(chains),
            n_transitions=int(n.sum()),
            h_avg=average_entropy(t),
            h_norm=normalized_entropy(t),
            js=js_divergence(n, base) if comparable and base is not None else None,
            acceptance_rate=sum(judged) / len(judged) if judged else None,
            state_freq=_shares(states, space.names),
            coarse_freq=_shares([space.group_of(s) for s in states], space.groups),
            counts=n.tolist(),
        )
    return CoASummary(space=space.name, states=list(space.names), baseline=baseline,
                      groups=groups)


def coa_section(summary: CoASummary, image: str | None = None) -> Section:
    """The summary as a report section (MADS Table 1), with an optional heatmap file."""
    base = summary.groups.get(summary.baseline) if summary.baseline is not None else None

    def change(g: GroupCoA) -> str:
        if base is None or g is base or base.h_norm == 0:
            return "—"
        return f"{100 * (g.h_norm / base.h_norm - 1):+.1f}%"

    rows = tuple(
        (name, str(g.n_dialogues), str(g.n_transitions), f"{g.h_avg:.4f}", f"{g.h_norm:.4f}",
         change(g), "—" if g.js is None else f"{g.js:.4f}",
         "—" if g.acceptance_rate is None else f"{100 * g.acceptance_rate:.1f}%")
        for name, g in summary.groups.items())
    note = (f"Attitude space {summary.space} ({len(summary.states)} states). H_avg: mean "
            f"row entropy of the transition matrix (nats, max ln {len(summary.states)}); "
            f"H_norm = H_avg / ln |S|; JS: divergence of the joint transition distribution "
            f"from the baseline {summary.baseline or '(none)'}.")
    blocks: list[Table | Image | str] = [
        Table(("group", "dialogues", "transitions", "H_avg", "H_norm", "H_norm vs baseline",
               "JS", "accepted"), rows), note]
    if image is not None:
        blocks.append(Image(image, "attitude transition matrices"))
    return Section("Chain-of-Attitude", tuple(blocks))


# -- plots (matplotlib objects, no pyplot) --------------------------------------------------
def _heatmap(ax: Axes, matrix: NDArray[np.float64], space: AttitudeSpace,
             annotate: bool) -> AxesImage:
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = range(len(space.names))
    ax.set_xticks(ticks, space.names, rotation=90, fontsize=7)
    ax.set_yticks(ticks, space.names, fontsize=7)
    ax.set_xlabel("attitude at round t")
    ax.set_ylabel("attitude at round t-1")
    groups = [s.group for s in space.states]
    for k in range(1, len(groups)):
        if groups[k] != groups[k - 1]:
            ax.axhline(k - 0.5, color="black", linewidth=0.8)
            ax.axvline(k - 0.5, color="black", linewidth=0.8)
    if annotate:
        for (i, j), value in np.ndenumerate(matrix):
            if value > 0:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if value > 0.6 else "black")
    return image


def plot_transitions(matrix: ArrayLike, space: AttitudeSpace, path: Path,
                     title: str = "Attitude transitions") -> Path:
    """A heatmap of one transition matrix (MADS figure 2) with its non-zero values,
    coarse groups separated."""
    t = _square(matrix)
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    ax = fig.add_subplot()
    fig.colorbar(_heatmap(ax, t, space, annotate=True), ax=ax, label="P(next attitude | attitude)")
    ax.set_title(title, parse_math=False)
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version: same bytes
    return path


def plot_groups(matrices: Mapping[str, ArrayLike], space: AttitudeSpace, path: Path,
                title: str = "Attitude transitions by group", ncols: int = 2) -> Path:
    """Small multiples of several groups' transition matrices on one colour scale
    (without the single heatmap's cell values, which would not be legible)."""
    if not matrices:
        raise ValueError("no groups to plot")
    ncols = min(ncols, len(matrices))
    nrows = math.ceil(len(matrices) / ncols)
    fig = Figure(figsize=(6.5 * ncols, 6.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    images = []
    for k, (ax, (group, matrix)) in enumerate(zip(axes, matrices.items(), strict=False)):
        images.append(_heatmap(ax, _square(matrix), space, annotate=False))
        ax.set_title(f"({chr(ord('a') + k)}) {group}", parse_math=False)  # as in MADS fig. 2
    for ax in axes[len(matrices):]:
        ax.set_visible(False)
    fig.colorbar(images[0], ax=list(axes), label="P(next attitude | attitude)", shrink=0.6)
    fig.suptitle(title, parse_math=False)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path
