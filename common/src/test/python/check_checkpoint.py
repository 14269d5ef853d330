#!/usr/bin/env python3
"""Independent check of a checkpoint Distillery wrote: parses safetensors with struct + json only,
checks the standard layout (8-byte aligned header, contiguous offsets, no trailing bytes, index
consistent with shards) and loads each tensor with torch to check its statistics look like initialized
Llama weights (norms ~1, linear ~N(0, 0.02)).

Usage: check_checkpoint.py CHECKPOINT_DIR [--max-tensors N]
"""
import json
import os
import struct
import sys

import torch

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def check_file(path, max_tensors):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        assert (8 + n) % 8 == 0, f"{path}: data section not 8-byte aligned"
        assert header.get("__metadata__", {}).get("format") == "pt", f"{path}: no format=pt metadata"
        tensors = [(k, v) for k, v in header.items() if k != "__metadata__"]
        end = 0
        for k, v in tensors:
            begin, stop = v["data_offsets"]
            assert begin == end, f"{path}: {k} starts at {begin}, expected {end}"
            dtype, size = DTYPES[v["dtype"]]
            count = 1
            for d in v["shape"]:
                count *= d
            assert stop - begin == count * size, f"{path}: {k} size mismatch"
            end = stop
        assert 8 + n + end == os.path.getsize(path), f"{path}: trailing bytes"
        for k, v in tensors[:max_tensors]:
            begin, stop = v["data_offsets"]
            f.seek(8 + n + begin)
            t = torch.frombuffer(bytearray(f.read(stop - begin)), dtype=DTYPES[v["dtype"]][0]).float()
            mean, std = t.mean().item(), t.std().item()
            if len(v["shape"]) == 1:
                assert abs(mean - 1) < 0.02 and 0.03 < std < 0.07, f"{path}: norm {k} mean {mean} std {std}"
            else:
                assert abs(mean) < 0.002 and 0.018 < std < 0.022, f"{path}: {k} mean {mean} std {std}"
    return [k for k, _ in tensors]


def main():
    directory = sys.argv[1]
    max_tensors = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--max-tensors" else 1 << 30
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            weight_map = json.load(f)["weight_map"]
        shards = sorted(set(weight_map.values()))
    else:
        weight_map, shards = None, ["model.safetensors"]
    names = {}
    for shard in shards:
        for name in check_file(os.path.join(directory, shard), max_tensors):
            names[name] = shard
    if weight_map is not None:
        assert names == weight_map, "index weight_map does not match the shards' contents"
    config = json.load(open(os.path.join(directory, "config.json")))
    assert config["model_type"] == "llama"
    print(f"OK: {directory}: {len(names)} tensors in {len(shards)} file(s)")


if __name__ == "__main__":
    main()
