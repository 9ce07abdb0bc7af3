"""A stratified program set on the live server: each call gets its segment's program,
chosen from what the caller profile says (sector, or the occupation's sector)."""

from __future__ import annotations

from pathlib import Path

from agent.dialogue import CallerProfile
from agent.program import ProgramSet, load_program, load_program_set
from models.llm.fake import FakeLLM
from server.hub import Hub
from server.settings import Settings
from server.store import CallStore


def test_each_call_gets_its_segments_program(tmp_path: Path) -> None:
    p0 = load_program()
    farm = p0.evolve("test", sop="Business SOP\nStep 1: Farm\nObjective: talk about the land.")
    health = p0.evolve("test", sop="Business SOP\nStep 1: Care\nObjective: talk about shifts.")
    pset = ProgramSet(default=p0, programs={"farm": farm, "care": health},
                      route={"A": "farm", "Q": "care"})
    path = tmp_path / "set.json"
    pset.save(path)
    loaded = load_program_set(str(path))
    assert loaded == pset and loaded.version.startswith("s-")
    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    hub = Hub(Settings(), None, None, None, FakeLLM([]), store, loaded)  # type: ignore[arg-type]
    picked = {
        "sector": hub.new_agent(CallerProfile(sector="A"), "c1", None).program,
        "occupation": hub.new_agent(CallerProfile(occupation="nurse"), "c2", None).program,
        "unrouted": hub.new_agent(CallerProfile(sector="K"), "c3", None).program,
        "unknown": hub.new_agent(CallerProfile(), "c4", None).program,
    }
    assert picked == {"sector": farm, "occupation": health, "unrouted": p0, "unknown": p0}
