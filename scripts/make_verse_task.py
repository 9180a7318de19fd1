#!/usr/bin/python3
"""Generate Adapter Studio's built-in KJV verse-ending task, ``public/datasets/verses``, and the
built-in model's held-out pretraining sample, ``public/models/kjv-llama-1m/heldout.txt``.

Both come from the built-in model's own corpus: the King James Bible as Debian's ``bible-kjv-text``
package holds it, read with the ``bible`` program of ``bible-kjv`` exactly as
``scripts/make_default_model.py`` reads it, split into that script's training and held-out
chapters (same seed, same function):

- **verses** (a task close to the pretraining distribution): a verse from the model's *training*
  chapters without its last word is the question, the last word is the answer. Rows are
  ``{"question": "Complete the verse: <verse minus its last word>", "answer": "#### <last word>"}``,
  scored by the existing exact match of the rest of the line after ``####``
  (src/io/questionAnswer.ts). Punctuation after the last word is dropped from the answer.
- **heldout.txt** (for measuring forgetting): a seeded sample of the verses of the model's 20
  held-out chapters, which it never trained on, one verse per paragraph (blank lines between
  them), so the studio's and CLI's plain-text reader makes each verse one example,
  ``<|bos|>verse<|eos|>``, the format the model was pretrained on. The verse task uses none of
  these chapters.

Deterministic: Python's ``random.Random`` with fixed seeds; no network. Needs the Debian packages
(and ``python3-regex`` for make_default_model's tokenizer code):

  apt-get install -y bible-kjv bible-kjv-text python3-regex python3-numpy
  /usr/bin/python3 scripts/make_verse_task.py
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_default_model as pretraining  # noqa: E402  (corpus, split and tokenizer; no torch needed)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "public", "datasets", "verses")
MODEL_DIR = os.path.join(ROOT, "public", "models", "kjv-llama-1m")
HELDOUT = os.path.join(MODEL_DIR, "heldout.txt")
SEED = 1769  # the year of the Blayney edition, the KJV text in use today
N_TRAIN = 2000
N_VALIDATION = 200
MAX_TOKENS = 64
HELDOUT_CHARS = 48_000
QUESTION = "Complete the verse: "

# The verse's last word and whatever punctuation follows it (quotes and brackets are rare in the
# KJV text; verses ending in them are left out rather than split oddly).
LAST_WORD = re.compile(r"^(?P<prefix>.*\S)\s+(?P<word>[A-Za-z]+)(?P<tail>[.,;:?!]*)$")


def split_corpus():
    """(training verses, held-out verses, held-out chapters) exactly as the model script split them."""
    verses = pretraining.load_kjv()
    chapters = pretraining.split_chapters(verses, pretraining.TRAIN["val_fraction"], pretraining.SEED)[2]  # canonical order
    held = set(chapters)
    train = [v for v in verses if (v[0], v[1]) not in held]
    heldout = [v for v in verses if (v[0], v[1]) in held]
    return train, heldout, chapters


def render(ex: dict) -> str:
    """The example as the studio trains on it, minus <|bos|>/<|eos|>."""
    return f"Question: {ex['question']}\nAnswer: {ex['answer']}"


def final_answer(text: str) -> str | None:
    """What the scorer compares: the rest of the line after the first '####', stripped."""
    if "####" not in text:
        return None
    return text.split("####", 1)[1].split("\n", 1)[0].strip()


def candidates(train_verses, n_tokens) -> list[dict]:
    """One row per usable training verse, in canonical order. A verse is left out when its last word
    cannot be cut cleanly, when the row would reach MAX_TOKENS, or when its prefix also starts another
    verse with a different ending (the question would have two right answers)."""
    rows = []
    for book, chapter, verse, text in train_verses:
        m = LAST_WORD.match(text)
        if not m or len(m.group("word")) < 2:
            continue
        ex = {"question": QUESTION + m.group("prefix"), "answer": f"#### {m.group('word')}"}
        if n_tokens(ex) >= MAX_TOKENS:
            continue
        rows.append((f"{book} {chapter}:{verse}", ex))
    endings = collections.defaultdict(set)
    for _, ex in rows:
        endings[ex["question"]].add(ex["answer"])
    seen = set()
    out = []
    for ref, ex in rows:
        if len(endings[ex["question"]]) > 1 or ex["question"] in seen:
            continue
        seen.add(ex["question"])
        out.append({"ref": ref, **ex})
    return out


def heldout_sample(heldout_verses) -> list[tuple[str, str]]:
    """A seeded sample of the held-out verses, in canonical order, up to HELDOUT_CHARS characters."""
    order = list(range(len(heldout_verses)))
    random.Random(SEED + 2).shuffle(order)
    picked, chars = [], 0
    for i in order:
        text = heldout_verses[i][3]
        if chars + len(text) + 2 > HELDOUT_CHARS:
            break
        picked.append(i)
        chars += len(text) + 2
    return [(f"{heldout_verses[i][0]} {heldout_verses[i][1]}:{heldout_verses[i][2]}", heldout_verses[i][3]) for i in sorted(picked)]


# Measured on the files this script writes, with the engine's CLI (the study reports the base
# model's row before training) and scripts/measure_task_baselines.py; copied here by hand so the
# card keeps them. Re-measure when the data or the model changes.
RUN_COMMAND = ("npm run study -- --datasets verses --methods full,pissa --steps 40 --seeds 1 --lr 2e-3 --full-lr 1e-3 "
               "--eval-every 20 --eval-rows 24 --quant-iterations 0 --out /tmp/x.md --json /tmp/x.json")
BASELINE = f"""The built-in model before any fine-tuning: the `base` row that `npm run study` computes from the frozen
model before it trains (here from `{RUN_COMMAND}`, the learnability run below).

- Validation loss **13.909** nats per completion token (all 200 validation rows, 1602 tokens; the engine gives
  13.9086, the float32 reference forward of `scripts/measure_task_baselines.py` 13.909). By part
  (`/usr/bin/python3 scripts/measure_task_baselines.py public/datasets/verses --next-word`): the ` ####`
  marker 18.45 (5 of the ~8 completion tokens), the answer word after it 5.24, `<|eos|>` 8.62; everything
  but the marker 6.37.
- Exact match **0/100** on the first 100 validation rows (greedy): no generation has a `####`; 62 are
  empty (the model ends its answer at once), the rest go on in KJV prose.
- What the model knows before it learns the format: its greedy next word after the bare verse text (no
  `Question:`, no `####`), as in pretraining, is the answer for 40/200 validation rows (20.0 %; same
  script): what a method would score by learning the format alone.
"""
LEARNABILITY = f"""One check, short, on a machine shared with other jobs (2 CPU cores, SwiftShader; load average 4.4 at
the start): `{RUN_COMMAND}` (both methods trained on identical batches, cosine schedule with 1 warm-up
step, clip 1, no weight decay, batch 8 × 64 tokens; PiSSA rank 8 = alpha on the 7 projections of the 4
layers), 6.2 minutes of wall time.

| method | lr | steps | validation loss (24 rows) at 0 / 20 / 40 | final validation loss (200 rows) | exact match (100) | with a `####` |
|---|---:|---:|---|---:|---:|---:|
| base | – | 0 | 14.775 | 13.909 | 0 | 0 |
| full | 1e-3 | 40 | 14.775 / 1.497 / 1.109 | 1.199 | 0 | 100 |
| PiSSA | 2e-3 | 40 | 14.775 / 4.117 / 3.833 | 3.803 | 0 | 96 |

Both learn the ` #### word` format within 40 steps (the loss drop is mostly the marker and `<|eos|>`), but
after 40 steps both answer a few words whatever the verse (full: "Israel" 35 times, "cloth" 32; PiSSA:
"you" 29, "question" 12): they have not yet connected the question format to the next-word knowledge the
base model shows on the bare text (20 %). So the base accuracy in the study's format is 0 (not the 20 %
of the bare text), and 40 steps do not lift it; longer runs (the arithmetic task's 100 steps, the study's
200) have not been tried on this task yet.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--heldout", default=HELDOUT)
    args = ap.parse_args()
    tokenizer = os.path.join(MODEL_DIR, "tokenizer.json")
    if not os.path.exists(tokenizer):
        sys.exit(f"{tokenizer} not found: the token lengths need the built-in model's tokenizer")
    tok = pretraining.ByteBPE.from_tokenizer_json(tokenizer)

    def n_tokens(ex: dict) -> int:
        return len(tok.encode(render(ex))) + 2  # + <|bos|>, <|eos|>

    train_verses, heldout_verses, held_chapters = split_corpus()
    pool = candidates(train_verses, n_tokens)
    picked = random.Random(SEED).sample(range(len(pool)), N_TRAIN + N_VALIDATION)
    # Kept in draw order, so that the first rows of a file (the studio's and study's accuracy and
    # validation subsets) are a random sample, not Genesis.
    train = [pool[i] for i in picked[:N_TRAIN]]
    val = [pool[i] for i in picked[N_TRAIN:]]
    assert not {e["question"] for e in train} & {e["question"] for e in val}
    held_refs = {f"{b} {c}:" for b, c in held_chapters}
    assert not any(e["ref"].rsplit(":", 1)[0] + ":" in held_refs for e in train + val)

    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("train", train), ("validation", val)):
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for ex in rows:
                f.write(json.dumps({"question": ex["question"], "answer": ex["answer"]}, ensure_ascii=False) + "\n")
    sample = heldout_sample(heldout_verses)
    with open(args.heldout, "w", encoding="utf-8") as f:
        f.write("\n\n".join(text for _, text in sample) + "\n")

    stats = {
        "pool": len(pool),
        "train_verses": len(train_verses),
        "lengths": [n_tokens(e) for e in train + val],
        "answer_tokens": [len(tok.encode(" " + final_answer(e["answer"]))) for e in train + val],
        "completion_tokens": [len(tok.encode(" " + e["answer"])) + 1 for e in train + val],
        "heldout_verses": len(sample),
        "heldout_all": len(heldout_verses),
        "heldout_tokens": sum(len(tok.encode(t)) + 2 for _, t in sample),
        "heldout_bytes": os.path.getsize(args.heldout),
        "held_chapters": held_chapters,
        "version": pretraining.package_version("bible-kjv-text"),
    }
    write_card(args.out, train, val, stats)
    lengths = stats["lengths"]
    print(f"wrote {len(train)} train and {len(val)} validation examples to {args.out} (pool {len(pool)}; tokens "
          f"{min(lengths)}–{max(lengths)}, mean {sum(lengths) / len(lengths):.1f}); {len(sample)} held-out verses, "
          f"{stats['heldout_bytes']} bytes, {stats['heldout_tokens']} tokens, to {args.heldout}")


def write_card(out, train, val, stats):
    lengths, answer_tokens, completion = stats["lengths"], stats["answer_tokens"], stats["completion_tokens"]
    answers = collections.Counter(final_answer(e["answer"]) for e in val)
    top = ", ".join(f"\"{w}\" {n}" for w, n in answers.most_common(5))
    top_word, top_n = answers.most_common(1)[0]
    examples = "\n".join(json.dumps({"question": e["question"], "answer": e["answer"]}, ensure_ascii=False) for e in train[:3])
    refs = ", ".join(e["ref"] for e in train[:3])
    baseline = BASELINE
    card = f"""# KJV verse endings (built-in)

Complete a King James verse: the question is a verse without its last word, the answer is that word.
Generated by `scripts/make_verse_task.py` from the built-in model's own pretraining corpus, so it is the
task closest to what `kjv-llama-1m` already knows: the verses are from the chapters it was trained on
(none from its 20 held-out chapters), and the answer is its next-word prediction, asked in a question
format it has to learn.

## Files

| file | rows |
|---|---:|
| `train.jsonl` | {len(train)} |
| `validation.jsonl` | {len(val)} |

One JSON object per line, with the math set's (GSM8K's) two fields; `answer` is `#### <word>`:

```json
{examples}
```

(these are {refs}).

## Scoring

Exact match of the final answer, as for the math set (`src/io/questionAnswer.ts`): the rest of the line
after the first `####` in the generated answer, stripped, compared as a string (case-sensitive: `LORD`
is not `Lord`) with the reference word. A generation without `####` is wrong.

## Use in Adapter Studio

Rendered as the studio renders `{{question, answer}}` rows: prompt `Question: {{question}}\\nAnswer:` and
completion ` {{answer}}` followed by `<|eos|>` (with `<|bos|>` first); the loss counts the completion only.

## Tokens (the built-in model's tokenizer)

- A rendered example is {min(lengths)}–{max(lengths)} tokens (mean {sum(lengths) / len(lengths):.1f}); verses
  whose row would reach {MAX_TOKENS} are left out, so a sequence length of {MAX_TOKENS} never truncates.
- The completion (` #### word` + `<|eos|>`) is {min(completion)}–{max(completion)} tokens (mean
  {sum(completion) / len(completion):.2f}): the 5 tokens of ` ####` (`#` never occurs in the KJV, so it
  starts with a very high loss and is learned in the first steps), the word in {min(answer_tokens)}–{max(answer_tokens)}
  tokens (mean {sum(answer_tokens) / len(answer_tokens):.2f}), and `<|eos|>`.
- Most common validation answers: {top}.

## Baseline

{baseline}- Always answering the most common validation answer ("{top_word}") would score {top_n}/{len(val)}
  ({100 * top_n / len(val):.1f} %).

## Learnability

{LEARNABILITY}
## How it was made

- Corpus: the King James Version from Debian's `bible-kjv-text` {stats['version']}, read with `bible -f
  Gen1:1-Rev22:21` (one verse per line; references stripped), split into the model's training and
  held-out chapters by `scripts/make_default_model.py`'s own `split_chapters` (its seed).
- Of the {stats['train_verses']} training verses, {stats['pool']} are usable: the last word is letters only
  (at least two), optionally followed by `.,;:?!` (dropped from the answer); the row stays under
  {MAX_TOKENS} tokens; and no other verse starts with the same words but ends differently (verses whose
  text repeats are kept once).
- Deterministic: Python's `random.Random({SEED})` draws {len(train) + len(val)} distinct verses from that
  pool, the first {len(train)} for train and the rest for validation, each file in the order drawn (so
  its first rows are a random sample of the Bible, not Genesis). `/usr/bin/python3 scripts/make_verse_task.py` rewrites this folder and
  `public/models/kjv-llama-1m/heldout.txt` byte for byte.

## The held-out sample for forgetting

The same script writes `public/models/kjv-llama-1m/heldout.txt`: {stats['heldout_verses']} of the
{stats['heldout_all']} verses of the model's held-out chapters ({', '.join(f'{b} {c}' for b, c in stats['held_chapters'])}),
drawn with seed {SEED + 2} up to {HELDOUT_CHARS // 1000} KB and kept in canonical order, one verse per paragraph
({stats['heldout_bytes']:,} bytes, {stats['heldout_tokens']:,} tokens with `<|bos|>`/`<|eos|>`). See the model card.

## License

The KJV text is in the public domain (in the United Kingdom the Authorized Version remains under a
Crown patent); the task rows derived from it are dedicated to the public domain (CC0-1.0).
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


if __name__ == "__main__":
    main()
