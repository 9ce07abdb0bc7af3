"""Stratified evolution (beyond MADS, its limitation 3): callers split into segments, one
program each, picked when the call starts (``agent.program.ProgramSet``).

A segment is a set of ISIC sectors, since the sector is what the agent can know when a
call starts: each sector its own segment, or sectors grouped by how their callers' attitudes
move (k-means over Chain-of-Attitude transitions).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field
from scipy.cluster.vq import kmeans2

from agent.dialogue import Dialogue
from models.config import StrictModel
from models.errors import SalesvoiceError
from optimizer.attitude import AttitudeChain, AttitudeSpace


class StratifySettings(StrictModel):
    """Stratified evolution (beyond MADS, its limitation 3): one program per segment of
    callers, picked when the call starts (``agent.program.ProgramSet``)."""

    by: Literal["none", "sector", "coa"] = "none"
    """sector: one segment per ISIC sector; coa: k-means over the personas'
    attitude-transition behaviour, each sector routed to its personas' majority cluster."""
    clusters: int = Field(3, ge=2, le=12)
    """k for ``coa``."""
    min_dialogues: int = Field(4, ge=1)
    """Training calls a segment needs to get its own program."""
    seed: int = 0


def segment_route(train: Sequence[Dialogue], chains: Sequence[AttitudeChain],
                  st: StratifySettings, space: AttitudeSpace) -> dict[str, str]:
    """ISIC sector → segment name. ``sector``: each sector its own segment. ``coa``:
    k-means over each persona's coarse attitude-transition distribution (from its
    chains); a sector goes to the cluster most of its personas fall in, because the
    sector is what the agent can know when a call starts."""
    sectors = sorted({d.caller.sector for d in train if d.caller.sector})
    if st.by == "sector":
        return {s: s for s in sectors}
    persona_of = {d.id: (str(d.metadata.get("persona_id", d.id)), d.caller.sector)
                  for d in train}
    groups = list(space.groups)
    feats: dict[str, np.ndarray] = {}
    sector_of_persona: dict[str, str | None] = {}
    for chain in chains:
        pid, sector = persona_of.get(chain.dialogue_id, (chain.dialogue_id, None))
        sector_of_persona[pid] = sector
        f = feats.setdefault(pid, np.zeros(len(groups) ** 2))
        coarse = [groups.index(space.group_of(x)) for x in chain.states]
        for a, b in itertools.pairwise(coarse):
            f[a * len(groups) + b] += 1
    pids = [p for p, f in feats.items() if f.sum() > 0]
    if len(pids) < st.clusters:
        raise SalesvoiceError(f"stratify by coa needs at least {st.clusters} personas with "
                              f"attitude transitions; {len(pids)} have them")
    x = np.array([feats[p] / feats[p].sum() for p in pids])
    _, labels = kmeans2(x, st.clusters, seed=st.seed, minit="++")
    votes: dict[str, Counter[str]] = {}
    for pid, label in zip(pids, labels, strict=True):
        if (sector := sector_of_persona[pid]) is not None:
            votes.setdefault(sector, Counter())[f"c{int(label) + 1}"] += 1
    return {s: v.most_common(1)[0][0] for s, v in sorted(votes.items())}
