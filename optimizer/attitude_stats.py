"""Chain-of-Attitude statistics (pure): the transition matrix of attitude chains, its
average row entropy (how diverse the attitude changes are), the Jensen-Shannon divergence
between two groups' transitions, and a per-group summary (MADS Table 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from scipy.special import entr, rel_entr
from scipy.stats import norm

from agent.stats import Estimate, persona_rate
from optimizer.attitude import AttitudeChain, AttitudeError, AttitudeSpace


# -- transitions ----------------------------------------------------------------------------
def transition_counts(chains: Iterable[AttitudeChain], space: AttitudeSpace) -> NDArray[np.int64]:
    """N[i, j]: how often state j directly follows state i within one chain (chains are
    never joined end to start)."""
    counts = np.zeros((len(space.states), len(space.states)), dtype=np.int64)
    for chain in chains:
        idx = np.array([space.index(s) for s in chain.states], dtype=np.intp)
        np.add.at(counts, (idx[:-1], idx[1:]), 1)
    return counts


def square_matrix(matrix: ArrayLike) -> NDArray[np.float64]:
    """``matrix`` as floats; ValueError unless it is square over at least 2 states."""
    out = np.asarray(matrix, dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != out.shape[1] or out.shape[0] < 2:
        raise ValueError(f"expected a square matrix of at least 2 states, got {out.shape}")
    return out


def transition_matrix(counts: ArrayLike) -> NDArray[np.float64]:
    """T[i, j] = N[i, j] / Σ_k N[i, k]; a state never left keeps an all-zero row."""
    n = square_matrix(counts)
    totals = n.sum(axis=1, keepdims=True)
    out = np.zeros_like(n)
    np.divide(n, totals, out=out, where=totals > 0)
    return out


def row_entropy(matrix: ArrayLike) -> NDArray[np.float64]:
    """H(T_i) = -Σ_j T_ij ln T_ij per row, with 0·ln 0 = 0."""
    return np.asarray(entr(square_matrix(matrix)).sum(axis=1), dtype=np.float64)


def average_entropy(matrix: ArrayLike) -> float:
    """H_avg = (1/|S|) Σ_i H(T_i) over all |S| rows, unvisited states included (MADS)."""
    return float(row_entropy(matrix).mean())


def normalized_entropy(matrix: ArrayLike) -> float:
    """H_avg / ln |S|, in [0, 1]."""
    return average_entropy(matrix) / math.log(square_matrix(matrix).shape[0])


def average_entropy_interval(units: Sequence[Sequence[AttitudeChain]],
                             space: AttitudeSpace) -> Estimate:
    """H_avg of all chains with a 95 % interval: H_avg ± 1.96 delete-one-unit jackknife
    standard errors, a unit being one persona's chains (its calls are not independent).

    Not a bootstrap: a resample repeats whole chains, which concentrates the counts and
    biases the plug-in entropy downwards, so a percentile interval can miss the estimate
    itself. With fewer than two units there is no spread to measure: the interval is the
    value."""
    counts = np.stack([transition_counts(u, space) for u in units]).astype(np.float64)
    total = counts.sum(axis=0)
    value = _h_avg(total)
    n = len(units)
    if n < 2:
        return Estimate(value, value, value, n)
    leave_one_out = _h_avg(total[None] - counts)
    se = math.sqrt((n - 1) / n * float(((leave_one_out - leave_one_out.mean()) ** 2).sum()))
    half = float(norm.isf(0.025)) * se
    return Estimate(value, max(0.0, value - half), value + half, n)


def _h_avg(counts: NDArray[np.float64]) -> Any:
    """H_avg of one count matrix (a float) or of a stack of them (an array)."""
    totals = counts.sum(axis=-1, keepdims=True)
    t = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    h = entr(t).sum(axis=-1).mean(axis=-1)
    return float(h) if np.ndim(h) == 0 else h


def _joint(counts: ArrayLike) -> NDArray[np.float64]:
    n = square_matrix(counts)
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
    acceptance_interval: tuple[float, float] | None = None
    """Its 95 % interval with the persona as the unit (``agent.stats.persona_rate``: a
    persona's calls are not independent trials)."""
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
                     space: AttitudeSpace, *, persona_of: Mapping[str, str],
                     baseline: str | None = None) -> CoASummary:
    """Per group: entropy of the attitude transitions, JS divergence from ``baseline``,
    state and coarse-group frequencies, acceptance rate.

    ``persona_of`` maps a chain's dialogue id to its persona, the unit of the acceptance
    interval; a dialogue it lacks is a persona of its own."""
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
        accepted = _acceptance(chains, persona_of)
        comparable = base is not None and group != baseline and n.sum() and base.sum()
        groups[group] = GroupCoA(
            n_dialogues=len(chains),
            n_transitions=int(n.sum()),
            h_avg=average_entropy(t),
            h_norm=normalized_entropy(t),
            js=js_divergence(n, base) if comparable and base is not None else None,
            acceptance_rate=None if accepted is None else accepted.value,
            acceptance_interval=None if accepted is None else (accepted.low, accepted.high),
            state_freq=_shares(states, space.names),
            coarse_freq=_shares([space.group_of(s) for s in states], space.groups),
            counts=n.tolist(),
        )
    return CoASummary(space=space.name, states=list(space.names), baseline=baseline,
                      groups=groups)


def _acceptance(chains: Sequence[AttitudeChain], persona_of: Mapping[str, str]) -> Estimate | None:
    """The share of judged chains accepted, the persona as the unit; None when none judged."""
    units: dict[str, list[float]] = {}
    for c in chains:
        if c.accepted is not None:
            units.setdefault(persona_of.get(c.dialogue_id, c.dialogue_id), []).append(
                float(c.accepted))
    return persona_rate([units[p] for p in sorted(units)]) if units else None
