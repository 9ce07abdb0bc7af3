"""``salesvoice finetune``: LoRA SFT, DPO or KTO of the sales model on torch CPU.

A recipe in one entry point, :func:`finetune`: check the dataset, resolve the base model
(a packaged GGUF, dequantized once into an HF folder under the cache; or an HF folder), train
a LoRA adapter with TRL, publish it with a manifest. The run folder holds ``run.json`` (the
config, refused if a rerun differs), ``checkpoints/`` (every ``save_every`` steps, resumed
from after a kill), ``train_log.jsonl`` (loss per step) and, once done, ``adapter/``.

torch, transformers, peft and trl (the ``[train]`` extra) are imported inside functions:
the rest of the app, and this module, import without them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from models.config import keep_design
from models.errors import ConfigError, MissingExtraError, ModelNotFoundError
from models.weights import CATALOG, resolve, sha256_file
from optimizer.finetune_data import Method, check_lengths, load_training_data
from optimizer.finetune_export import (
    ADAPTER_DIR,
    BaseIdentity,
    publish_adapter,
    verify_adapter,
)

Dtype = Literal["float32", "bfloat16"]
_LR = {"sft": 2e-4, "dpo": 5e-5, "kto": 5e-5}


class RunMismatchError(ConfigError):
    """A run folder was started with another config, base model or dataset."""


class FinetuneConfig(BaseModel):
    """Every setting of one run; logged, stored in ``run.json`` and the adapter's manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method
    base: str = Field(description="packaged model id, a .gguf file, or an HF model folder")
    data: Path
    steps: int = Field(100, gt=0)
    batch_size: int = Field(2, gt=0)
    grad_accum: int = Field(1, gt=0)
    learning_rate: float | None = Field(None, gt=0, description="default: by method")
    lora_r: int = Field(16, gt=0)
    lora_alpha: int = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj",
                                       "gate_proj", "up_proj", "down_proj")
    max_length: int = Field(2048, gt=0, description="tokens per example; the agent's "
                            "prompt with the product sheet alone is 1,100-1,450")
    beta: float = Field(0.1, gt=0, description="DPO/KTO: strength of the pull to the base")
    seed: int = 0
    save_every: int = Field(25, gt=0)
    dtype: Dtype = Field("float32", description="bfloat16 measured 5-20x slower on this "
                         "machine kind's CPU (no native bf16 matmul)")
    threads: int | None = Field(None, gt=0, description="torch threads (default: torch's); "
                                "not part of the run's identity")

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else _LR[self.method]

    def hyper_parameters(self) -> dict[str, Any]:
        """The settings that shape the weights (the data path is not one: its sha256 is)."""
        d = self.model_dump(mode="json", exclude={"data", "base", "threads"})
        d["learning_rate"] = self.lr
        return d


@dataclass(slots=True)
class FinetuneResult:
    adapter: Path
    manifest: dict[str, Any]
    resumed_from: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    seconds_per_step: float | None = None


def resolve_base(ref: str, cache_dir: Path) -> BaseIdentity:
    """A packaged LLM id, a GGUF file or an HF folder → where it is and its sha256."""
    weight = CATALOG.get(ref)
    if weight is not None:
        if weight.kind != "llm":
            raise ModelNotFoundError(f"{ref!r} is a {weight.kind} model, not an LLM")
        path = resolve(weight, cache_dir)  # sha256-verified
        sha = weight.joined_sha256 or weight.files[0].sha256
        return BaseIdentity(ref, "gguf", path, sha)
    path = Path(ref).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return BaseIdentity(ref, "gguf", path.resolve(), sha256_file(path))
    if path.is_dir() and (path / "config.json").is_file():
        return BaseIdentity(ref, "hf", path.resolve(), BaseIdentity.hash_folder(path))
    known = ", ".join(sorted(w.id for w in CATALOG.values() if w.kind == "llm"))
    raise ModelNotFoundError(
        f"base model {ref!r} not found: not a packaged LLM ({known}), a .gguf file, or a "
        "folder with an HF config.json")


def import_train_stack() -> Any:
    """torch, or MissingExtraError naming the ``[train]`` extra."""
    for module in ("torch", "transformers", "peft", "trl"):
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingExtraError("finetune", "train", module) from exc
    import torch

    return torch


def hf_weights(base: BaseIdentity, cache_dir: Path, dtype: Dtype) -> Path:
    """An HF folder of ``base``: itself, or its GGUF dequantized once into the cache.

    Dequantizing costs ~20 s for 135M parameters (minutes for 1.5B), so the folder is kept,
    keyed by the GGUF's sha256, and written under a temporary name until complete.
    """
    if base.kind == "hf":
        return base.path
    import_train_stack()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    target = cache_dir / "hf" / f"{base.path.stem}-{base.sha256[:12]}-{dtype}"
    if (target / "source.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".dequant-"))
    try:
        folder, name = str(base.path.parent), base.path.name
        AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(tmp)
        loaded = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=getattr(torch, dtype))
        # The GGUF-loaded model keeps a quantizer that refuses save_pretrained although its
        # weights are dense by now: move them into a plain model (meta init: no 2nd copy).
        plain = AutoConfig.from_pretrained(folder, gguf_file=name)  # no quantization_config
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(plain, dtype=getattr(torch, dtype))
        model.load_state_dict(loaded.state_dict(), assign=True)
        model.tie_weights()
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp)
        (tmp / "source.json").write_text(json.dumps(
            {"gguf": str(base.path), "sha256": base.sha256, "dtype": dtype}, indent=1))
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class RunFolder:
    """The files of one run; a rerun continues it only with the identical identity."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.checkpoints = root / "checkpoints"
        self.adapter = root / ADAPTER_DIR
        self.log = root / "train_log.jsonl"

    def claim(self, identity: dict[str, Any]) -> None:
        keep_design(identity, self.root / "run.json", "a fine-tuning run", RunMismatchError)

    def last_checkpoint(self, console: Console) -> Path | None:
        """The newest complete checkpoint; incomplete ones (a kill while saving) go.

        The trainer writes ``trainer_state.json`` after the weights and optimizer, so a
        checkpoint whose state parses is whole.
        """
        found: list[tuple[int, Path]] = []
        for d in self.checkpoints.glob("checkpoint-*"):
            try:
                step = int(d.name.split("-", 1)[1])
                json.loads((d / "trainer_state.json").read_text())
                if not (d / "adapter_model.safetensors").is_file():
                    raise ValueError("no adapter weights")
            except (ValueError, OSError):
                console.print(f"removing incomplete checkpoint {d}", highlight=False)
                shutil.rmtree(d, ignore_errors=True)
                continue
            found.append((step, d))
        return max(found)[1] if found else None


def finetune(config: FinetuneConfig, out: Path, cache_dir: Path, console: Console,
             *, on_step: Callable[[int], None] | None = None) -> FinetuneResult:
    """Train (or resume, or find finished) the run in ``out``; returns its adapter."""
    data = load_training_data(config.data, config.method)
    base = resolve_base(config.base, cache_dir)
    run = RunFolder(out)
    identity = {"method": config.method, "base": base.ref, "base_sha256": base.sha256,
                "data_sha256": data.sha256, **config.hyper_parameters()}
    run.claim(identity)
    if run.adapter.exists():
        manifest = verify_adapter(run.adapter)
        console.print(f"{out} is finished: adapter {run.adapter} (verified)", highlight=False)
        return FinetuneResult(run.adapter, manifest)
    torch = import_train_stack()
    from transformers import PrinterCallback, set_seed

    console.print(f"finetune {config.method}: base {base.ref} (sha256 {base.sha256[:12]}), "
                  f"{len(data.rows)} rows from {data.path} (sha256 {data.sha256[:12]})",
                  highlight=False)
    console.print(f"settings: {json.dumps(config.hyper_parameters())}", highlight=False)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    weights = hf_weights(base, cache_dir, config.dtype)
    trainer = _trainer(config, weights, data.rows, run, torch)
    resume = run.last_checkpoint(console)
    resumed_from = int(resume.name.split("-", 1)[1]) if resume else 0
    if resume is not None:
        console.print(f"resuming from {resume}", highlight=False)
    progress = _progress_callback(console, config.steps, run.log, on_step)
    trainer.remove_callback(PrinterCallback)  # prints raw log dicts; ours prints lines
    trainer.add_callback(progress)
    with progress.bar:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    manifest = publish_adapter(
        trainer.model, run.adapter, base=base,
        data={"path": str(data.path), "sha256": data.sha256, "rows": len(data.rows)},
        method=config.method, hyper=config.hyper_parameters(), steps=config.steps,
        final_loss=progress.losses[-1][1] if progress.losses else None)
    console.print(f"adapter: {run.adapter}", highlight=False)
    return FinetuneResult(run.adapter, manifest, resumed_from, progress.losses,
                          progress.seconds_per_step())


def _trainer(config: FinetuneConfig, weights: Path, rows: list[dict[str, Any]],
             run: RunFolder, torch: Any) -> Any:
    import trl
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    check_lengths(rows, lambda prompt, answer: _count_tokens(tokenizer, prompt, answer),
                  config.max_length, config.data)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=getattr(torch, config.dtype))
    lora = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules))
    common = trainer_settings(config, run.checkpoints)
    if config.method == "sft":
        args: Any = trl.SFTConfig(**common, completion_only_loss=True)
        cls: Any = trl.SFTTrainer
    elif config.method == "dpo":
        args = trl.DPOConfig(**common, beta=config.beta)
        cls = trl.DPOTrainer
    else:
        args = trl.KTOConfig(**common, beta=config.beta)
        cls = trl.KTOTrainer
    return cls(model=model, args=args, train_dataset=Dataset.from_list(rows),
               processing_class=tokenizer, peft_config=lora)


def trainer_settings(config: FinetuneConfig, checkpoints: Path) -> dict[str, Any]:
    """The settings every trainer (SFT, DPO, KTO) gets; explicit where TRL's defaults
    would slow a CPU run down."""
    return {
        "output_dir": str(checkpoints), "max_steps": config.steps,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum, "learning_rate": config.lr,
        "seed": config.seed, "data_seed": config.seed, "logging_steps": 1,
        "save_strategy": "steps", "save_steps": config.save_every, "save_total_limit": 2,
        "report_to": "none", "disable_tqdm": True, "use_cpu": True,
        "max_length": config.max_length, "dataloader_num_workers": 0,
        # Recomputing activations saves memory we have (24 GiB, models <= 1.5B with
        # LoRA) at a time cost we do not want on a CPU. TRL's configs turn it on by
        # default, and bf16 autocast with it: on a CPU without native bf16 matmuls the
        # 6-step DPO smoke on SmolLM2-135M took 331 s instead of 30 s (measured).
        "activation_checkpointing": False, "gradient_checkpointing": False,
        "bf16": config.dtype == "bfloat16", "fp16": False,
    }


def _count_tokens(tokenizer: Any, prompt: Any, answer: Any) -> int:
    if isinstance(prompt, str):
        return len(tokenizer(prompt + answer)["input_ids"])
    text = tokenizer.apply_chat_template([*prompt, *answer], tokenize=False)
    return len(tokenizer(text)["input_ids"])


def _progress_callback(console: Console, total: int, log: Path,
                       on_step: Callable[[int], None] | None) -> Any:
    """A trainer callback: a rich bar on a terminal, plain lines otherwise; losses logged."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers import TrainerCallback

    every = max(1, total // 20)

    class _Progress(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.bar = Progress(TextColumn("finetune"), BarColumn(),
                                TextColumn("{task.completed}/{task.total} {task.fields[loss]}"),
                                TimeRemainingColumn(), console=console,
                                disable=not console.is_terminal)
            self.task = self.bar.add_task("train", total=total, loss="")
            self.losses: list[tuple[int, float]] = []
            self.step_times: list[float] = []
            self._t0 = 0.0

        def seconds_per_step(self) -> float | None:
            # The first step carries one-off costs (graph warm-up, data preparation).
            times = self.step_times[1:] or self.step_times
            return sum(times) / len(times) if times else None

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step_times.append(time.perf_counter() - self._t0)
            self.bar.update(self.task, completed=state.global_step)
            if on_step is not None:
                on_step(state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            step, loss = int(state.global_step), float(logs["loss"])
            self.losses.append((step, loss))
            with log.open("a") as f:
                f.write(json.dumps({"step": step, "loss": loss, "time": time.time()}) + "\n")
            self.bar.update(self.task, loss=f"loss {loss:.4f}")
            if not console.is_terminal and (step % every == 0 or step == total):
                console.print(f"step {step}/{total} loss {loss:.4f}", highlight=False)

    return _Progress()
