"""safetensors_io.py - a minimal, dependency-free (numpy + torch) reader and writer of the
safetensors format, written from the public specification
(https://github.com/huggingface/safetensors, "Format"):

    [8 bytes]  N, the header length, an unsigned little-endian 64-bit integer
    [N bytes]  a UTF-8 JSON object: for each tensor name
                   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
               with offsets in bytes relative to the start of the data section, plus an
               optional "__metadata__" object whose values are all strings. The JSON may be
               padded at its end with spaces (writers pad so the data starts 8-byte aligned).
    [rest]     the data section: every tensor's raw little-endian bytes, row-major (C order).

The reader checks what it relies on: header length in range, JSON object, known dtype,
non-negative integer shape, offsets inside the data section and consistent with shape and
dtype, no two tensors overlapping, metadata a map of strings. It is used by
tests/test_parity.py only; lext itself reads and writes checkpoints in C (src/checkpoint.c).
"""

import json
import struct

import numpy as np
import torch

# dtype name -> (numpy little-endian dtype, torch dtype). BF16 has no numpy type: it is read
# as uint16 and widened to float32 bit patterns.
_DTYPES = {
    "F64": ("<f8", torch.float64),
    "F32": ("<f4", torch.float32),
    "F16": ("<f2", torch.float16),
    "BF16": ("<u2", torch.bfloat16),
    "I64": ("<i8", torch.int64),
    "I32": ("<i4", torch.int32),
    "I16": ("<i2", torch.int16),
    "I8": ("i1", torch.int8),
    "U8": ("u1", torch.uint8),
    "BOOL": ("?", torch.bool),
}
_NAME_OF_TORCH = {tdt: name for name, (_, tdt) in _DTYPES.items()}

MAX_HEADER = 100 << 20  # the reference implementation's limit


class SafetensorsError(ValueError):
    pass


def _read_header(buf, path):
    if len(buf) < 8:
        raise SafetensorsError(f"{path}: {len(buf)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise SafetensorsError(f"{path}: header length {n} runs past the end ({len(buf)} bytes)")
    if n > MAX_HEADER:
        raise SafetensorsError(f"{path}: header length {n} exceeds {MAX_HEADER}")
    try:
        header = json.loads(buf[8 : 8 + n].decode("utf-8"))  # trailing spaces are valid JSON
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    return header, 8 + n


def read_header(path):
    """The parsed JSON header (a dict, "__metadata__" included when present)."""
    with open(path, "rb") as f:
        buf = f.read()
    return _read_header(buf, path)[0]


def load(path):
    """Reads a safetensors file: returns (tensors, metadata), tensors a dict name -> torch
    tensor in file header order (each a copy, owning its memory), metadata a dict of strings
    ({} when absent)."""
    with open(path, "rb") as f:
        buf = f.read()
    header, start = _read_header(buf, path)
    data = memoryview(buf)[start:]
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"{path}: __metadata__ is not a map of strings")
    tensors, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise SafetensorsError(f"{path}: entry {name!r} is not an object")
        dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise SafetensorsError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
        ):
            raise SafetensorsError(f"{path}: tensor {name!r} has invalid data_offsets {offs!r}")
        begin, end = offs
        npdt = np.dtype(_DTYPES[dtype][0])
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not 0 <= begin <= end <= len(data):
            raise SafetensorsError(
                f"{path}: tensor {name!r} offsets [{begin}, {end}] outside the "
                f"{len(data)}-byte data section"
            )
        if end - begin != numel * npdt.itemsize:
            raise SafetensorsError(
                f"{path}: tensor {name!r} spans {end - begin} bytes; shape {shape} of "
                f"{dtype} needs {numel * npdt.itemsize}"
            )
        spans.append((begin, end, name))
        arr = np.frombuffer(data[begin:end], dtype=npdt).reshape(shape).copy()
        if dtype == "BF16":
            t = torch.from_numpy((arr.astype(np.uint32) << 16).view(np.float32)).to(torch.bfloat16)
        else:
            t = torch.from_numpy(arr.astype(npdt.newbyteorder("=")))
        tensors[name] = t
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError(f"{path}: tensors {n0!r} and {n1!r} overlap")
    return tensors, dict(metadata)


def load_file(path):
    """Tensors only: dict name -> torch tensor."""
    return load(path)[0]


def save_file(tensors, path, metadata=None):
    """Writes tensors (dict name -> torch tensor, written in the dict's order, contiguously)
    with optional metadata (dict of strings) as a safetensors file. The header is padded
    with spaces so the data section starts at a multiple of 8 bytes."""
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("metadata must map strings to strings")
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, t in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved")
        t = t.detach().cpu().contiguous()
        if t.dtype not in _NAME_OF_TORCH:
            raise SafetensorsError(f"tensor {name!r}: unsupported dtype {t.dtype}")
        dname = _NAME_OF_TORCH[t.dtype]
        if dname == "BF16":
            raw = (t.to(torch.float32).numpy().view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = t.numpy().astype(_DTYPES[dname][0]).tobytes()
        header[name] = {"dtype": dname, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for raw in blobs:
            f.write(raw)
