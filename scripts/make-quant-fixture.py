#!/usr/bin/env python3
"""Builds tests/fixtures/quant/tiny-llama-quant-subset.gguf, the in-repo bit-exactness fixture.

llama.cpp's `llama-quantize --pure` made tiny-llama-{q8_0,q4_0,iq4_xs,q4_k,q6_k,bf16}.gguf from
tiny-llama-f16.gguf (see ../shared/fixtures/README.md). This script copies a few rows of some of
their tensors into one small GGUF, so that the quant tests can check lathe's quantizers against
llama.cpp's bytes on machines without ../shared.

Quantization works row by row, so the first rows of a tensor are a valid test by themselves. The
output holds, for every source tensor S picked below and every file type T, a tensor named
"T/S" with the first rows of S as stored in that file, e.g. "f16/blk.0.attn_q.weight" and
"q4_k/blk.0.attn_q.weight". Picked: every 2-D tensor of layer 0 and token_embd, at most MAX_ROWS
rows each (the 1-D norms stay F32 in every file, so they test nothing).

Usage: scripts/make-quant-fixture.py [SHARED_MODELS_DIR] [OUTPUT]
Needs only the Python standard library.
"""
import os
import struct
import sys

TYPES = ["f16", "bf16", "q8_0", "q4_0", "iq4_xs", "q4_k", "q6_k"]
MAX_ROWS = 64
ALIGNMENT = 32

# ggml type id -> (elements per block, bytes per block), for the types these files hold.
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210),
          23: (256, 136), 30: (1, 2)}

# GGUF metadata value types with a fixed size, and their struct formats.
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
           12: "d"}
STRING, ARRAY = 8, 9


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def string(self):
        n = self.take("Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def skip_value(self, vtype):
        if vtype == STRING:
            self.string()
        elif vtype == ARRAY:
            etype, count = self.take("I"), self.take("Q")
            if etype in SCALARS:
                self.pos += count * struct.calcsize("<" + SCALARS[etype])
            else:
                for _ in range(count):
                    self.skip_value(etype)
        else:
            self.pos += struct.calcsize("<" + SCALARS[vtype])

    def value(self, vtype):
        if vtype == STRING:
            return self.string()
        if vtype in SCALARS:
            return self.take(SCALARS[vtype])
        self.skip_value(vtype)
        return None


def read_gguf(path):
    """Returns ({key: scalar or string value}, {tensor name: (type, shape, bytes)})."""
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data)
    magic, version = r.take("I"), r.take("I")
    if magic != 0x46554747 or version not in (2, 3):
        raise SystemExit(f"{path}: not a GGUF v2/v3 file")
    n_tensors, n_kv = r.take("Q"), r.take("Q")
    metadata = {}
    for _ in range(n_kv):
        key = r.string()
        metadata[key] = r.value(r.take("I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.take("I")
        shape = [r.take("Q") for _ in range(n_dims)]
        ttype, offset = r.take("I"), r.take("Q")
        infos.append((name, ttype, shape, offset))
    alignment = metadata.get("general.alignment", ALIGNMENT)
    data_start = (r.pos + alignment - 1) // alignment * alignment
    tensors = {}
    for name, ttype, shape, offset in infos:
        per_block, block_bytes = BLOCKS[ttype]
        n_elements = 1
        for d in shape:
            n_elements *= d
        size = n_elements // per_block * block_bytes
        start = data_start + offset
        tensors[name] = (ttype, shape, data[start:start + size])
    return metadata, tensors


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, metadata, tensors):
    """metadata: [(key, str)]; tensors: [(name, type, shape, bytes)]. Writes GGUF v3."""
    out = bytearray(struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(metadata)))
    for key, value in metadata:
        out += gguf_string(key) + struct.pack("<I", STRING) + gguf_string(value)
    offset = 0
    for name, ttype, shape, payload in tensors:
        out += gguf_string(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", ttype, offset)
        offset = (offset + len(payload) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
    out += b"\0" * (-len(out) % ALIGNMENT)
    for _, _, _, payload in tensors:
        out += payload + b"\0" * (-len(payload) % ALIGNMENT)
    with open(path, "wb") as f:
        f.write(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    models = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../shared/fixtures/models")
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        here, "../tests/fixtures/quant/tiny-llama-quant-subset.gguf")

    files = {t: read_gguf(os.path.join(models, f"tiny-llama-{t}.gguf"))[1] for t in TYPES}
    picked = [name for name, (_, shape, _) in files["f16"].items()
              if len(shape) == 2 and (name.startswith("blk.0.") or name == "token_embd.weight")]
    out_tensors = []
    for t in TYPES:
        for name in picked:
            ttype, shape, payload = files[t][name]
            per_block, block_bytes = BLOCKS[ttype]
            rows = min(shape[1], MAX_ROWS)
            row_bytes = shape[0] // per_block * block_bytes
            out_tensors.append((f"{t}/{name}", ttype, [shape[0], rows], payload[:rows * row_bytes]))
    metadata = [
        ("general.name", "lathe quant bit-exactness fixture"),
        ("lathe.fixture.source",
         "first rows of tiny-llama-{" + ",".join(TYPES) + "}.gguf (llama-quantize --pure)"),
        ("lathe.fixture.generator", "scripts/make-quant-fixture.py"),
    ]
    write_gguf(output, metadata, out_tensors)
    print(f"{output}: {len(out_tensors)} tensors, {os.path.getsize(output)} bytes")


if __name__ == "__main__":
    main()
