"""Tests for llama_images.testing.tinymodel (needs llama.cpp's ggml-vocab-llama-spm.gguf)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

gguf = pytest.importorskip("gguf")

from llama_images.testing import tinymodel  # noqa: E402
from llama_images.testing.tinymodel import write_tiny_model  # noqa: E402

DEFAULT_VOCAB = (
    "/tmp/scratch/llama_cpp_python-0.3.35/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"
)
VOCAB = Path(os.environ.get("LLAMA_IMAGES_VOCAB", DEFAULT_VOCAB))
MAX_SIZE = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def vocab() -> Path:
    if not VOCAB.is_file():
        pytest.skip(
            f"llama.cpp vocab file {VOCAB} not found "
            "(set LLAMA_IMAGES_VOCAB to models/ggml-vocab-llama-spm.gguf of a llama.cpp checkout)"
        )
    return VOCAB


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, vocab: Path) -> Path:
    dest = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    assert write_tiny_model(dest, vocab) == dest
    return dest


def _field(reader: Any, key: str) -> Any:
    assert key in reader.fields, f"{key} missing"
    return reader.fields[key].contents()


def test_model_metadata_and_tensors(model: Path, vocab: Path) -> None:
    assert 0 < model.stat().st_size < MAX_SIZE

    reader = gguf.GGUFReader(model)
    source = gguf.GGUFReader(vocab)
    assert _field(reader, "general.architecture") == "llama"
    assert _field(reader, "llama.embedding_length") == tinymodel.N_EMBD
    assert _field(reader, "llama.block_count") == tinymodel.N_LAYER
    template = _field(reader, "tokenizer.chat_template")
    assert "messages" in template and "add_generation_prompt" in template
    assert _field(reader, tinymodel.REVISION_KEY).startswith(tinymodel.REVISION + " ")

    tokenizer_keys = [k for k in source.fields if k.startswith("tokenizer.")]
    assert "tokenizer.ggml.tokens" in tokenizer_keys
    for key in tokenizer_keys:
        assert reader.fields[key].types == source.fields[key].types, key
        assert _field(reader, key) == _field(source, key), key

    n_vocab = len(_field(source, "tokenizer.ggml.tokens"))
    tensors = {t.name: t for t in reader.tensors}
    assert "output.weight" not in tensors  # tied to token_embd
    # GGUFReader reports ggml order (ne0 first): (n_embd, n_vocab) for the embeddings.
    assert list(tensors["token_embd.weight"].shape) == [tinymodel.N_EMBD, n_vocab]
    assert list(tensors["blk.0.ffn_down.weight"].shape) == [tinymodel.N_FF, tinymodel.N_EMBD]
    expected = {"token_embd.weight", "output_norm.weight"} | {
        f"blk.{i}.{part}.weight"
        for i in range(tinymodel.N_LAYER)
        for part in (
            "attn_norm",
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_norm",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        )
    }
    assert set(tensors) == expected


def test_deterministic(model: Path, tmp_path: Path, vocab: Path) -> None:
    again = write_tiny_model(tmp_path / "sub" / "tiny.gguf", vocab)
    assert again.read_bytes() == model.read_bytes()


def test_reuse_and_repair(tmp_path: Path, vocab: Path) -> None:
    dest = write_tiny_model(tmp_path / "tiny.gguf", vocab)
    original = dest.read_bytes()
    sidecar = dest.with_suffix(".sha256")
    assert sidecar.is_file()
    mtime = dest.stat().st_mtime_ns

    write_tiny_model(dest, vocab)
    assert dest.stat().st_mtime_ns == mtime  # reused, not rewritten

    dest.write_bytes(b"corrupted")
    write_tiny_model(dest, vocab)
    assert dest.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_rejects_non_gguf_vocab(tmp_path: Path) -> None:
    bogus = tmp_path / "vocab.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ValueError, match="not a GGUF"):
        write_tiny_model(tmp_path / "tiny.gguf", bogus)
    assert not (tmp_path / "tiny.gguf").exists()


def test_rejects_vocab_without_tokenizer(tmp_path: Path) -> None:
    no_tokenizer = tmp_path / "empty.gguf"
    writer = gguf.GGUFWriter(no_tokenizer, "llama")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="no tokenizer"):
        write_tiny_model(tmp_path / "tiny.gguf", no_tokenizer)
