"""A tiny, deterministic llama-architecture GGUF model for smoke-testing llama-server images.

The model has random weights (fixed seed), so what it generates is gibberish, but llama.cpp
loads it, tokenizes with a real vocabulary and generates tokens through the whole stack:
``/health``, ``/completion`` and ``/v1/chat/completions`` (a chat template is embedded).

The tokenizer is copied from a tokenizer-only GGUF in the llama.cpp source tree,
``models/ggml-vocab-llama-spm.gguf`` (32000 tokens). The output projection is tied to
``token_embd.weight`` (no ``output.weight``; llama.cpp falls back to the embeddings), which
keeps the file at about 5 MB.

``write_tiny_model`` is cheap to call repeatedly: next to the model it keeps a sidecar
``<dest stem>.sha256`` with two lines, ``sha256 <hex digest of the model file>`` and
``input <hex digest of the generator revision and the vocab file>``; when both still hold,
the existing file is reused untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

# Bump whenever the bytes written for a given vocab change (dims, seed, metadata, layout...).
REVISION = "1"
REVISION_KEY = "llama_images.testing.tinymodel.revision"

ARCH = "llama"
SEED = 20240531
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 128
CONTEXT_LENGTH = 2048
RMS_EPS = 1e-5
ROPE_FREQ_BASE = 10000.0
HEAD_DIM = N_EMBD // N_HEAD

# ChatML, as understood by llama.cpp's Jinja engine (and recognised as "chatml" by its
# built-in template detection when Jinja is off).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_TOKENIZER_PREFIX = "tokenizer."
_REQUIRED_TOKENIZER_KEYS = (gguf.Keys.Tokenizer.MODEL, gguf.Keys.Tokenizer.LIST)
_CHUNK = 1 << 20


VOCAB = Path("models") / "ggml-vocab-llama-spm.gguf"
MODEL_NAME = "tiny-llama.gguf"


def model_folder(cache: Path, source_tree: Path) -> Path:
    """A folder, readable by any user, holding the tiny model made from the pinned tokenizer."""
    folder = cache / "models"
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_model(folder / MODEL_NAME, source_tree / VOCAB)
    folder.chmod(0o755)
    (folder / MODEL_NAME).chmod(0o644)
    return folder


def write_tiny_model(dest: Path, vocab: Path) -> Path:
    """Write the tiny model to ``dest`` (atomically) unless an identical one is already there.

    ``vocab`` is a tokenizer-only GGUF (llama.cpp's ``models/ggml-vocab-llama-spm.gguf``);
    all of its ``tokenizer.*`` metadata is copied. Raises ``ValueError`` if ``vocab`` is not
    a GGUF file with a tokenizer. Returns ``dest``.
    """
    dest = Path(dest)
    vocab = Path(vocab)
    sidecar = dest.with_suffix(".sha256")
    if sidecar == dest:
        raise ValueError(f"tiny model destination {dest} must not end in .sha256")
    try:
        vocab_bytes = vocab.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read vocab file {vocab}: {exc.strerror or exc}") from exc
    input_key = _sha256_bytes(REVISION.encode() + b"\0" + vocab_bytes)

    if _is_current(dest, sidecar, input_key):
        return dest

    tokenizer_kv = _read_tokenizer_kv(vocab)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(dest)
    try:
        _write_gguf(tmp, tokenizer_kv, input_key)
        file_sha = _sha256_file(tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _write_text_atomic(sidecar, f"sha256 {file_sha}\ninput {input_key}\n")
    return dest


def _is_current(dest: Path, sidecar: Path, input_key: str) -> bool:
    try:
        lines = sidecar.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    recorded = dict(line.split(" ", 1) for line in lines if " " in line)
    if recorded.get("input") != input_key:
        return False
    try:
        return _sha256_file(dest) == recorded.get("sha256")
    except OSError:
        return False


_KV = tuple[str, Any, gguf.GGUFValueType, gguf.GGUFValueType | None]


def _read_tokenizer_kv(vocab: Path) -> list[_KV]:
    """Every ``tokenizer.*`` key of ``vocab`` as (key, value, type, sub type), strings as bytes."""
    try:
        reader = gguf.GGUFReader(vocab)
        fields = list(reader.fields.values())
    except Exception as exc:
        raise ValueError(f"vocab file {vocab} is not a GGUF file: {exc}") from exc
    out: list[_KV] = []
    for field in fields:
        if not field.name.startswith(_TOKENIZER_PREFIX):
            continue
        if field.name == gguf.Keys.Tokenizer.CHAT_TEMPLATE:
            continue  # replaced by CHAT_TEMPLATE
        out.append(_field_kv(vocab, field))
    present = {kv[0] for kv in out}
    missing = [key for key in _REQUIRED_TOKENIZER_KEYS if key not in present]
    if missing:
        raise ValueError(f"vocab file {vocab} has no tokenizer (missing {', '.join(missing)})")
    return out


def _field_kv(vocab: Path, field: Any) -> _KV:
    types: list[gguf.GGUFValueType] = list(field.types)
    main = types[0]
    if main == gguf.GGUFValueType.ARRAY:
        if len(types) != 2:
            raise ValueError(f"vocab file {vocab}: unsupported nested array in {field.name}")
        sub = types[1]
        if sub == gguf.GGUFValueType.STRING:
            value: Any = [field.parts[i].tobytes() for i in field.data]
        else:
            value = list(field.contents())
        return (field.name, value, main, sub)
    if main == gguf.GGUFValueType.STRING:
        return (field.name, field.parts[field.data[0]].tobytes(), main, None)
    return (field.name, field.contents(), main, None)


def _write_gguf(path: Path, tokenizer_kv: list[_KV], input_key: str) -> None:
    tokens = next(kv[1] for kv in tokenizer_kv if kv[0] == gguf.Keys.Tokenizer.LIST)
    n_vocab = len(tokens)

    writer = gguf.GGUFWriter(path, ARCH)
    writer.add_name("llama_images tiny test model")
    writer.add_string(REVISION_KEY, f"{REVISION} input-sha256={input_key}")
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16))
    writer.add_vocab_size(n_vocab)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(ROPE_FREQ_BASE)
    for key, value, vtype, sub_type in tokenizer_kv:
        writer.add_key_value(key, value, vtype, sub_type)
    writer.add_chat_template(CHAT_TEMPLATE)

    for name, tensor in _tensors(n_vocab):
        writer.add_tensor(name, tensor)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _tensor_name(tensor: gguf.MODEL_TENSOR, layer: int | None = None) -> str:
    name: str = gguf.TENSOR_NAMES[tensor]
    if layer is not None:
        name = name.format(bid=layer)
    return name + ".weight"


def _tensors(n_vocab: int) -> list[tuple[str, npt.NDArray[Any]]]:
    """The weights, numpy shape (out_features, in_features); norms F32, matrices F16."""
    rng = np.random.default_rng(SEED)
    t = gguf.MODEL_TENSOR

    def matrix(rows: int, cols: int, std: float) -> npt.NDArray[np.float16]:
        data = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(std)
        return data.astype(np.float16)

    def norm() -> npt.NDArray[np.float32]:
        return np.ones(N_EMBD, dtype=np.float32)

    n_kv = N_HEAD_KV * HEAD_DIM
    out: list[tuple[str, npt.NDArray[Any]]] = [
        (_tensor_name(t.TOKEN_EMBD), matrix(n_vocab, N_EMBD, 0.5)),
        (_tensor_name(t.OUTPUT_NORM), norm()),
    ]
    for i in range(N_LAYER):
        out += [
            (_tensor_name(t.ATTN_NORM, i), norm()),
            (_tensor_name(t.ATTN_Q, i), matrix(N_EMBD, N_EMBD, N_EMBD**-0.5)),
            (_tensor_name(t.ATTN_K, i), matrix(n_kv, N_EMBD, N_EMBD**-0.5)),
            (_tensor_name(t.ATTN_V, i), matrix(n_kv, N_EMBD, N_EMBD**-0.5)),
            (_tensor_name(t.ATTN_OUT, i), matrix(N_EMBD, N_EMBD, N_EMBD**-0.5)),
            (_tensor_name(t.FFN_NORM, i), norm()),
            (_tensor_name(t.FFN_GATE, i), matrix(N_FF, N_EMBD, N_EMBD**-0.5)),
            (_tensor_name(t.FFN_UP, i), matrix(N_FF, N_EMBD, N_EMBD**-0.5)),
            (_tensor_name(t.FFN_DOWN, i), matrix(N_EMBD, N_FF, N_FF**-0.5)),
        ]
    return out


def _temp_path(dest: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp creates 0600; the file is mounted into containers that may run as another user.
    os.chmod(name, 0o644)
    return Path(name)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = _temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
