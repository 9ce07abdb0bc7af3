"""The agent's sector from one line about the caller's job, on lines its readers never saw
in training: the simulator's ways of saying one's job (``simulator.wording``) and each
insurance persona occupation said directly. Held at the level measured when the head was
trained on agent/data/sector_train.jsonl (2026-12-06); a drop is a regression."""

from __future__ import annotations

import pytest

from agent.thought_head import default_thought_head
from optimizer.thought_head import DIRECT_JOB, sector_reading, simulator_job_lines

LINES = 203
"""14 sectors' and 40 occupations' indirect phrases (123), 40 occupations x 2 direct."""


def test_the_held_out_set_is_the_simulators_job_lines() -> None:
    lines = simulator_job_lines()
    assert len(lines) == LINES
    assert ("I'm a nurse.", "Q") in lines and ("I work as an actuary.", "K") in lines
    assert len(DIRECT_JOB) == 2


def test_the_lexicon_alone_reads_direct_names_and_few_indirect_lines() -> None:
    result = sector_reading(simulator_job_lines())
    # Measured: 90 right (every direct name, 10 indirect lines), 0 wrong, 113 none.
    assert (result["right"], result["wrong"]) == (90, 0), result["misread"]


@pytest.mark.real
def test_the_lexicon_and_the_head_read_most_held_out_job_lines() -> None:
    result = sector_reading(simulator_job_lines(), default_thought_head())
    # Measured 176 right, 4 wrong, 23 none of 203 (lexicon only: 90, 0, 113). Two lines
    # of margin for the embedder's float noise across CPUs, none more.
    assert result["right"] >= 174, result["misread"]
    assert result["wrong"] <= 5, result["misread"]
    assert all(c["right"] >= 1 for c in result["by_sector"].values()), result["by_sector"]
