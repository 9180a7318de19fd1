#!/usr/bin/python3
"""Generate Adapter Studio's built-in math word-problem dataset, ``public/datasets/math``.

GSM8K-like in form: each JSONL row is ``{"question": ..., "answer": ...}`` where the answer is a
short worked solution whose last line is ``#### <number>``. Scoring is exact match of the final
number after ``####``. The problems are templated one- and two-step arithmetic with small whole
numbers, sized for the tiny built-in model (``public/models/kjv-llama-1m``): every example, rendered
as ``<|bos|>Question: …\\nAnswer: …<|eos|>``, is checked to stay under ``MAX_TOKENS`` tokens of
that model's tokenizer.

Deterministic: Python's ``random.Random`` with fixed seeds (train and validation use separate
streams, and no validation question also appears in train).

  /usr/bin/python3 scripts/make_math_dataset.py
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "public", "datasets", "math")
TOKENIZER = os.path.join(ROOT, "public", "models", "kjv-llama-1m", "tokenizer.json")
SEED = 8042
N_TRAIN = 2000
N_VALIDATION = 200
MAX_TOKENS = 96

# Names and things that the default model's KJV-trained tokenizer spells in few tokens.
NAMES = [
    ("David", "he"), ("Jacob", "he"), ("Moses", "he"), ("Saul", "he"), ("Sam", "he"), ("Tom", "he"),
    ("Ben", "he"), ("Dan", "he"), ("Paul", "he"), ("Abel", "he"), ("Seth", "he"), ("Amos", "he"),
    ("Eve", "she"), ("Lily", "she"), ("Ruth", "she"), ("Mary", "she"), ("Leah", "she"), ("Sara", "she"),
]
# (plural, singular) of countable things
ITEMS = [
    ("apples", "apple"), ("sheep", "sheep"), ("fish", "fish"), ("stones", "stone"), ("coins", "coin"),
    ("loaves", "loaf"), ("figs", "fig"), ("goats", "goat"), ("jars", "jar"), ("cakes", "cake"),
    ("olives", "olive"), ("books", "book"), ("pens", "pen"), ("cups", "cup"), ("sacks", "sack"),
]
CONTAINERS = ["boxes", "bags", "baskets", "crates"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def pick_people(r: random.Random, n: int):
    return r.sample(NAMES, n)


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


# Each template returns (question, [solution lines], final answer). Numbers stay small.
def t_add(r):
    (a, pa), = pick_people(r, 1)
    it, _ = r.choice(ITEMS)
    x, y = r.randint(2, 60), r.randint(2, 40)
    q = r.choice([
        f"{a} has {x} {it}. {cap(pa)} gets {y} more. How many {it} does {a} have now?",
        f"{a} had {x} {it} and found {y} more. How many {it} does {a} have in all?",
        f"There are {x} {it} in a basket and {a} puts in {y} more. How many {it} are in the basket?",
    ])
    return q, [f"{x} + {y} = {x + y}"], x + y


def t_sub(r):
    (a, pa), (b, _) = pick_people(r, 2)
    it, _ = r.choice(ITEMS)
    x = r.randint(10, 90)
    y = r.randint(1, x - 1)
    q = r.choice([
        f"{a} had {x} {it}. {cap(pa)} gave {y} to {b}. How many {it} does {a} have left?",
        f"{a} has {x} {it} and sells {y} of them. How many {it} are left?",
        f"There were {x} {it} on a table. {b} took {y}. How many {it} are still on the table?",
    ])
    return q, [f"{x} - {y} = {x - y}"], x - y


def t_mul(r):
    (a, _), = pick_people(r, 1)
    it, _ = r.choice(ITEMS)
    box = r.choice(CONTAINERS)
    x, y = r.randint(2, 12), r.randint(2, 12)
    q = r.choice([
        f"{a} has {x} {box} with {y} {it} in each. How many {it} does {a} have?",
        f"There are {x} {box}, and each holds {y} {it}. How many {it} are there in all?",
    ])
    return q, [f"{x} * {y} = {x * y}"], x * y


def t_div(r):
    (a, pa), = pick_people(r, 1)
    it, _ = r.choice(ITEMS)
    k, each = r.randint(2, 9), r.randint(2, 12)
    total = k * each
    q = r.choice([
        f"{a} shares {total} {it} equally among {k} friends. How many {it} does each friend get?",
        f"{a} puts {total} {it} into {k} equal rows. How many {it} are in each row?",
    ])
    return q, [f"{total} / {k} = {each}"], each


def t_add_sub(r):
    (a, pa), = pick_people(r, 1)
    it, _ = r.choice(ITEMS)
    d1, d2 = r.sample(DAYS, 2)
    x, y = r.randint(3, 40), r.randint(3, 40)
    z = r.randint(1, x + y - 1)
    q = r.choice([
        f"{a} picked {x} {it} on {d1} and {y} on {d2}, then gave away {z}. How many are left?",
        f"{a} had {x} {it} and got {y} more. {cap(pa)} gave {z} away. How many {it} are left?",
    ])
    return q, [f"{x} + {y} = {x + y}", f"{x + y} - {z} = {x + y - z}"], x + y - z


def t_change(r):
    (a, pa), = pick_people(r, 1)
    it, one = r.choice(ITEMS)
    price, n = r.randint(2, 9), r.randint(2, 6)
    bill = r.choice([b for b in (20, 50, 100) if b > price * n])
    q = f"A {one} costs {price} dollars. {a} buys {n} and pays {bill} dollars. What is the change?"
    return q, [f"{n} * {price} = {n * price}", f"{bill} - {n * price} = {bill - n * price}"], bill - n * price


def t_legs(r):
    x, y = r.randint(2, 20), r.randint(2, 15)
    a, b, la, lb = r.choice([("hens", "cows", 2, 4), ("geese", "oxen", 2, 4), ("birds", "goats", 2, 4), ("doves", "sheep", 2, 4)])
    q = f"A farm has {x} {a} and {y} {b}. How many legs are there?"
    return q, [f"{x} * {la} = {x * la}", f"{y} * {lb} = {y * lb}", f"{x * la} + {y * lb} = {x * la + y * lb}"], \
        x * la + y * lb


def t_times_as_many(r):
    (a, _), (b, _) = pick_people(r, 2)
    it, _ = r.choice(ITEMS)
    x, k = r.randint(2, 15), r.randint(2, 5)
    q = r.choice([
        f"{a} has {x} {it}. {b} has {k} times as many {it} as {a}. How many {it} do they have together?",
        f"{a} has {x} {it} and {b} has {k} times as many. How many {it} do they have in all?",
    ])
    return q, [f"{x} * {k} = {x * k}", f"{x} + {x * k} = {x + x * k}"], x + x * k


def t_age(r):
    (a, _), (b, _) = pick_people(r, 2)
    x, y, z = r.randint(3, 40), r.randint(2, 30), r.randint(2, 20)
    q = f"{a} is {x} years old. {b} is {y} years older than {a}. How old will {b} be in {z} years?"
    return q, [f"{x} + {y} = {x + y}", f"{x + y} + {z} = {x + y + z}"], x + y + z


def t_spend(r):
    (a, pa), = pick_people(r, 1)
    m = r.randint(20, 99)
    x = r.randint(1, m // 2)
    y = r.randint(1, m - x - 1)
    t1, t2 = r.sample(["bread", "milk", "a coat", "a book", "fruit", "oil", "a lamp", "a cup", "wine"], 2)
    q = f"{a} has {m} dollars and spends {x} on {t1} and {y} on {t2}. How many dollars are left?"
    return q, [f"{x} + {y} = {x + y}", f"{m} - {x + y} = {m - x - y}"], m - x - y


def t_rate(r):
    (a, _), = pick_people(r, 1)
    x, d = r.randint(2, 15), r.randint(2, 9)
    verb, unit = r.choice([("read", "pages"), ("walk", "miles"), ("write", "letters"), ("bake", "loaves")])
    q = f"{a} {verb}s {x} {unit} every day. How many {unit} does {a} {verb} in {d} days?"
    return q, [f"{x} * {d} = {x * d}"], x * d


def t_save(r):
    (a, pa), = pick_people(r, 1)
    w, x = r.randint(2, 12), r.randint(2, 15)
    q = f"{a} saves {x} dollars each week. How many weeks does {pa} need to save {x * w} dollars?"
    return q, [f"{x * w} / {x} = {w}"], w


def t_half(r):
    (a, pa), (b, _) = pick_people(r, 2)
    it, _ = r.choice(ITEMS)
    h = r.randint(2, 40)
    y = r.randint(1, h - 1) if h > 1 else 0
    q = f"{a} has {2 * h} {it}. {cap(pa)} gives half to {b}, then loses {y}. How many {it} are left?"
    return q, [f"{2 * h} / 2 = {h}", f"{h} - {y} = {h - y}"], h - y


def t_groups_left(r):
    (a, _), = pick_people(r, 1)
    it, _ = r.choice(ITEMS)
    box = r.choice(CONTAINERS)
    k, each = r.randint(2, 8), r.randint(2, 10)
    extra = r.randint(1, 20)
    q = f"{a} has {k} {box} of {each} {it} and {extra} loose {it}. How many {it} does {a} have?"
    return q, [f"{k} * {each} = {k * each}", f"{k * each} + {extra} = {k * each + extra}"], k * each + extra


TEMPLATES = [t_add, t_sub, t_mul, t_div, t_add_sub, t_change, t_legs, t_times_as_many, t_age,
             t_spend, t_rate, t_save, t_half, t_groups_left]


def make_example(r: random.Random) -> tuple[str, dict]:
    fn = r.choice(TEMPLATES)
    q, lines, final = fn(r)
    assert isinstance(final, int) and final >= 0, (fn.__name__, q, final)
    answer = "\n".join(lines) + f"\n#### {final}"
    return fn.__name__[2:], {"question": q, "answer": answer}


def final_number(text: str) -> str | None:
    """What the scorer compares: the rest of the line after the first '####', stripped."""
    if "####" not in text:
        return None
    return text.split("####", 1)[1].split("\n", 1)[0].strip()


def render(ex: dict) -> str:
    """The example as the default model's chat template renders it, minus <|bos|>/<|eos|>."""
    return f"Question: {ex['question']}\nAnswer: {ex['answer']}"


def generate(seed: int, n: int, exclude: set[str]) -> tuple[list[dict], collections.Counter]:
    r = random.Random(seed)
    seen = set(exclude)
    rows, kinds = [], collections.Counter()
    while len(rows) < n:
        kind, ex = make_example(r)
        if ex["question"] in seen:
            continue
        seen.add(ex["question"])
        rows.append(ex)
        kinds[kind] += 1
    return rows, kinds


# The built-in model's score before fine-tuning, measured with the engine (the `base` row that
# `npm run study` computes from the frozen model before it trains); copied here by hand so the card keeps
# it. Re-measure when the data or the model changes.
BASELINE = """The built-in model (`kjv-llama-1m`) before any fine-tuning: validation loss **17.072** nats per
completion token (all 200 validation rows) and exact match **0/100** on the first 100 validation rows
(greedy), which `npm run study` scores. No generation has a `####` line: the model writes KJV prose,
and the digits, which never occur in its corpus, start far above a uniform guess (ln 1024 = 6.93).
Measured as the `base model:` line that
`npm run study -- --datasets math,words,arithmetic,verses --methods lora --steps 1 --seeds 1 --quant-iterations 0 --out /tmp/base.md --json /tmp/base.json`
logs for this set (the study computes it from the frozen model before it trains).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--tokenizer", default=TOKENIZER)
    args = ap.parse_args()

    train, kinds_train = generate(SEED, N_TRAIN, set())
    val, kinds_val = generate(SEED + 1, N_VALIDATION, {ex["question"] for ex in train})
    assert not {e["question"] for e in train} & {e["question"] for e in val}
    for e in train + val:
        assert e["answer"].count("####") == 1 and e["answer"].endswith(f"#### {final_number(e['answer'])}")

    lengths = None
    if os.path.exists(args.tokenizer):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from make_default_model import ByteBPE  # noqa: E402  (pure Python; no torch needed)

        tok = ByteBPE.from_tokenizer_json(args.tokenizer)
        lengths = [len(tok.encode(render(ex))) + 2 for ex in train + val]  # + <|bos|>, <|eos|>
        if max(lengths) >= MAX_TOKENS:
            sys.exit(f"an example has {max(lengths)} tokens (limit {MAX_TOKENS})")
    else:
        print(f"warning: {args.tokenizer} not found; token lengths not checked", file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("train", train), ("validation", val)):
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for ex in rows:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    write_card(args.out, train, val, kinds_train, kinds_val, lengths)
    print(f"wrote {len(train)} train and {len(val)} validation examples to {args.out}"
          + (f"; tokens min {min(lengths)} mean {sum(lengths) / len(lengths):.1f} max {max(lengths)}" if lengths else ""))


def write_card(out, train, val, kinds_train, kinds_val, lengths):
    ex = train[0]
    kinds = "\n".join(
        f"| `{k}` | {kinds_train[k]} | {kinds_val[k]} | {doc} |" for k, doc in [
            ("add", "one addition"), ("sub", "one subtraction"), ("mul", "one multiplication"),
            ("div", "one exact division"), ("add_sub", "add, then subtract"),
            ("change", "price × count, then change from a bill"), ("legs", "two products, then a sum"),
            ("times_as_many", "a product, then a sum"), ("age", "two additions"),
            ("spend", "add, then subtract"), ("rate", "one multiplication (rate × days)"),
            ("save", "one exact division"), ("half", "halve, then subtract"),
            ("groups_left", "a product, then a sum"),
        ]
    )
    finals = [int(final_number(e["answer"])) for e in train + val]
    tok_line = (
        f"With the default model's tokenizer, a rendered example (`<|bos|>Question: …\\nAnswer: …<|eos|>`) "
        f"is {min(lengths)}–{max(lengths)} tokens long (mean {sum(lengths) / len(lengths):.1f}); the generator "
        f"fails if any reaches {MAX_TOKENS}, so a sequence length of {MAX_TOKENS} never truncates."
        if lengths else "Token lengths were not checked (the default model's tokenizer was missing).")
    card = f"""# Math word problems (built-in)

Small GSM8K-style arithmetic word problems with checkable answers, generated by
`scripts/make_math_dataset.py` for Adapter Studio's built-in model (`kjv-llama-1m`, a ~1M-parameter
Llama pretrained on the King James Bible, which has never seen a digit). It plays the role that
GSM8K / MetaMathQA play in the PiSSA and LoRA-SB papers, at a size where fine-tuning shows a
measurable change in minutes in a browser.

## Files

| file | rows |
|---|---:|
| `train.jsonl` | {len(train)} |
| `validation.jsonl` | {len(val)} |

One JSON object per line, with GSM8K's two fields:

- `question`: the word problem;
- `answer`: a worked solution, one arithmetic step per line, ending with a line `#### <number>`.

```json
{json.dumps(ex, ensure_ascii=False)}
```

## Scoring

Exact match of the final number: take the rest of the line after the first `####` in the model's
generated answer, strip whitespace, and compare it as a string with the same from the reference
answer (all reference answers are non-negative whole numbers without separators or units, each
with exactly one `####` line, at the end). A generation with no `####` is wrong. The validation set is for this accuracy and for validation
loss.

## Use in Adapter Studio

Render an example as the default model's chat template does, with the loss on the answer only:
prompt `Question: {{question}}\\nAnswer:` and completion ` {{answer}}` followed by `<|eos|>` (with
`<|bos|>` first). To score, generate greedily after the prompt until `<|eos|>` (or a newline after
the `####` line) and compare final numbers.

## Baseline

{BASELINE}
## How it was made

- Deterministic: Python's `random.Random`, seed {SEED} for train and {SEED + 1} for validation;
  duplicates are dropped and no validation question occurs in train. Run
  `/usr/bin/python3 scripts/make_math_dataset.py` to rewrite this folder byte for byte.
- {len(kinds_train)} templates of one or two steps (three for `legs`), each with a few wordings, {len(NAMES)} names,
  {len(ITEMS)} kinds of things; operands are small whole numbers (at most 100) and every intermediate
  and final result is a non-negative whole number (final answers range {min(finals)}–{max(finals)}).
- The worked answers use plain `a + b = c` arithmetic without GSM8K's `<<a+b=c>>` calculator
  annotations, to keep examples short for a tiny model.
- {tok_line}

| template | train | validation | steps |
|---|---:|---:|---|
{kinds}

## License

Generated text, dedicated to the public domain (CC0-1.0), like the rest of the generator's output.
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


if __name__ == "__main__":
    main()
