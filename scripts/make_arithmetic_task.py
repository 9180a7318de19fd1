#!/usr/bin/python3
"""Generate Adapter Studio's built-in arithmetic-in-words task, ``public/datasets/arithmetic``.

One- and two-step arithmetic on small whole numbers (results one to ten), with every number
written as an English word, in the King James register of the built-in model
(``public/models/kjv-llama-1m``), which has never seen a digit: the KJV writes its numbers in
words ("seven", "twelve", "twenty"), so these words already have trained embeddings, where the
digits of ``public/datasets/math`` do not.

Each JSONL row is ``{"question": ..., "answer": ...}`` like the math set; the answer is a worked
solution in words, one sentence per step ("three and four are seven."), then `` #### <number
word>`` on the same line: the KJV has no newlines, so a newline before ``####`` would be one more
token the model has never produced (LoRA learned ``####`` but wrote it in the newline's place).
Scoring is the existing exact match of the rest of the line after the first ``####``
(src/io/questionAnswer.ts). Every example, rendered as
``<|bos|>Question: …\\nAnswer: …<|eos|>`` with the model's tokenizer, stays under ``MAX_TOKENS``.

Deterministic: Python's ``random.Random`` with fixed seeds (train and validation use separate
streams; no validation question also appears in train). No network, no packages beyond Python.

  /usr/bin/python3 scripts/make_arithmetic_task.py
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "public", "datasets", "arithmetic")
TOKENIZER = os.path.join(ROOT, "public", "models", "kjv-llama-1m", "tokenizer.json")
SEED = 7720
N_TRAIN = 2000
N_VALIDATION = 200
MAX_TOKENS = 80
ACCURACY_ROWS = 100  # the validation rows `npm run study` scores by default (--accuracy-items)
# Results stay within ten: 45 addition and 45 subtraction facts, few enough for the 1M model to
# learn in a few hundred steps (with results up to twenty it had not learned them after 150).
LARGEST = 10

NUMBER_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]
# KJV names (with their pronouns) and things counted in the KJV: (plural, singular).
NAMES = [
    ("Jacob", "he", "him"), ("David", "he", "him"), ("Moses", "he", "him"), ("Saul", "he", "him"),
    ("Judah", "he", "him"), ("Aaron", "he", "him"), ("Isaac", "he", "him"), ("Joseph", "he", "him"),
    ("Laban", "he", "him"), ("Esau", "he", "him"), ("Boaz", "he", "him"), ("Caleb", "he", "him"),
    ("Ruth", "she", "her"), ("Leah", "she", "her"), ("Rachel", "she", "her"), ("Sarah", "she", "her"),
    ("Hannah", "she", "her"), ("Naomi", "she", "her"),
]
THINGS = [
    ("sheep", "sheep"), ("goats", "goat"), ("oxen", "ox"), ("camels", "camel"), ("lambs", "lamb"),
    ("rams", "ram"), ("doves", "dove"), ("loaves", "loaf"), ("fishes", "fish"), ("cakes", "cake"),
    ("figs", "fig"), ("shekels", "shekel"), ("talents", "talent"), ("stones", "stone"), ("rings", "ring"),
    ("coats", "coat"), ("swords", "sword"), ("vessels", "vessel"),
]


def word(n: int) -> str:
    return NUMBER_WORDS[n]


def count_of(n: int, thing: tuple[str, str]) -> str:
    return f"{word(n)} {thing[1] if n == 1 else thing[0]}"


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


def add_step(x: int, y: int) -> str:
    return f"{word(x)} and {word(y)} are {word(x + y)}."


def sub_step(x: int, y: int) -> str:
    return f"{word(x)} less {word(y)} are {word(x - y)}."


# Each template returns (question, [worked steps], final). Every operand, intermediate and final
# result lies in 1..LARGEST.
def t_add(r: random.Random):
    (a, pa, oa), (b, _, _) = r.sample(NAMES, 2)
    things = r.choice(THINGS)
    x = r.randint(1, LARGEST - 1)
    y = r.randint(1, LARGEST - x)
    q = r.choice([
        f"{a} had {count_of(x, things)}, and {b} gave {oa} {word(y)} more. How many {things[0]} had {a} then?",
        f"{a} had {count_of(x, things)} and bought {word(y)} more. How many {things[0]} had {pa} in all?",
        f"How many are {word(x)} and {word(y)}?",
    ])
    return q, [add_step(x, y)], x + y


def t_sub(r: random.Random):
    (a, _, _), (b, _, _) = r.sample(NAMES, 2)
    things = r.choice(THINGS)
    x = r.randint(2, LARGEST)
    y = r.randint(1, x - 1)
    q = r.choice([
        f"{a} had {count_of(x, things)}, and gave {word(y)} of them to {b}. How many {things[0]} had {a} left?",
        f"There were {count_of(x, things)}, and {a} took {word(y)} away. How many {things[0]} were left?",
        f"What is {word(x)} less {word(y)}?",
    ])
    return q, [sub_step(x, y)], x - y


def t_twice(r: random.Random):
    (a, _, _), (b, _, _) = r.sample(NAMES, 2)
    things = r.choice(THINGS)
    x = r.randint(1, LARGEST // 2)
    q = r.choice([
        f"{a} had {count_of(x, things)}, and {b} had twice as many. How many {things[0]} had {b}?",
        f"How many are twice {word(x)}?",
    ])
    return q, [add_step(x, x)], 2 * x


def t_add_sub(r: random.Random):
    (a, pa, _), = r.sample(NAMES, 1)
    things = r.choice(THINGS)
    x = r.randint(1, LARGEST - 1)
    y = r.randint(1, LARGEST - x)
    z = r.randint(1, x + y - 1)
    q = f"{a} had {count_of(x, things)}, found {word(y)} more, and lost {word(z)}. How many had {pa} then?"
    return q, [add_step(x, y), sub_step(x + y, z)], x + y - z


def t_sub_add(r: random.Random):
    (a, pa, _), = r.sample(NAMES, 1)
    things = r.choice(THINGS)
    x = r.randint(2, LARGEST)
    y = r.randint(1, x - 1)
    z = r.randint(1, LARGEST - (x - y))
    q = f"{a} had {count_of(x, things)}, sold {word(y)}, and bought {word(z)}. How many had {pa} then?"
    return q, [sub_step(x, y), add_step(x - y, z)], x - y + z


def t_sum3(r: random.Random):
    (a, _, _), (b, _, _), (c, _, _) = r.sample(NAMES, 3)
    things = r.choice(THINGS)
    x = r.randint(1, LARGEST - 2)
    y = r.randint(1, LARGEST - x - 1)
    z = r.randint(1, LARGEST - x - y)
    q = f"{a} had {count_of(x, things)}, {b} {word(y)}, and {c} {word(z)}. How many in all?"
    return q, [add_step(x, y), add_step(x + y, z)], x + y + z


TEMPLATES = [t_add, t_sub, t_twice, t_add_sub, t_sub_add, t_sum3]
STEPS = {"add": 1, "sub": 1, "twice": 1, "add_sub": 2, "sub_add": 2, "sum3": 2}
DOCS = {
    "add": "one addition (a word problem, or \"How many are x and y?\")",
    "sub": "one subtraction (a word problem, or \"What is x less y?\")",
    "twice": "doubling, worked as x and x",
    "add_sub": "add, then subtract",
    "sub_add": "subtract, then add",
    "sum3": "three amounts added, two steps",
}


def make_example(r: random.Random, target: int) -> tuple[str, dict]:
    """A row whose final answer is `target` (templates and operands redrawn until it matches)."""
    while True:
        fn = r.choice(TEMPLATES)
        q, steps, final = fn(r)
        if final == target:
            break
    assert 1 <= final <= LARGEST, (fn.__name__, q, final)
    return fn.__name__[2:], {"question": q, "answer": " ".join(steps) + f" #### {word(final)}"}


def final_answer(text: str) -> str | None:
    """What the scorer compares: the rest of the line after the first '####', stripped."""
    if "####" not in text:
        return None
    return text.split("####", 1)[1].split("\n", 1)[0].strip()


def render(ex: dict) -> str:
    """The example as the studio trains on it, minus <|bos|>/<|eos|>."""
    return f"Question: {ex['question']}\nAnswer: {ex['answer']}"


def generate(seed: int, n: int, exclude: set[str], fits) -> tuple[list[dict], list[str]]:
    """n rows with distinct questions (none in `exclude`) that fit, and each row's template. Row i
    answers i % LARGEST + 1: every answer is equally common, in every run of LARGEST rows, so always
    giving one answer scores exactly 1 in LARGEST, not the share of a common sum."""
    r = random.Random(seed)
    seen = set(exclude)
    rows, kinds = [], []
    while len(rows) < n:
        kind, ex = make_example(r, len(rows) % LARGEST + 1)
        if ex["question"] in seen or not fits(ex):
            continue
        seen.add(ex["question"])
        rows.append(ex)
        kinds.append(kind)
    return rows, kinds


# Measured on the files this script writes, with the engine's CLI (the study reports the base
# model's row before training) and scripts/measure_task_baselines.py; copied here by hand so the
# card keeps them. Re-measure when the data or the model changes.
BASE_COMMAND = ("npm run study -- --datasets arithmetic --methods lora --steps 1 --seeds 1 --quant-iterations 0 "
                "--out /tmp/base.md --json /tmp/base.json")
BASELINE = f"""The built-in model before any fine-tuning: the `base` row that `npm run study` computes before it trains
(measured with `{BASE_COMMAND}`; the study needs a method and at least one step, but its `base` row is
computed first, from the frozen model; every learnability run below repeats it and got the same numbers).

- Validation loss **8.806** nats per completion token (all 200 validation rows, 3906 tokens; the engine gives
  8.8055, the float32 reference forward of `scripts/measure_task_baselines.py` 8.806). By part
  (`/usr/bin/python3 scripts/measure_task_baselines.py public/datasets/arithmetic`): the worked answer
  before ` ####` 5.33, the ` ####` marker 17.81, the answer word after it 5.39, `<|eos|>` 10.65;
  everything but the marker 5.71 (uniform: ln 1024 = 6.93).
- Exact match **0/100** on the first 100 validation rows (greedy, at most 48 new tokens), and no generation
  has a `####` at all: the model goes on in KJV prose (` and he said, It is not the man that is in the
  kingdom of God.`).
"""
RUNS = ("npm run study -- --datasets arithmetic --methods full,pissa --steps 100 --seeds 1 --lr 2e-3 --full-lr 1e-3 "
        "--eval-every 25 --eval-rows 24 --quant-iterations 0 --out /tmp/x.md --json /tmp/x.json",
        "npm run study -- --datasets arithmetic --methods pissa,lora --steps 100 --seeds 1 --lr 5e-3 "
        "--eval-every 25 --eval-rows 24 --quant-iterations 0 --out /tmp/x.md --json /tmp/x.json")
LEARNABILITY = f"""Every try so far, with `npm run study` on a machine shared with other jobs (2 CPU cores, SwiftShader).
Each run trains its methods on identical batches (batch 8 × 72 tokens, seed 1, 100 steps = 0.4 epoch),
cosine schedule with 3 warm-up steps, clip 1, no weight decay; the low-rank methods at rank 8 = alpha
on the 7 projections of the 4 layers. Accuracy is exact match on the first 100 validation rows (greedy).

| run | method | lr | validation loss (24 rows) at 0 / 25 / 50 / 75 / 100 | final validation loss (200 rows) | exact match | with a `####` |
|---|---|---:|---|---:|---:|---:|
| – | base | – | 8.679 | 8.806 | 0 | 0 |
| 1 | full | 1e-3 | 8.679 / 0.814 / 0.638 / 0.467 / 0.420 | 0.400 | **16** | 100 |
| 1 | PiSSA | 2e-3 | 8.679 / 2.035 / 1.772 / 1.671 / 1.641 | 1.634 | **11** | 100 |
| 2 | PiSSA | 5e-3 | 8.679 / 1.897 / 1.629 / 1.487 / 1.441 | 1.435 | **13** | 100 |
| 2 | LoRA | 5e-3 | 8.679 / 2.091 / 1.713 / 1.605 / 1.577 | 1.570 | **12** | 100 |

- Run 1: `{RUNS[0]}`; 39.5 minutes of wall time, load average 19 at the start (the 100 steps
  of both methods took 35 minutes, 21 s a step; the rest is the base row, validation and generation).
- Run 2: `{RUNS[1]}`; 15.4 minutes of wall time, load average 4.0 at the start (the 100 steps of
  both methods took 12 minutes, 7 s a step).
- Before run 1, the same run with `--steps 200` was stopped at step 5: at that load it would have taken
  80 minutes.

What the generations show (run 1): both methods learned the format (every generation has a worked answer
and a `####`). Full fine-tuning copies its last step's result after `####` in 88 of 100 answers and
reads both operands of the first step right in 29 of 100, but only 58 of its 163 worked steps are true
sums or differences ("one and one are eight"): it has learned the form, the number words and some of
the facts, and its 16 % is two standard errors above the 10 % of a constant answer. PiSSA at 2e-3 mostly answers "two" (69 of
100): its 11 % is a constant answer's score, not yet arithmetic. In run 2, PiSSA at 5e-3 spreads its
answers ("one" 29, then "eight", "six", "three" 15 each), copies its last step's result in 74, reads the
first operands right in 15 and gets 39 of 164 steps right; LoRA at 5e-3 answers "two" or "one" in 71 of
100 and gets 20 of 164 steps right. With one seed and 100 rows, a few answers either way is noise (the
binomial standard error at 10 % is 3 answers).

Recommendation for the study: the task is learnable in the study's budget for full fine-tuning at 1e-3
(16 % after 100 steps, the validation loss still falling); for the low-rank methods 5e-3 rather than
2e-3 (PiSSA's final validation loss 1.435 against 1.634), where after 100 steps they are only at the edge
of a constant answer's 10 %. No method has converged after 100 steps (0.4 epoch): give the study 200
steps or more; whether the adapters then clearly beat a constant answer is not measured yet.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--tokenizer", default=TOKENIZER)
    args = ap.parse_args()
    if not os.path.exists(args.tokenizer):
        sys.exit(f"{args.tokenizer} not found: the token lengths and the card's token counts need the built-in model's tokenizer")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_default_model import ByteBPE  # noqa: E402  (pure Python; no torch needed)

    tok = ByteBPE.from_tokenizer_json(args.tokenizer)

    def n_tokens(ex: dict) -> int:
        return len(tok.encode(render(ex))) + 2  # + <|bos|>, <|eos|>

    def fits(ex: dict) -> bool:
        return n_tokens(ex) < MAX_TOKENS

    train, kinds_train = generate(SEED, N_TRAIN, set(), fits)
    val, kinds_val = generate(SEED + 1, N_VALIDATION, {ex["question"] for ex in train}, fits)
    assert not {e["question"] for e in train} & {e["question"] for e in val}
    for e in train + val:
        assert e["answer"].count("####") == 1 and final_answer(e["answer"]) in NUMBER_WORDS

    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("train", train), ("validation", val)):
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for ex in rows:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    stats = token_stats(tok, train + val, n_tokens)
    write_card(args.out, train, val, kinds_train, kinds_val, stats, tok)
    print(f"wrote {len(train)} train and {len(val)} validation examples to {args.out}; "
          f"tokens min {stats['min']} mean {stats['mean']:.1f} max {stats['max']}")


def token_stats(tok, rows: list[dict], n_tokens) -> dict:
    lengths = [n_tokens(ex) for ex in rows]
    # The completion as the studio tokenises it: " " + answer, then <|eos|>.
    completion = [len(tok.encode(" " + ex["answer"])) + 1 for ex in rows]
    final = [len(tok.encode(" " + final_answer(ex["answer"]))) for ex in rows]
    return {
        "min": min(lengths), "max": max(lengths), "mean": sum(lengths) / len(lengths),
        "completion_min": min(completion), "completion_max": max(completion), "completion_mean": sum(completion) / len(completion),
        "final_max": max(final), "final_mean": sum(final) / len(final),
    }


def pieces(tok, text: str) -> str:
    """The tokens of `text`, as a JSON list of strings."""
    return "`" + json.dumps([tok.decode([i]) for i in tok.encode(text)]) + "`"


def write_card(out, train, val, kinds_train, kinds_val, stats, tok):
    n_train, n_val = collections.Counter(kinds_train), collections.Counter(kinds_val)
    kinds = "\n".join(f"| `{k}` | {STEPS[k]} | {n_train[k]} | {n_val[k]} | {DOCS[k]} |" for k in STEPS)
    examples = "\n".join(json.dumps(train[kinds_train.index(k)], ensure_ascii=False) for k in ("add", "sub_add", "sum3"))
    finals = collections.Counter(final_answer(e["answer"]) for e in val)
    top, top_n = finals.most_common(1)[0]
    word_tokens = "; ".join(f"{w} {len(tok.encode(' ' + w))}" for w in NUMBER_WORDS[1 : LARGEST + 1])
    first = collections.Counter(final_answer(e["answer"]) for e in val[:ACCURACY_ROWS])
    majority = (f"- Always answering the most common validation answer (\"{top}\") would score {top_n}/{len(val)} "
                f"({100 * top_n / len(val):.1f} %); on the first {ACCURACY_ROWS} rows, which the study scores, always "
                f"answering their most common one (\"{first.most_common(1)[0][0]}\") would score {first.most_common(1)[0][1]}/{ACCURACY_ROWS}.\n")
    baseline = BASELINE + majority
    card = f"""# Arithmetic in words (built-in)

One- and two-step arithmetic on small whole numbers, with every number written as a word, generated by
`scripts/make_arithmetic_task.py` for Adapter Studio's built-in model (`kjv-llama-1m`, a ~1M-parameter
Llama pretrained on the King James Bible). It is the numeric task that model can learn: the KJV spells
its numbers ("seven", "twelve", "twenty"), so the number words have trained embeddings, whereas the
digits of the math set (`public/datasets/math`) never occur in its corpus and start at ~17 nats per
digit token.

## Files

| file | rows |
|---|---:|
| `train.jsonl` | {len(train)} |
| `validation.jsonl` | {len(val)} |

One JSON object per line, with the math set's (GSM8K's) two fields:

- `question`: the problem, in KJV-flavoured English;
- `answer`: a worked solution in words, one sentence per step, then ` #### <number word>` on the same
  line (no newline: the KJV has none, so the model has never produced one).

```json
{examples}
```

| template | steps | train | validation | what |
|---|---:|---:|---:|---|
{kinds}

Operands, intermediate and final results are whole numbers from one to {LARGEST}; final answers in the
validation set cover {len(finals)} different numbers.

## Scoring

Exact match of the final answer, as for the math set (`src/io/questionAnswer.ts`): the rest of the line
after the first `####` in the generated answer, stripped, compared as a string with the reference's (a
lowercase number word, `one` … `{NUMBER_WORDS[LARGEST]}`). A generation without `####` is wrong.

## Use in Adapter Studio

Rendered as the studio renders `{{question, answer}}` rows: prompt `Question: {{question}}\\nAnswer:` and
completion ` {{answer}}` followed by `<|eos|>` (with `<|bos|>` first); the loss counts the completion only.

## Tokens (the built-in model's tokenizer)

- A rendered example (`<|bos|>Question: …\\nAnswer: …<|eos|>`) is {stats['min']}–{stats['max']} tokens
  (mean {stats['mean']:.1f}); the generator redraws any example that reaches {MAX_TOKENS}, so a sequence
  length of {MAX_TOKENS} never truncates.
- The completion (worked answer + `<|eos|>`) is {stats['completion_min']}–{stats['completion_max']} tokens
  (mean {stats['completion_mean']:.1f}); the final answer word after `####` is 1–{stats['final_max']} tokens
  (mean {stats['final_mean']:.2f}).
- ` ####` is 5 tokens ({pieces(tok, ' ####')}); `#` never occurs in the KJV, so like the digits it
  starts with a very high loss, but it is one fixed marker that every method learns in its first steps.
- Number words (with their leading space), tokens each: {word_tokens}.
  For comparison ` 10` is {len(tok.encode(' 10'))} tokens ({pieces(tok, ' 10')}) of digits the model has never seen.

## Baseline

{baseline}
## Learnability

{LEARNABILITY}
## How it was made

- Deterministic: Python's `random.Random`, seed {SEED} for train and {SEED + 1} for validation; duplicate
  questions are dropped and no validation question occurs in train. The arithmetic facts themselves
  (e.g. three and four are seven) recur across splits by design: the task is to learn them.
  `/usr/bin/python3 scripts/make_arithmetic_task.py` rewrites this folder byte for byte.
- {len(NAMES)} KJV names, {len(THINGS)} kinds of things counted in the KJV, {len(STEPS)} templates with a few wordings.

## License

Generated text, dedicated to the public domain (CC0-1.0).
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


if __name__ == "__main__":
    main()
