#!/usr/bin/env python3
"""Independent PyTorch reference for Hugging Face LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM logits.

Written from the model's published semantics, without transformers, to check Distillery's DJL model:

    llama_reference.py --model DIR --tokens tokens.json --out logits.bin

Computed in float32, eager. Mistral attends to the last sliding_window keys only (key j is visible to query i when
i - sliding_window < j <= i) when config.json sets sliding_window; Qwen2 adds q/k/v projection biases (o_proj has
none) and has no sliding window unless use_sliding_window (not supported here).

DIR holds config.json and model.safetensors (or model.safetensors.index.json with shards); dtypes F32, F16, BF16
are read and computed in float32. tokens.json is a list of equal-length lists of token ids ([batch][seq]).
The output is raw little-endian float32 logits of shape [batch, seq, vocab]; the shape is printed to stdout.
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch


def load_safetensors(path):
    """Returns {name: float32 tensor} from one .safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data_start = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = blob[data_start + begin:data_start + end]
        dtype = entry["dtype"]
        if dtype == "F32":
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dtype == "F16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            widened = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            values = widened.view(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        tensors[name] = torch.from_numpy(np.array(values, dtype=np.float32)).reshape(entry["shape"])
    return tensors


def load_weights(model_dir):
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index_path):
        return load_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(index_path) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    weights = {}
    for shard in shards:
        weights.update(load_safetensors(os.path.join(model_dir, shard)))
    return weights


def rope_inverse_frequencies(cfg, head_dim):
    """1 / theta^(2i/d) in float32, with the llama3 wavelength-band rescaling when configured."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).to(torch.float32) / head_dim
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** exponents)
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise ValueError(f"unsupported rope scaling {kind}")
    factor = scaling["factor"]
    low = scaling["low_freq_factor"]
    high = scaling["high_freq_factor"]
    original = scaling["original_max_position_embeddings"]
    wavelength = 2 * math.pi / inv_freq
    slowed = inv_freq / factor
    blend = (original / wavelength - low) / (high - low)
    blended = (1 - blend) * inv_freq / factor + blend * inv_freq
    long_waves = wavelength > original / low
    short_waves = wavelength < original / high
    return torch.where(long_waves, slowed, torch.where(short_waves, inv_freq, blended))


def rms_norm(x, weight, eps):
    mean_square = x.pow(2).mean(dim=-1, keepdim=True)
    return weight * (x * torch.rsqrt(mean_square + eps))


def rotate(x, cos, sin):
    first, second = torch.chunk(x, 2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


def logits(cfg, w, ids):
    hidden_size = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or hidden_size // n_heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    batch, seq = ids.shape

    inv_freq = rope_inverse_frequencies(cfg, head_dim)
    angles = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
    cos = torch.cat([angles, angles], dim=-1).cos()
    sin = torch.cat([angles, angles], dim=-1).sin()
    masked = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    model_type = cfg.get("model_type", "llama")
    window = cfg.get("sliding_window") if model_type == "mistral" else None
    if model_type == "qwen2" and cfg.get("use_sliding_window"):
        raise ValueError("Qwen2 use_sliding_window is not supported by this reference")
    if window is not None:
        masked |= torch.tril(torch.ones(seq, seq, dtype=torch.bool), diagonal=-window)
    biased = model_type == "qwen2"

    def project(h, p, name):
        out = h @ w[p + name + ".weight"].T
        return out + w[p + name + ".bias"] if biased else out

    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = project(h, p, "self_attn.q_proj").view(batch, seq, n_heads, head_dim).transpose(1, 2)
        k = project(h, p, "self_attn.k_proj").view(batch, seq, n_kv, head_dim).transpose(1, 2)
        v = project(h, p, "self_attn.v_proj").view(batch, seq, n_kv, head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(n_heads // n_kv, dim=1)
        v = v.repeat_interleave(n_heads // n_kv, dim=1)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(head_dim)
        scores = scores.masked_fill(masked, float("-inf"))
        attended = torch.softmax(scores, dim=-1) @ v
        attended = attended.transpose(1, 2).reshape(batch, seq, n_heads * head_dim)
        x = x + attended @ w[p + "self_attn.o_proj.weight"].T

        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T

    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="directory with config.json and safetensors")
    parser.add_argument("--tokens", required=True, help="JSON [[id, ...], ...]")
    parser.add_argument("--out", required=True, help="raw little-endian float32 logits [batch, seq, vocab]")
    args = parser.parse_args()

    torch.set_num_threads(2)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    with open(args.tokens) as f:
        ids = torch.tensor(json.load(f), dtype=torch.int64)
    with torch.no_grad():
        out = logits(cfg, load_weights(args.model), ids)
    out.numpy().astype("<f4").tofile(args.out)
    print("logits shape", list(out.shape))


if __name__ == "__main__":
    main()
