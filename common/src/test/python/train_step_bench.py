#!/usr/bin/env python3
"""PyTorch eager reference for Distillery's distillation train step: same model shapes, same work per step.

Per step: teacher forward (no grad), student forward over micro-batches, forward KL(teacher || student) on full
logits at temperature 1, backward, global-norm clipping at 1.0, AdamW. Prints "RESULT torch <tokens/s>".
Usage: train_step_bench.py THREADS STEPS
"""
import sys
import time

import torch

from llama_reference import logits

HIDDEN, LAYERS, HEADS, KV, HEAD_DIM, FFN, VOCAB = 256, 4, 8, 2, 32, 704, 8192
SEQ, MICRO, GLOBAL = 256, 2, 4


def config():
    return {"hidden_size": HIDDEN, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HEAD_DIM, "vocab_size": VOCAB,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}


def random_weights(generator, trainable):
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,),
              "lm_head.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (HIDDEN,), p + "post_attention_layernorm.weight": (HIDDEN,),
                       p + "self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
                       p + "self_attn.k_proj.weight": (KV * HEAD_DIM, HIDDEN),
                       p + "self_attn.v_proj.weight": (KV * HEAD_DIM, HIDDEN),
                       p + "self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
                       p + "mlp.gate_proj.weight": (FFN, HIDDEN), p + "mlp.up_proj.weight": (FFN, HIDDEN),
                       p + "mlp.down_proj.weight": (HIDDEN, FFN)})
    weights = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            w = torch.ones(shape)
        else:
            w = torch.randn(shape, generator=generator) * (shape[1] ** -0.5)
        weights[name] = w.requires_grad_(trainable)
    return weights


def main():
    threads, steps = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    cfg = config()
    teacher = random_weights(generator, False)
    student = random_weights(generator, True)
    optimizer = torch.optim.AdamW(list(student.values()), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.01)
    data = torch.randint(0, VOCAB, (GLOBAL, SEQ), generator=generator)

    def step():
        optimizer.zero_grad()
        for start in range(0, GLOBAL, MICRO):
            ids = data[start:start + MICRO]
            with torch.no_grad():
                log_teacher = torch.log_softmax(logits(cfg, teacher, ids), dim=-1)
            log_student = torch.log_softmax(logits(cfg, student, ids), dim=-1)
            kl = (log_teacher.exp() * (log_teacher - log_student)).sum(-1).sum() / (GLOBAL * SEQ)
            kl.backward()
        torch.nn.utils.clip_grad_norm_(list(student.values()), 1.0)
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    print(f"RESULT torch {steps * GLOBAL * SEQ / seconds:.1f} tokens/s ({seconds / steps:.3f} s/step)")


if __name__ == "__main__":
    main()
