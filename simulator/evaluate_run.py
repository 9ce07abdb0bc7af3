"""``salesvoice evaluate``: run two or more arms on the same held-out personas (paired,
resumable like any batch), then compare them (``simulator/evaluate.py``).

The real path by default: the agent is not told the caller's occupation, outcomes are
read from the agent's side, and the persona set must share no persona with the files
listed in ``exclude`` (training calls, the optimizer's selection set...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from rich.console import Console

from agent.program import AgentProgram, load_program
from models.config import LLMSettings, StrictModel, _merge, keep_design, load_toml_config
from models.errors import ConfigError
from models.registry import llm_version
from simulator.batch import BatchConfig, PersonaSet, plan
from simulator.evaluate import Evaluation, OutcomeSource, evaluate
from simulator.metrics import persona_id
from simulator.persona import Persona
from simulator.store import read_dialogues

DEFAULT_PERSONAS = PersonaSet(count=400, seed=9001)
"""A seed no other default uses (the optimizer trains on 1 and selects on 2)."""


class Arm(StrictModel):
    program: str = "insurance-default"
    """Built-in program name or JSON file."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Program fields to change, dotted (``"decoding.mode" = "single"``)."""
    llm: dict[str, Any] = Field(default_factory=dict)
    """LLM settings to change for this arm, as in ``[llm]`` (``{ llamacpp = { lora =
    "tuned.gguf" } }``): base vs tuned model on the same personas. Arms with other LLM
    settings are simulated one group after another, each on its own loaded model."""


def arm_program(arm: str | Arm) -> AgentProgram:
    """The program an arm runs: its file, with the arm's changes (version re-stamped)."""
    if isinstance(arm, str):
        return load_program(arm)
    data = load_program(arm.program).model_dump(mode="json")
    for dotted, value in arm.set.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise ConfigError(f"arm sets {dotted!r}: the program has no section {key!r}")
            node = node[key]
        if leaf not in node:
            raise ConfigError(f"arm sets {dotted!r}: the program has no field {leaf!r}")
        node[leaf] = value
    try:
        return AgentProgram.model_validate({**data, "version": "", "parent": data["version"],
                                            "created_by": "evaluate arm"})
    except ValidationError as exc:
        raise ConfigError(f"arm of {arm.program} with {arm.set} is invalid: {exc}") from None


class EvaluateConfig(StrictModel):
    """``salesvoice evaluate run --config evaluate.toml``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    arms: dict[str, str | Arm] = Field(min_length=2)
    """Arm name → agent program (built-in name or JSON file), or a table with the program
    and fields to change (``{ program = "insurance-default", set = { "decoding.mode" =
    "single" } }``)."""
    baseline: str | None = None
    """The arm the others are compared with (default: the first)."""
    outcome: OutcomeSource = "detected"
    """detected: the agent's reading of the call (as live); truth: a programmatic user's."""
    personas: PersonaSet = DEFAULT_PERSONAS
    exclude: list[str] = Field(default_factory=list)
    """Persona or dialogue JSONL files (or folders of them) whose personas must not be
    evaluated on: whatever trained or selected the arms."""
    simulation: dict[str, Any] = Field(default_factory=dict)
    """Batch settings as in a batch file, without name, personas and agent.programs."""
    bootstrap: int = Field(2000, ge=200)
    output: str | None = None
    """Run folder; default ``<data_dir>/evaluations/<name>/``."""

    @model_validator(mode="after")
    def _check(self) -> EvaluateConfig:
        if self.baseline is not None and self.baseline not in self.arms:
            raise ValueError(f"baseline {self.baseline!r} is not an arm ({sorted(self.arms)})")
        return self

    def batch(self, data_dir: Path) -> BatchConfig:
        sim = dict(self.simulation)
        for key in ("name", "personas", "output"):
            if key in sim:
                raise ConfigError(f"evaluate [simulation] must not set {key!r}: the "
                                  "evaluation sets it")
        programs = {arm: str(self.run_dir(data_dir) / "programs" / f"{arm}.json")
                     for arm in self.arms}
        agent = {"share_occupation": False, "reader": "head", **sim.pop("agent", {}),
                 "programs": programs}
        # A scripted agent costs milliseconds: many dialogues at once let its learned
        # reader embed their lines in one batch. An LLM agent keeps the batch default.
        workers = {"workers": 64} if agent.get("kind") == "rule" else {}
        try:
            return BatchConfig.model_validate({
                "dialogues_per_persona": 1, **workers, **sim, "name": self.name, "agent": agent,
                "personas": self.personas,
                "output": str(self.run_dir(data_dir) / "dialogues.jsonl")})
        except ValidationError as exc:
            raise ConfigError(f"evaluate config [simulation] is invalid: {exc}") from None

    def run_dir(self, data_dir: Path) -> Path:
        return Path(self.output) if self.output else data_dir / "evaluations" / self.name


def load_evaluate_config(path: Path) -> EvaluateConfig:
    return load_toml_config(path, EvaluateConfig, "evaluate config")


def used_personas(paths: Iterable[str]) -> set[str]:
    """Persona ids in persona files, dialogue stores, or folders holding either."""
    ids: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"exclude: {path} does not exist")
        files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
        for file in files:
            for n, line in enumerate(file.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise ConfigError(f"exclude: {file}:{n} is not JSON") from None
                if isinstance(obj, dict) and "turns" in obj:
                    from agent.dialogue import Dialogue

                    ids.add(persona_id(Dialogue.model_validate(obj)))
                elif isinstance(obj, dict) and "occupation" in obj:
                    ids.add(Persona.model_validate(obj).id)
    return ids


def check_disjoint(personas: list[Persona], exclude: list[str]) -> None:
    shared = {p.id for p in personas} & used_personas(exclude)
    if shared:
        raise ConfigError(
            f"{len(shared)} evaluation personas were already used (e.g. {sorted(shared)[0]}): "
            "the evaluation set must share nothing with training or selection; change "
            "[personas] seed or spec")


async def run_evaluation(config: EvaluateConfig, settings: Any, console: Console) -> Evaluation:
    """Simulate what the run folder lacks, then compare and write the report."""
    from simulator.app import simulate
    from simulator.batch import personas_for
    from simulator.evaluate_report import write_evaluation

    batch = config.batch(settings.data_dir)
    save_programs(config, batch)
    personas = await personas_for(batch, None)
    check_disjoint(personas, config.exclude)
    # Anything but the number of workers is the design.
    groups = llm_groups(config, settings.llm)
    design = batch.model_dump(mode="json", exclude={"workers"})
    if any(isinstance(a, Arm) and a.llm for a in config.arms.values()):
        # Which model each arm ran (adapter sha256 included); absent when no arm changes
        # the LLM, so run folders from before this key still resume.
        design["llm"] = {arm: llm_version(llm) for llm, arms in groups for arm in arms}
    keep_design(design, config.run_dir(settings.data_dir) / "design.json", "an evaluation")
    for llm, arms in groups:
        part = batch.model_copy(update={"agent": batch.agent.model_copy(update={
            "programs": {arm: batch.agent.programs[arm] for arm in arms}})})
        result = await simulate(part, settings.model_copy(update={"llm": llm}), console,
                                report=False)
        if result.failed:
            raise ConfigError(f"{result.failed} dialogues failed (rerun to retry them): "
                              f"{result.errors[0]}")
    store = batch.store_path(settings.data_dir)
    planned = {item.id for item in plan(batch, personas)}
    dialogues = [d for d in read_dialogues(store) if d.id in planned]
    ev = evaluate(dialogues, baseline=config.baseline or next(iter(config.arms)),
                  source=config.outcome, role_slip=role_slip_check(), n_boot=config.bootstrap)
    paths = write_evaluation(ev, store.parent / "report", title=f"evaluation {config.name}")
    console.print(f"report: {paths[0]}")
    return ev


def llm_groups(config: EvaluateConfig, llm: LLMSettings) -> list[tuple[LLMSettings, list[str]]]:
    """The arms grouped by the LLM settings they run on, in arm order."""
    groups: list[tuple[LLMSettings, list[str]]] = []
    for arm, spec in config.arms.items():
        changes = spec.llm if isinstance(spec, Arm) else {}
        try:
            mine = LLMSettings.model_validate(_merge(llm.model_dump(), changes))
        except ValidationError as exc:
            raise ConfigError(f"arm {arm!r}: llm {changes} is invalid: {exc}") from None
        for settings, arms in groups:
            if settings == mine:
                arms.append(arm)
                break
        else:
            groups.append((mine, [arm]))
    return groups


def save_programs(config: EvaluateConfig, batch: BatchConfig) -> None:
    """Each arm's program into the run folder: what was evaluated, kept with the results.
    A rerun must evaluate the same programs it resumes."""
    for arm, spec in config.arms.items():
        program = arm_program(spec)
        path = Path(batch.agent.programs[arm])
        if path.is_file():
            kept = json.loads(path.read_text()).get("version")
            if kept != program.version:
                raise ConfigError(
                    f"arm {arm!r} is now program {program.version}, but this run's "
                    f"dialogues are of {kept}: use a new evaluation name (or output)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(program.model_dump_json(indent=2) + "\n")


def role_slip_check() -> Callable[[str], bool]:
    """The simulated users' role-slip check: a customer line that sounds like the agent."""
    from simulator.roleplay import role_slips

    return lambda line: bool(role_slips(line))
