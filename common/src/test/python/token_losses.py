#!/usr/bin/env python3
"""Per-token losses of token rows, each row run ALONE (no batch, no padding), with the independent PyTorch model of
llama_reference.py:

    token_losses.py --student DIR --teacher DIR --tokens rows.json --out losses.json

rows.json is a list of token-id lists of any lengths. For each row of n tokens, losses.json holds
"ce": n - 1 next-token cross-entropies of the student (position t scored against token t + 1), and
"kl": n forward KL(teacher || student) values at temperature 1, one per position; all in nats, float64 sums of
float32 log-probabilities.
"""
import argparse
import json
import os

import torch

from llama_reference import load_weights, logits


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f), load_weights(model_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", required=True)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.set_num_threads(2)
    student_cfg, student_w = load(args.student)
    teacher_cfg, teacher_w = load(args.teacher)
    with open(args.tokens) as f:
        rows = json.load(f)
    ce, kl = [], []
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row], dtype=torch.int64)
            log_s = torch.log_softmax(logits(student_cfg, student_w, ids)[0], dim=-1)
            log_t = torch.log_softmax(logits(teacher_cfg, teacher_w, ids)[0], dim=-1)
            targets = ids[0, 1:]
            ce.append((-log_s[:-1].gather(1, targets.unsqueeze(1)).squeeze(1)).double().tolist())
            kl.append((log_t.exp() * (log_t - log_s)).double().sum(dim=-1).tolist())
    with open(args.out, "w") as f:
        json.dump({"ce": ce, "kl": kl}, f)
    print("rows", len(rows))


if __name__ == "__main__":
    main()
