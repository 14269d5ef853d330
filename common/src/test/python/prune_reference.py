#!/usr/bin/env python3
"""Independent reference for PruneJob's slicing: applies prune-plan.json to a teacher checkpoint with numpy.

    prune_reference.py --teacher DIR --plan prune-plan.json --out student.safetensors

Reads the teacher's safetensors (single file or index + shards) as raw element bits (no float conversion), slices
every tensor the student needs by the plan's kept layers, heads, neurons and hidden channels, renumbers the kept
layers from 0, and writes them, in the teacher's dtype, to one .safetensors file for a bit-for-bit comparison.
"""
import argparse
import json
import os
import struct

import numpy as np

RAW_TYPES = {"F32": "<u4", "F16": "<u2", "BF16": "<u2"}


def read_raw(path):
    """Returns {name: (dtype, raw element array of the tensor's shape)} from one .safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    start = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        values = np.frombuffer(blob[start + begin:start + end], dtype=RAW_TYPES[entry["dtype"]])
        tensors[name] = (entry["dtype"], values.reshape(entry["shape"]))
    return tensors


def read_checkpoint(directory):
    index = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.exists(index):
        return read_raw(os.path.join(directory, "model.safetensors"))
    with open(index) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for name in files:
        tensors.update(read_raw(os.path.join(directory, name)))
    return tensors


def head_rows(heads, head_dim):
    return np.array([h * head_dim + d for h in heads for d in range(head_dim)], dtype=np.int64)


def student_tensors(teacher, plan):
    """Yields (student name, (dtype, sliced raw array)) for every student tensor, in checkpoint order."""
    source = plan["source_config"]
    head_dim = source.get("head_dim") or source["hidden_size"] // source["num_attention_heads"]
    hidden = np.array(plan["hidden_channels"], dtype=np.int64)

    def take(name, rows, cols):
        dtype, values = teacher[name]
        if values.ndim == 1:
            return dtype, values[cols]
        values = values if rows is None else values[rows, :]
        return dtype, values[:, cols]

    yield "model.embed_tokens.weight", take("model.embed_tokens.weight", None, hidden)
    for i, layer in enumerate(plan["layers"]):
        src = f"model.layers.{layer['source_layer']}."
        dst = f"model.layers.{i}."
        q_rows = head_rows(layer["query_heads"], head_dim)
        kv_rows = head_rows(layer["kv_heads"], head_dim)
        neurons = np.array(layer["neurons"], dtype=np.int64)
        yield dst + "input_layernorm.weight", take(src + "input_layernorm.weight", None, hidden)
        yield dst + "self_attn.q_proj.weight", take(src + "self_attn.q_proj.weight", q_rows, hidden)
        yield dst + "self_attn.k_proj.weight", take(src + "self_attn.k_proj.weight", kv_rows, hidden)
        yield dst + "self_attn.v_proj.weight", take(src + "self_attn.v_proj.weight", kv_rows, hidden)
        if src + "self_attn.q_proj.bias" in teacher:  # Qwen2: each bias element goes with its projection row
            yield dst + "self_attn.q_proj.bias", take(src + "self_attn.q_proj.bias", None, q_rows)
            yield dst + "self_attn.k_proj.bias", take(src + "self_attn.k_proj.bias", None, kv_rows)
            yield dst + "self_attn.v_proj.bias", take(src + "self_attn.v_proj.bias", None, kv_rows)
        yield dst + "self_attn.o_proj.weight", take(src + "self_attn.o_proj.weight", hidden, q_rows)
        yield dst + "post_attention_layernorm.weight", take(src + "post_attention_layernorm.weight", None, hidden)
        yield dst + "mlp.gate_proj.weight", take(src + "mlp.gate_proj.weight", neurons, hidden)
        yield dst + "mlp.up_proj.weight", take(src + "mlp.up_proj.weight", neurons, hidden)
        yield dst + "mlp.down_proj.weight", take(src + "mlp.down_proj.weight", hidden, neurons)
    yield "model.norm.weight", take("model.norm.weight", None, hidden)
    if "lm_head.weight" in teacher:
        yield "lm_head.weight", take("lm_head.weight", None, hidden)


def write_raw(path, tensors):
    header = {}
    offset = 0
    for name, (dtype, values) in tensors:
        size = values.size * values.itemsize
        header[name] = {"dtype": dtype, "shape": list(values.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, (_, values) in tensors:
            f.write(np.ascontiguousarray(values).tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    teacher = read_checkpoint(args.teacher)
    student = list(student_tensors(teacher, plan))
    write_raw(args.out, student)
    print(f"wrote {len(student)} tensors to {args.out}")


if __name__ == "__main__":
    main()
