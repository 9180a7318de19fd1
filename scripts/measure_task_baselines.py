#!/usr/bin/python3
"""Where the built-in model's loss on a built-in {question, answer} task comes from, for the task cards.

The studio and ``npm run study`` report one validation loss per task. This script splits the base
model's loss on a task's validation rows (rendered as the studio renders them: ``<|bos|>Question:
{question}\\nAnswer:`` then `` {answer}<|eos|>``, loss on the completion only) into the tokens before
the `` ####`` marker (a worked answer), the marker itself, the answer after it, and ``<|eos|>``, using
the float32 reference forward of ``scripts/make_default_model.py`` (which matches the engine: both
give 8.333 on the arithmetic task). With ``--next-word`` it also scores the base model's greedy next
word after the bare verse text of the verse task (no question format): what the model knows before
it learns the format.

  /usr/bin/python3 scripts/measure_task_baselines.py public/datasets/arithmetic
  /usr/bin/python3 scripts/measure_task_baselines.py public/datasets/verses --next-word

Needs Debian's ``python3-torch`` (as make_default_model.py does); runs on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_default_model as pretraining  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "public", "models", "kjv-llama-1m")
VERSE_QUESTION = "Complete the verse: "


def load_model():
    model = pretraining.build_model(torch, torch.float32)
    weights = pretraining.read_safetensors(os.path.join(MODEL_DIR, "model.safetensors"))
    model.load_state_dict({k: torch.tensor(v.copy()) for k, v in weights.items()}, strict=False)
    return model.eval()


def completion_losses(model, tok, prompt: str, completion: str) -> list[tuple[int, float]]:
    """(token id, loss in nats) of each completion token, <|eos|> last."""
    p = [pretraining.BOS_ID] + tok.encode(prompt)
    c = tok.encode(completion) + [pretraining.EOS_ID]
    with torch.no_grad():
        logp = model(torch.tensor([p + c]))[0].log_softmax(-1)
    return [(t, -logp[len(p) + j - 1, t].item()) for j, t in enumerate(c)]


def breakdown(model, tok, rows: list[dict]) -> dict[str, list[float]]:
    hash_id = tok.encode("#")[0]
    parts: dict[str, list[float]] = {"worked answer before ` ####`": [], "` ####` (5 tokens)": [], "answer after `####`": [], "`<|eos|>`": []}
    for row in rows:
        losses = completion_losses(model, tok, f"Question: {row['question']}\nAnswer:", " " + row["answer"])
        marks = [j for j, (t, _) in enumerate(losses) if t == hash_id]
        start, end = marks[0] - 1, marks[-1]  # the space token before the first '#'
        for j, (_, loss) in enumerate(losses):
            key = ("`<|eos|>`" if j == len(losses) - 1 else "` ####` (5 tokens)" if start <= j <= end
                   else "worked answer before ` ####`" if j < start else "answer after `####`")
            parts[key].append(loss)
    return parts


def next_word_accuracy(model, tok, rows: list[dict]) -> int:
    """Rows whose verse text alone is continued greedily by the reference word (punctuation stripped)."""
    correct = 0
    for row in rows:
        ids = [pretraining.BOS_ID] + tok.encode(row["question"].removeprefix(VERSE_QUESTION))
        out: list[int] = []
        with torch.no_grad():
            for _ in range(16):  # until the first word is complete
                t = int(model(torch.tensor([ids]))[0, -1].argmax())
                if t == pretraining.EOS_ID:
                    break
                ids.append(t)
                out.append(t)
                text = tok.decode(out)
                if len(text.split()) > 1 or (text.strip() and not text[-1].isalpha()):
                    break
        words = tok.decode(out).split()
        correct += bool(words) and words[0].rstrip(".,;:?!") == row["answer"].removeprefix("#### ")
    return correct


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="a built-in {question, answer} set, e.g. public/datasets/arithmetic")
    ap.add_argument("--next-word", action="store_true", help="also score the greedy next word after the bare verse (verse task)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tok = pretraining.ByteBPE.from_tokenizer_json(os.path.join(MODEL_DIR, "tokenizer.json"))
    with open(os.path.join(args.dataset, "validation.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    model = load_model()
    parts = breakdown(model, tok, rows)
    total = [x for xs in parts.values() for x in xs]
    print(f"validation loss on {len(rows)} rows: {sum(total) / len(total):.3f} nats/token over {len(total)} completion tokens "
          f"(uniform: ln 1024 = {math.log(1024):.2f})")
    for name, xs in parts.items():
        if xs:
            print(f"- {name}: {sum(xs) / len(xs):.2f} nats/token over {len(xs)} tokens")
    rest = [x for name, xs in parts.items() if not name.startswith("` ####`") for x in xs]
    print(f"- everything but ` ####`: {sum(rest) / len(rest):.2f} nats/token")
    if args.next_word:
        n = next_word_accuracy(model, tok, rows)
        print(f"greedy next word after the bare verse text = the answer: {n}/{len(rows)} ({100 * n / len(rows):.1f} %)")


if __name__ == "__main__":
    main()
