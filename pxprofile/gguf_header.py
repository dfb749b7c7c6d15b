"""The key/value header of a GGUF file (llama.cpp's model format), read without the weights.

Why not the `gguf` package (llama.cpp's own reader)? ``gguf.GGUFReader`` parses every array
element into numpy views: on the Gemma 3 270M test model (a 262,144-token vocabulary) it took
43.6 s against 0.33 s here (measured on this machine under load, see the issue-13 note), and it
pulls in numpy, yaml and requests. This reader skips long arrays and reports their length.
llama-cpp-python's ``Llama(vocab_only=True).metadata`` needs a model load and returns strings only.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from .errors import ModelError

GGUF_MAGIC = b"GGUF"

# llama_ftype (llama.h): general.file_type -> quantization name
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}  # fmt: skip

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip


def is_gguf(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def gguf_metadata(path: str | Path, *, max_array: int = 16) -> dict[str, Any]:
    """Read the key/value header of a GGUF file (no tensors). Long arrays are summarized by length.

    Raises ModelError when the file is missing or not a GGUF.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ModelError(f"Cannot read {path} ({e.strerror}). Check the path.") from e
    with f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelError(
                f"{path} is not a GGUF file. pxprofile runs GGUF models (llama.cpp's format)."
            )
        try:
            version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
            if version < 2:
                raise ModelError(f"{path} is an old GGUF (version {version}). Convert it again.")
            meta: dict[str, Any] = {"gguf.version": version}
            for _ in range(n_kv):
                key = _read_str(f)
                (vtype,) = struct.unpack("<I", f.read(4))
                meta[key] = _read_value(f, vtype, max_array)
            return meta
        except (struct.error, UnicodeDecodeError, ValueError) as e:
            raise ModelError(f"{path} is a damaged GGUF file ({e}). Download it again.") from e


def _read_str(f) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    if n > 1 << 26:
        raise ValueError("string too long")
    return f.read(n).decode("utf-8", errors="replace")


def _read_value(f, vtype: int, max_array: int):
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if vtype == 8:
        return _read_str(f)
    if vtype == 9:
        (etype,) = struct.unpack("<I", f.read(4))
        (n,) = struct.unpack("<Q", f.read(8))
        if etype in _SCALARS:
            size = struct.calcsize(_SCALARS[etype])
            if n > max_array:
                f.seek(n * size, 1)
                return {"array_length": n}
            return [_read_value(f, etype, max_array) for _ in range(n)]
        if n > max_array:
            for _ in range(n):
                _skip_value(f, etype)
            return {"array_length": n}
        return [_read_value(f, etype, max_array) for _ in range(n)]
    raise ValueError(f"unknown value type {vtype}")


def _skip_value(f, vtype: int) -> None:
    if vtype in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[vtype]), 1)
    elif vtype == 8:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(n, 1)
    elif vtype == 9:
        (etype,) = struct.unpack("<I", f.read(4))
        (n,) = struct.unpack("<Q", f.read(8))
        for _ in range(n):
            _skip_value(f, etype)
    else:
        raise ValueError(f"unknown value type {vtype}")


def summarize_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    arch = meta.get("general.architecture")
    ftype = meta.get("general.file_type")
    return {
        "architecture": arch,
        "model_name": meta.get("general.name"),
        "context_length": meta.get(f"{arch}.context_length"),
        "layers": meta.get(f"{arch}.block_count"),
        "quantization": FILE_TYPES.get(ftype, f"type {ftype}") if ftype is not None else None,
        "chat_template": "tokenizer.chat_template" in meta,
    }
