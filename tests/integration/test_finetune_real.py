"""``salesvoice finetune`` on the real SmolLM2-135M (its packaged Q4_1 GGUF, dequantized):
a few LoRA steps each, on datasets written here in TRL's formats.

Needs the ``[train]`` extra; without it the training tests fail (they are not skipped):
CI installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from models.errors import ModelNotFoundError
from models.weights import CATALOG, sha256_file
from optimizer.finetune import RunMismatchError, finetune, trainer_settings
from optimizer.finetune_data import DatasetError, load_training_data
from optimizer.finetune_export import AdapterError, load_tuned, verify_adapter
from server.cli import main
from tests.integration.finetune_smoke import (
    BASE,
    TURNS,
    _config,
    _prompt,
    _write,
    dpo_rows,
    sft_rows,
)

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]


def test_sft_loss_falls_on_a_tiny_overfit_dataset(sft_run: Any) -> None:
    _, _, result = sft_run
    losses = [loss for _, loss in result.losses]
    assert len(losses) == 8
    assert sum(losses[-2:]) / 2 < 0.6 * losses[0], losses
    assert result.seconds_per_step is not None


def test_adapter_is_published_with_a_manifest_naming_base_data_and_settings(
        sft_run: Any) -> None:
    config, out, result = sft_run
    manifest = verify_adapter(result.adapter, CATALOG[BASE].files[0].sha256)
    assert manifest["base"] == {"ref": BASE, "kind": "gguf",
                                "sha256": CATALOG[BASE].files[0].sha256}
    assert manifest["dataset"]["sha256"] == sha256_file(config.data)
    assert manifest["hyper_parameters"]["learning_rate"] == 2e-3
    for name, sha in manifest["files"].items():
        assert sha256_file(result.adapter / name) == sha
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary folder left"


def test_tuned_adapter_fits_its_targets_better_than_the_base(sft_run: Any, xdg: Path) -> None:
    import torch

    _, _, result = sft_run
    model, tokenizer = load_tuned(result.adapter, xdg / "salesvoice")
    user, target = TURNS[0]
    prompt = tokenizer.apply_chat_template(_prompt(user), add_generation_prompt=True,
                                           tokenize=False)
    ids = tokenizer(prompt + target, return_tensors="pt").input_ids
    labels = ids.clone()
    labels[:, : len(tokenizer(prompt).input_ids)] = -100
    with torch.no_grad():
        tuned = float(model(input_ids=ids, labels=labels).loss)
        with model.disable_adapter():
            base = float(model(input_ids=ids, labels=labels).loss)
    assert tuned < 0.5 * base, (tuned, base)


def test_finished_run_reruns_as_a_no_op(sft_run: Any, xdg: Path) -> None:
    config, out, result = sft_run
    again = finetune(config, out, xdg / "salesvoice", Console())
    assert again.manifest == result.manifest and again.losses == []


def test_run_folder_refuses_a_rerun_with_other_settings(sft_run: Any, xdg: Path) -> None:
    config, out, _ = sft_run
    other = config.model_copy(update={"learning_rate": 1e-4})
    with pytest.raises(RunMismatchError, match="learning_rate"):
        finetune(other, out, xdg / "salesvoice", Console())
    changed = out.parent / "changed.jsonl"
    _write(changed, sft_rows()[:1])
    with pytest.raises(RunMismatchError, match="data_sha256"):
        finetune(config.model_copy(update={"data": changed}), out, xdg / "salesvoice",
                 Console())


def test_corrupted_or_foreign_adapter_is_refused(sft_run: Any, tmp_path: Path) -> None:
    _, _, result = sft_run
    copy = tmp_path / "adapter"
    shutil.copytree(result.adapter, copy)
    with pytest.raises(AdapterError, match="trained on base"):
        verify_adapter(copy, "0" * 64)
    weights = copy / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="does not match its sha256"):
        verify_adapter(copy)
    assert main(["finetune", "verify", str(copy)]) == 2
    (copy / "manifest.json").unlink()
    with pytest.raises(AdapterError, match="not a finished"):
        verify_adapter(copy)


def test_dpo_prefers_chosen_replies_after_a_few_steps(train_stack: None, xdg: Path,
                                                      tmp_path: Path) -> None:
    config = _config(_write(tmp_path / "dpo.jsonl", dpo_rows()), method="dpo", steps=6,
                     learning_rate=1e-3, save_every=100)
    result = finetune(config, tmp_path / "run", xdg / "salesvoice", Console())
    losses = [loss for _, loss in result.losses]
    assert losses[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference
    assert losses[-1] < 0.5, losses
    assert verify_adapter(result.adapter)["method"] == "dpo"


def test_kill_9_mid_run_then_rerun_resumes_from_the_last_checkpoint(
        train_stack: None, xdg: Path, tmp_path: Path) -> None:
    data = _write(tmp_path / "sft.jsonl", sft_rows())
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "server.cli", "finetune", "sft", "--base", BASE,
            "--data", str(data), "--out", str(out), "--steps", "8", "--save-every", "2",
            "--learning-rate", "2e-3", "--max-length", "128", "--threads", "1",
            "--lora-dropout", "0"]
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg)}
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = out / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 300
    try:
        while not state.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert state.is_file(), "the first run never wrote a checkpoint"
    assert not (out / "adapter").exists()
    # A checkpoint cut short while saving: the rerun must drop it, not resume from it.
    torn = out / "checkpoints" / "checkpoint-7"
    torn.mkdir()
    (torn / "adapter_model.safetensors").write_bytes(b"\0" * 10)

    config = _config(data, save_every=2)
    resumed = finetune(config, out, xdg / "salesvoice", Console())
    assert resumed.resumed_from >= 2 and not torn.exists()
    assert resumed.losses[0][0] == resumed.resumed_from + 1
    assert verify_adapter(resumed.adapter)["steps"] == 8

    # Same seed, same data order, restored RNG: the resumed run ends where an unbroken one does.
    straight = finetune(config, tmp_path / "straight", xdg / "salesvoice", Console())
    assert resumed.losses[-1][1] == pytest.approx(straight.losses[-1][1], rel=1e-3)


def test_rows_longer_than_max_length_are_refused_not_cut(train_stack: None, xdg: Path,
                                                        tmp_path: Path) -> None:
    # Truncation keeps the start, so the target turn at the end would lose its loss (TRL
    # drops such rows as fully masked: 0 rows left, a bare sampler error).
    data = _write(tmp_path / "sft.jsonl", sft_rows())
    with pytest.raises(DatasetError, match=r"2 of 2 examples are longer than max_length 24 tokens "
                                           r"\(longest \d+\).*--max-length to at least"):
        finetune(_config(data, max_length=24), tmp_path / "run", xdg / "salesvoice", Console())
    assert not (tmp_path / "run" / "adapter").exists()


# Bad input: each a clear error before any model is loaded.

def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sft.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match="no rows"):
        load_training_data(tmp_path / "sft.jsonl", "sft")
    with pytest.raises(DatasetError, match="no dataset file"):
        load_training_data(tmp_path / "missing.jsonl", "sft")


def test_rows_of_the_wrong_format_name_their_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "sft.jsonl", [*sft_rows(), *dpo_rows()])
    with pytest.raises(DatasetError, match=r"sft.jsonl:3: .*is this a dpo file"):
        load_training_data(path, "sft")
    no_target = {"messages": _prompt("hello")}
    with pytest.raises(DatasetError, match=r":1: the last .* assistant"):
        load_training_data(_write(tmp_path / "t.jsonl", [no_target]), "sft")
    bad_role = {"messages": [{"role": "caller", "content": "hi"}]}
    with pytest.raises(DatasetError, match=r"messages\[0\]"):
        load_training_data(_write(tmp_path / "r.jsonl", [bad_role]), "sft")
    (tmp_path / "j.jsonl").write_text('{"messages": [\n')
    with pytest.raises(DatasetError, match="not JSON"):
        load_training_data(tmp_path / "j.jsonl", "sft")
    kto = [{"prompt": "hi", "completion": "hello", "label": True}]
    with pytest.raises(DatasetError, match="both desirable and undesirable"):
        load_training_data(_write(tmp_path / "k.jsonl", kto), "kto")


def test_missing_base_model_is_a_clear_error(tmp_path: Path) -> None:
    data = _write(tmp_path / "sft.jsonl", sft_rows())
    with pytest.raises(ModelNotFoundError, match="not a packaged LLM"):
        finetune(_config(data, base=str(tmp_path / "nope.gguf")), tmp_path / "run",
                 tmp_path / "cache", Console())
    assert not (tmp_path / "run").exists()
    assert main(["finetune", "sft", "--base", "no-such-model", "--data", str(data),
                 "--out", str(tmp_path / "run")]) == 2


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_trainers_compute_in_the_chosen_dtype_without_recomputing_activations(
        train_stack: None, tmp_path: Path, dtype: str) -> None:
    # TRL's configs default to bf16 autocast and gradient checkpointing: on this CPU kind
    # (no native bf16 matmul) the 6-step DPO smoke took 331 s with them, 30 s without.
    import trl

    settings = trainer_settings(_config(tmp_path / "d.jsonl", dtype=dtype), tmp_path / "c")
    for cls in (trl.SFTConfig, trl.DPOConfig, trl.KTOConfig):
        args = cls(**settings)
        assert (args.bf16, args.fp16, args.gradient_checkpointing) == (
            dtype == "bfloat16", False, False), cls.__name__


def test_the_app_imports_without_the_train_stack() -> None:
    code = ("import sys, optimizer.finetune, optimizer.finetune_export, server.cli; "
            "server.cli.build_parser(); "
            "bad = {'torch', 'transformers', 'peft', 'trl'} & set(sys.modules); "
            "sys.exit(f'imported {bad}' if bad else 0)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def _llamacpp_reply(model: Path, lora: Path | None, user: str) -> str:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(model)
    params.n_ctx = 512
    params.verbosity = -1
    params.warmup = False
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.cpuparams.n_threads = 1
    if lora is not None:
        info = xlc.CommonAdapterLoraInfo()
        info.path = str(lora)
        info.scale = 1.0
        params.lora_adapters = [info]
    server = xlc.Server(params)
    out = server.handle_chat_completions(
        {"messages": _prompt(user), "temperature": 0, "max_tokens": 24})
    return str(out["choices"][0]["message"]["content"])


def test_exported_lora_gguf_steers_the_embedded_llamacpp_model(
        sft_run: Any, xdg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.weights import resolve

    _, _, result = sft_run
    out = tmp_path / "tuned-lora.gguf"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    assert main(["finetune", "export", str(result.adapter), "--out", str(out)]) == 0
    stamp = json.loads((out.parent / (out.name + ".json")).read_text())
    assert stamp["gguf_sha256"] == sha256_file(out)
    base = resolve(CATALOG[BASE], xdg / "salesvoice")
    user, target = TURNS[0]
    tuned = _llamacpp_reply(base, out, user)
    assert tuned.startswith(" ".join(target.split()[:5])), tuned
    assert _llamacpp_reply(base, None, user) != tuned
