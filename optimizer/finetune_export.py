"""Tuned adapters as artefacts: published whole with a manifest, verified before use.

An adapter folder is complete only once renamed into place: files are written to a
temporary sibling, hashed into ``manifest.json`` (written last), then the folder is
renamed. A reader verifies every file's sha256 against the manifest and the base model's
sha256 against the one it trained on, so a half-written or altered adapter is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import IntegrityError, MissingExtraError
from models.llm.llamacpp import LORA_STAMP_FORMAT
from models.weights import sha256_file

ADAPTER_DIR = "adapter"
MANIFEST = "manifest.json"
FORMAT = "salesvoice-lora/1"


class AdapterError(IntegrityError):
    """An adapter folder is incomplete, altered, or belongs to another base model."""


@dataclass(frozen=True, slots=True)
class BaseIdentity:
    """The base model a run trains on: what was asked for, where it is, its sha256."""

    ref: str
    kind: Literal["gguf", "hf"]
    path: Path
    sha256: str

    @staticmethod
    def hash_folder(folder: Path) -> str:
        """sha256 over the sorted (relative name, file sha256) lines of a folder."""
        h = hashlib.sha256()
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = f.relative_to(folder).as_posix()
            if not rel.startswith("."):
                h.update(f"{rel} {sha256_file(f)}\n".encode())
        return h.hexdigest()


def publish_adapter(model: Any, target: Path, *, base: BaseIdentity, data: dict[str, Any],
                    method: str, hyper: dict[str, Any], steps: int,
                    final_loss: float | None) -> dict[str, Any]:
    """Save ``model``'s LoRA adapter to ``target`` atomically, with its manifest."""
    if target.exists():
        raise AdapterError(f"{target} already exists; not overwriting a published adapter")
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a kill while publishing
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        model.save_pretrained(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {
            "format": FORMAT, "method": method,
            "base": {"ref": base.ref, "kind": base.kind, "sha256": base.sha256},
            "dataset": data, "hyper_parameters": hyper, "steps": steps,
            "final_loss": final_loss, "files": files,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with (tmp / MANIFEST).open("w") as out:
            json.dump(manifest, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o755)  # mkdtemp makes it private; the adapter is for sharing
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def verify_adapter(folder: Path, base_sha256: str | None = None) -> dict[str, Any]:
    """The manifest of ``folder`` once every file matches it; AdapterError otherwise."""
    spec = folder / MANIFEST
    if not folder.is_dir():
        raise AdapterError(f"no adapter folder at {folder}")
    try:
        manifest: dict[str, Any] = json.loads(spec.read_text())
        files: dict[str, str] = manifest["files"]
        expected_base: str = manifest["base"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdapterError(f"{folder} has no valid {MANIFEST} ({exc}): it is not a finished "
                           "salesvoice adapter") from None
    if manifest.get("format") != FORMAT:
        raise AdapterError(f"{spec}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    for name, sha in files.items():
        path = folder / name
        if not path.is_file():
            raise AdapterError(f"{folder}: {name} listed in the manifest is missing")
        if sha256_file(path) != sha:
            raise AdapterError(f"{path} does not match its sha256 in the manifest: the "
                               "adapter was altered or damaged; retrain or restore it")
    if base_sha256 is not None and base_sha256 != expected_base:
        raise AdapterError(
            f"{folder} was trained on base {manifest['base']['ref']!r} (sha256 "
            f"{expected_base[:12]}), not on the given base (sha256 {base_sha256[:12]})")
    return manifest


def load_tuned(folder: Path, cache_dir: Path, base: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer): the verified adapter on its base (``base`` defaults to the
    manifest's), for evaluation or merging."""
    from optimizer.finetune import hf_weights, import_train_stack, resolve_base

    manifest = verify_adapter(folder)
    identity = resolve_base(base or manifest["base"]["ref"], cache_dir)
    verify_adapter(folder, identity.sha256)
    torch = import_train_stack()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = manifest["hyper_parameters"].get("dtype", "float32")
    weights = hf_weights(identity, cache_dir, dtype)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=getattr(torch, dtype))
    return PeftModel.from_pretrained(model, folder), AutoTokenizer.from_pretrained(weights)


# --- GGUF export: a llama.cpp LoRA adapter beside the base GGUF -------------------------
# llama.cpp applies a GGUF LoRA (general.type "adapter") to the base GGUF at load time, so
# the quantized base ships once and each tuned version is a few MiB. Tensors keep PEFT's
# layout (A: r x in, B: out x r); the writer reverses dims into ggml order, which is the
# order llama.cpp checks A and B against the base weight. Only the two architectures of the
# packaged students are mapped: llama (SmolLM2) and qwen2 (Qwen2.5-Coder).
_ARCHS = ("llama", "qwen2")


def _rope_permute(w: Any, n_head: int) -> Any:
    """HF's rotary layout (halves) → GGUF's (interleaved pairs) along the output rows, as
    llama.cpp's converter does for llama q/k weights; applied to LoRA B, whose rows they are."""
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def export_lora_gguf(folder: Path, out: Path, cache_dir: Path) -> dict[str, Any]:
    """Write the verified adapter in ``folder`` as a llama.cpp LoRA GGUF at ``out``
    (atomically), with ``out``.json naming the base GGUF and both sha256."""
    import numpy as np

    from optimizer.finetune import resolve_base

    try:
        import gguf
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise MissingExtraError("finetune export", "train", exc.name or "gguf") from exc
    manifest = verify_adapter(folder)
    base = resolve_base(manifest["base"]["ref"], cache_dir)
    verify_adapter(folder, base.sha256)
    if base.kind != "gguf":
        raise AdapterError(f"{folder} was trained on an HF folder; GGUF export needs a GGUF "
                           "base that llama.cpp applies the adapter to")
    reader = gguf.GGUFReader(str(base.path))

    def field(key: str) -> Any:
        f = reader.get_field(key)
        if f is None:
            raise AdapterError(f"{base.path} has no {key!r}")
        return f.contents()

    arch = str(field("general.architecture"))
    if arch not in _ARCHS:
        raise AdapterError(f"GGUF export maps {_ARCHS} only, not {arch!r}")
    n_head = int(field(f"{arch}.attention.head_count"))
    n_kv = int(field(f"{arch}.attention.head_count_kv"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()],
                                     int(field(f"{arch}.block_count")))
    config = json.loads((folder / "adapter_config.json").read_text())
    if config.get("use_dora") or config.get("use_rslora"):
        raise AdapterError("DoRA / rsLoRA adapters have no llama.cpp GGUF form")
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for key in sorted(tensors):
        # base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
        module, _, part = key.removeprefix("base_model.model.").rpartition(".lora_")
        target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
        if target is None or part not in ("A.weight", "B.weight"):
            raise AdapterError(f"{folder}: no GGUF tensor for {key!r}")
        value = tensors[key].astype(np.float32)
        if arch == "llama" and part == "B.weight" and module.endswith(("q_proj", "k_proj")):
            value = _rope_permute(value, n_head if module.endswith("q_proj") else n_kv)
        writer.add_tensor(f"{target}.lora_{part[0].lower()}", value)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out)
    stamp = {"format": LORA_STAMP_FORMAT, "gguf_sha256": sha256_file(out),
             "base": manifest["base"], "base_gguf": str(base.path),
             "adapter_manifest_sha256": sha256_file(folder / MANIFEST)}
    out.with_name(out.name + ".json").write_text(json.dumps(stamp, indent=1))
    return stamp
