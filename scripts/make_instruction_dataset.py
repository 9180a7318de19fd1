#!/usr/bin/python3
"""Generate Adapter Studio's built-in word-instruction dataset, ``public/datasets/words``.

A small instruction set distinct from the default model's pretraining corpus (the King James
Bible): short tasks over English words from Debian's word list (``/usr/share/dict/words``,
package ``wamerican``), each with one exact answer:

  sort       "Sort these words alphabetically: pear, stone, apple"   -> "apple, pear, stone"
  reverse    "Reverse the order of: pear, stone, apple"              -> "apple, stone, pear"
  longest    "Which word is longest: ox, horse, cat"                 -> "horse"
  shortest   "Which word is shortest: ox, horse, cat"                -> "ox"
  first      "Which word comes first alphabetically: pear, apple"    -> "apple"
  count      "Count the words: pear stone apple"                     -> "3"

Rows are prompt/completion JSONL, read directly by ``src/io/datasets.ts``:
``{"prompt": "<instruction>\\nAnswer:", "completion": " <answer>"}``. Every example, rendered as
``<|bos|>`` + prompt + completion + ``<|eos|>`` with the default model's tokenizer
(``public/models/kjv-llama-1m``), is checked to stay under ``MAX_TOKENS`` tokens.

Deterministic: Python's ``random.Random`` with fixed seeds (train and validation use separate
streams; no validation prompt also appears in train); the word pool is the sorted word list
filtered as described in the card. Needs the ``wamerican`` package:

  apt-get install -y wamerican
  /usr/bin/python3 scripts/make_instruction_dataset.py
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "public", "datasets", "words")
TOKENIZER = os.path.join(ROOT, "public", "models", "kjv-llama-1m", "tokenizer.json")
WORDS = "/usr/share/dict/words"
SEED = 5150
N_TRAIN = 2000
N_VALIDATION = 200
MAX_TOKENS = 64
MAX_WORD_TOKENS = 2  # " word" must be at most this many tokens of the default tokenizer

# Left out of the pool: vulgar or offensive words, and abbreviations / fragments that the word
# list carries but that are not words a reader would recognise.
BLOCKED = set("""
anal anus ass boob bra bras bum bust butt butted cock cocked coon cum enema enemas fag fart feces
gay gook heroin kill lick licked lust orgy poop porn prick pricked pus rap retard scum sex shat
shit slut smut suck sucked tit weed whore
acct alt alts amp amt ani app apps asst atty chapt cis col comm conj cont dept dis doc doz gov hes
inc ind ins int lii lix mes mos mph nos nth pct pis pres prep prof pron ref rehi rep reps sec shes
sos tel treas var vol
""".split())


def word_pool(tok) -> list[str]:
    with open(WORDS, encoding="utf-8") as f:
        words = sorted({w.strip() for w in f})
    pool = [
        w for w in words
        if re.fullmatch(r"[a-z]{3,8}", w) and re.search(r"[aeiouy]", w) and w not in BLOCKED
        and len(tok.encode(" " + w)) <= MAX_WORD_TOKENS
    ]
    return pool


def distinct(r: random.Random, pool: list[str], n: int) -> list[str]:
    return r.sample(pool, n)


def t_sort(r, pool):
    ws = distinct(r, pool, r.randint(3, 5))
    return f"Sort these words alphabetically: {', '.join(ws)}", ", ".join(sorted(ws))


def t_reverse(r, pool):
    ws = distinct(r, pool, r.randint(3, 5))
    return f"Reverse the order of: {', '.join(ws)}", ", ".join(reversed(ws))


def _unique_extreme(r, pool, pick):
    while True:
        ws = distinct(r, pool, r.randint(3, 5))
        lengths = [len(w) for w in ws]
        target = pick(lengths)
        if lengths.count(target) == 1:
            return ws, ws[lengths.index(target)]


def t_longest(r, pool):
    ws, answer = _unique_extreme(r, pool, max)
    return f"Which word is longest: {', '.join(ws)}", answer


def t_shortest(r, pool):
    ws, answer = _unique_extreme(r, pool, min)
    return f"Which word is shortest: {', '.join(ws)}", answer


def t_first(r, pool):
    ws = distinct(r, pool, r.randint(3, 5))
    return f"Which word comes first alphabetically: {', '.join(ws)}", min(ws)


def t_count(r, pool):
    ws = distinct(r, pool, r.randint(2, 9))
    return f"Count the words: {' '.join(ws)}", str(len(ws))


TEMPLATES = [t_sort, t_reverse, t_longest, t_shortest, t_first, t_count]
DOCS = {
    "sort": "the words in alphabetical order, comma-separated (3–5 words)",
    "reverse": "the words in reverse order, comma-separated (3–5 words)",
    "longest": "the one longest word (a unique longest is guaranteed; 3–5 words)",
    "shortest": "the one shortest word (a unique shortest is guaranteed; 3–5 words)",
    "first": "the word that comes first alphabetically (3–5 words)",
    "count": "how many words, as a digit (2–9 words, space-separated)",
}


def render(ex: dict) -> str:
    return ex["prompt"] + ex["completion"]


def generate(seed: int, n: int, pool: list[str], exclude: set[str], tok) -> tuple[list[dict], collections.Counter, list[int]]:
    r = random.Random(seed)
    seen = set(exclude)
    rows, kinds, lengths = [], collections.Counter(), []
    while len(rows) < n:
        fn = r.choice(TEMPLATES)
        instruction, answer = fn(r, pool)
        ex = {"prompt": f"{instruction}\nAnswer:", "completion": f" {answer}"}
        if ex["prompt"] in seen:
            continue
        length = len(tok.encode(render(ex))) + 2  # + <|bos|>, <|eos|>
        if length >= MAX_TOKENS:
            continue  # drawn again (deterministically) rather than failing
        seen.add(ex["prompt"])
        rows.append(ex)
        kinds[fn.__name__[2:]] += 1
        lengths.append(length)
    return rows, kinds, lengths


# The built-in model's score before fine-tuning, measured with the engine (the `base` row that
# `npm run study` computes from the frozen model before it trains); copied here by hand so the card keeps
# it. Re-measure when the data or the model changes.
BASELINE = """The built-in model (`kjv-llama-1m`) before any fine-tuning: validation loss **7.632** nats per
completion token (all 200 validation rows) and exact match **0/100** on the first 100 validation rows
(greedy), which `npm run study` scores. Measured as the `base model:` line that
`npm run study -- --datasets math,words,arithmetic,verses --methods lora --steps 1 --seeds 1 --quant-iterations 0 --out /tmp/base.md --json /tmp/base.json`
logs for this set (the study computes it from the frozen model before it trains).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--tokenizer", default=TOKENIZER)
    args = ap.parse_args()
    if not os.path.exists(WORDS):
        sys.exit(f"{WORDS} not found: install Debian's word list with `apt-get install -y wamerican`")
    if not os.path.exists(args.tokenizer):
        sys.exit(f"{args.tokenizer} not found: the default model's tokenizer is needed to size the examples")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_default_model import ByteBPE  # noqa: E402  (pure Python; no torch needed)

    tok = ByteBPE.from_tokenizer_json(args.tokenizer)
    pool = word_pool(tok)
    train, kinds_train, len_train = generate(SEED, N_TRAIN, pool, set(), tok)
    val, kinds_val, len_val = generate(SEED + 1, N_VALIDATION, pool, {e["prompt"] for e in train}, tok)
    assert not {e["prompt"] for e in train} & {e["prompt"] for e in val}
    lengths = len_train + len_val
    assert max(lengths) < MAX_TOKENS

    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("train", train), ("validation", val)):
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for ex in rows:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    used = {w for e in train + val for w in re.findall(r"[a-z]+", e["prompt"].split(":", 1)[1])}
    write_card(args.out, train, val, kinds_train, kinds_val, lengths, len(pool), len(used))
    print(f"wrote {len(train)} train and {len(val)} validation examples to {args.out}; pool {len(pool)} words; "
          f"tokens min {min(lengths)} mean {sum(lengths) / len(lengths):.1f} max {max(lengths)}")


def write_card(out, train, val, kinds_train, kinds_val, lengths, pool_size, used):
    examples = []
    shown = {}
    for e in train:
        for kind, prefix in (("sort", "Sort"), ("reverse", "Reverse"), ("longest", "Which word is longest"),
                             ("shortest", "Which word is shortest"), ("first", "Which word comes first"),
                             ("count", "Count")):
            if kind not in shown and e["prompt"].startswith(prefix):
                shown[kind] = e
    for kind in DOCS:
        examples.append(json.dumps(shown[kind], ensure_ascii=False))
    kinds = "\n".join(f"| `{k}` | {kinds_train[k]} | {kinds_val[k]} | {doc} |" for k, doc in DOCS.items())
    nl = "\n"
    card = f"""# Word instructions (built-in)

Short instruction tasks over English words with one exact, checkable answer each, generated by
`scripts/make_instruction_dataset.py` for Adapter Studio's built-in model (`kjv-llama-1m`, a
~1M-parameter Llama pretrained on the King James Bible). It is the studio's second built-in
fine-tuning set: instruction following on text that is not the pretraining corpus (modern
English word-list entries, lists, ordering and counting), where the math set is arithmetic.

## Files

| file | rows |
|---|---:|
| `train.jsonl` | {len(train)} |
| `validation.jsonl` | {len(val)} |

One JSON object per line, prompt/completion (read directly by the studio's data loader, loss on
the completion only):

- `prompt`: the instruction followed by `\\nAnswer:`;
- `completion`: a space, then the answer.

```json
{nl.join(examples)}
```

| task | train | validation | answer |
|---|---:|---:|---|
{kinds}

## Scoring

Exact match: generate greedily after `<|bos|>` + prompt until `<|eos|>` (or a newline), strip
whitespace, and compare the string with the completion stripped. Answers never contain a newline.

## Baseline

{BASELINE}
## How it was made

- Words: Debian's `/usr/share/dict/words` from the `wamerican` package (version 2020.12.07-2 on
  Debian 12 bookworm; SCOWL size 50, American spelling). Kept: lowercase `a`–`z` only, 3–8
  letters, containing a vowel (or `y`), spelled in at most {MAX_WORD_TOKENS} tokens (with a leading space) by
  the default model's tokenizer (which favours words frequent in the KJV), minus a short list of
  vulgar or offensive words and abbreviations/fragments (in the script): {pool_size} words in the
  pool, {used} of them used.
- Deterministic: Python's `random.Random`, seed {SEED} for train and {SEED + 1} for validation; the pool
  is the sorted filtered list; duplicate prompts are dropped and no validation prompt occurs in
  train. `apt-get install -y wamerican && /usr/bin/python3 scripts/make_instruction_dataset.py`
  rewrites this folder byte for byte (given the same word-list version).
- With the default model's tokenizer, a rendered example (`<|bos|>` + prompt + completion +
  `<|eos|>`) is {min(lengths)}–{max(lengths)} tokens long (mean {sum(lengths) / len(lengths):.1f}); examples reaching
  {MAX_TOKENS} are redrawn, so a sequence length of {MAX_TOKENS} never truncates.

## License

The generated prompts and answers are dedicated to the public domain (CC0-1.0). The words come
from SCOWL via Debian's `wamerican` package, whose copyright file says:

> Copyright 2000-2011 by Kevin Atkinson
>
> Permission to use, copy, modify, distribute and sell these word lists, the associated scripts,
> the output created from the scripts, and its documentation for any purpose is hereby granted
> without fee, provided that the above copyright notice appears in all copies and that both that
> copyright notice and this permission notice appear in supporting documentation. Kevin Atkinson
> makes no representations about the suitability of this array for any purpose. It is provided
> "as is" without express or implied warranty.

(The SCOWL collective work also carries the notices of its sources — Moby Words II (public
domain), 12Dicts, ENABLE and others — all permissive; see `/usr/share/doc/wamerican/copyright`.)
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


if __name__ == "__main__":
    main()
