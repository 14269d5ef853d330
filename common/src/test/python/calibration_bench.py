#!/usr/bin/env python3
"""PyTorch eager reference for the calibration benchmark: the same random Llama shapes as CalibrationBenchmark,
forward under no_grad with the same importance statistics (per-head L2 norm, |neuron|, |norm output| averaged over
the sequence; squares summed over samples; 1 - cos(h_in, h_out) per layer).

    calibration_bench.py THREADS [PASSES]

Prints tokens/s and a line 'RESULT torch TOKENS_PER_S THREADS'.
"""
import math
import sys
import time

import torch

from llama_reference import rms_norm, rotate

HIDDEN, FFN, LAYERS, HEADS, KV, HEAD_DIM, VOCAB, SEQ = 512, 1408, 4, 8, 2, 64, 32000, 512


def random_weights():
    g = torch.Generator().manual_seed(1)
    w = {"embed": torch.randn(VOCAB, HIDDEN, generator=g), "norm": 1 + 0.1 * torch.randn(HIDDEN, generator=g)}
    for i in range(LAYERS):
        def lin(out, inp):
            return torch.randn(out, inp, generator=g) / math.sqrt(inp)
        w[i] = dict(n1=1 + 0.1 * torch.randn(HIDDEN, generator=g), q=lin(HEADS * HEAD_DIM, HIDDEN),
                    k=lin(KV * HEAD_DIM, HIDDEN), v=lin(KV * HEAD_DIM, HIDDEN), o=lin(HIDDEN, HEADS * HEAD_DIM),
                    n2=1 + 0.1 * torch.randn(HIDDEN, generator=g), gate=lin(FFN, HIDDEN), up=lin(FFN, HIDDEN),
                    down=lin(HIDDEN, FFN))
    return w


def forward_with_stats(w, ids, stats, cos, sin, future):
    batch, seq = ids.shape
    x = w["embed"][ids]
    channels = torch.zeros(batch, HIDDEN)
    for i in range(LAYERS):
        p = w[i]
        h_in = x
        h = rms_norm(x, p["n1"], 1e-5)
        channels += h.abs().mean(dim=1)
        q = (h @ p["q"].T).view(batch, seq, HEADS, HEAD_DIM).transpose(1, 2)
        k = (h @ p["k"].T).view(batch, seq, KV, HEAD_DIM).transpose(1, 2)
        v = (h @ p["v"].T).view(batch, seq, KV, HEAD_DIM).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(HEADS // KV, dim=1)
        v = v.repeat_interleave(HEADS // KV, dim=1)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(HEAD_DIM)
        attended = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v
        per_head = attended.transpose(1, 2)  # [b, s, H, d], the input of o_proj
        stats["heads"][i] += per_head.norm(dim=3).mean(dim=1).pow(2).sum(0)
        x = x + per_head.reshape(batch, seq, HEADS * HEAD_DIM) @ p["o"].T
        h = rms_norm(x, p["n2"], 1e-5)
        channels += h.abs().mean(dim=1)
        act = torch.nn.functional.silu(h @ p["gate"].T) * (h @ p["up"].T)
        stats["neurons"][i] += act.abs().mean(dim=1).pow(2).sum(0)
        x = x + act @ p["down"].T
        stats["cos"][i] += torch.nn.functional.cosine_similarity(h_in, x, dim=2).double().sum()
    x = rms_norm(x, w["norm"], 1e-5)
    channels += x.abs().mean(dim=1)
    stats["channels"] += channels.pow(2).sum(0)
    return x


def main():
    threads = int(sys.argv[1])
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(threads)
    w = random_weights()
    ids = torch.randint(0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(2))
    inv_freq = 1.0 / (500000.0 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    angles = torch.outer(torch.arange(SEQ, dtype=torch.float32), inv_freq)
    cos = torch.cat([angles, angles], dim=-1).cos()
    sin = torch.cat([angles, angles], dim=-1).sin()
    future = torch.triu(torch.ones(SEQ, SEQ, dtype=torch.bool), diagonal=1)
    stats = {"heads": torch.zeros(LAYERS, HEADS), "neurons": torch.zeros(LAYERS, FFN),
             "channels": torch.zeros(HIDDEN), "cos": torch.zeros(LAYERS, dtype=torch.float64)}
    with torch.no_grad():
        for _ in range(3):
            forward_with_stats(w, ids, stats, cos, sin, future)
        start = time.perf_counter()
        for _ in range(passes):
            forward_with_stats(w, ids, stats, cos, sin, future)
        seconds = time.perf_counter() - start
    rate = passes * SEQ / seconds
    print(f"torch-eager {torch.__version__}: {passes} passes x {SEQ} tokens in {seconds:.2f} s: {rate:.0f} tokens/s, "
          f"{torch.get_num_threads()} threads, {rate / torch.get_num_threads():.0f} tokens/s per thread")
    print(f"RESULT torch {rate:.1f} {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
