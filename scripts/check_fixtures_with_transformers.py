#!/usr/bin/env python3
"""Checks the fixtures of scripts/make_fixtures.py against Hugging Face transformers.

For each fixture folder in test/fixtures/ (or the folders named on the command line) this
loads the folder with transformers.AutoModelForCausalLM.from_pretrained (float32, eager
attention, local files only), runs reference.json's ids and prints the largest absolute
differences from the float64 reference: logits, batch loss (labels = ids, HF's shifted mean
cross-entropy), each sequence's loss (run alone), and the first sequence's hidden states after
the embedding and after layer 0. It also fails when loading reported missing, unexpected or
mismatched tensors (a missing tensor would otherwise be silently initialised at random).

tiny-llama-sharded has no reference.json of its own: it holds tiny-llama's tensors, so it is
checked against tiny-llama/reference.json (which also proves the sharded files load alike).

Exit status 1 when any logits or hidden state differs by more than 1e-4 or any loss by more
than 1e-5, or a folder fails to load cleanly. Needs torch, transformers >= 4.40 (>= 4.50 for
tiny-gemma3, >= 4.51 for tiny-qwen3) and the safetensors package; no network.

Usage: python scripts/check_fixtures_with_transformers.py [FOLDER ...]
"""

import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
LOGITS_TOL = 1e-4
HIDDEN_TOL = 1e-4
LOSS_TOL = 1e-5
# Folders whose reference lives in another folder (same tensors, different file layout).
REFERENCE_OF = {"tiny-llama-sharded": "tiny-llama"}


def version_tuple(v):
    out = []
    for part in v.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def load(folder):
    kwargs = dict(attn_implementation="eager", local_files_only=True, output_loading_info=True)
    # transformers 4.56 renamed torch_dtype to dtype (torch_dtype still works, with a warning).
    if version_tuple(transformers.__version__) >= (4, 56):
        kwargs["dtype"] = torch.float32
    else:
        kwargs["torch_dtype"] = torch.float32
    result = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    model, info = result if isinstance(result, tuple) else (result, {})
    problems = {k: list(v) for k, v in (info or {}).items()
                if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and len(v) > 0}
    return model.eval(), problems


def max_abs(a, b):
    return (a.double() - torch.tensor(b, dtype=torch.float64)).abs().max().item()


def check(folder):
    name = os.path.basename(os.path.normpath(folder))
    ref_dir = os.path.join(os.path.dirname(os.path.normpath(folder)), REFERENCE_OF.get(name, name))
    with open(os.path.join(ref_dir, "reference.json")) as f:
        ref = json.load(f)
    model, problems = load(folder)
    ids = torch.tensor(ref["ids"], dtype=torch.long)
    ok = True
    lines = []
    if problems:
        ok = False
        lines.append(f"  loading problems: {problems}")
    if model.dtype != torch.float32:
        ok = False
        lines.append(f"  model dtype {model.dtype}, expected float32")

    with torch.no_grad():
        out = model(input_ids=ids, labels=ids, output_hidden_states=True, use_cache=False)
        per_seq = [model(input_ids=ids[b:b + 1], labels=ids[b:b + 1], use_cache=False).loss.item()
                   for b in range(ids.shape[0])]

    d_logits = max_abs(out.logits, ref["logits"])
    d_loss = abs(out.loss.item() - ref["loss"])
    d_seq = max(abs(a - b) for a, b in zip(per_seq, ref["loss_per_sequence"]))
    d_h0 = max_abs(out.hidden_states[0][0], ref["hidden_states_seq0"]["after_embedding"])
    d_h1 = max_abs(out.hidden_states[1][0], ref["hidden_states_seq0"]["after_layer0"])
    ok &= d_logits <= LOGITS_TOL and d_loss <= LOSS_TOL and d_seq <= LOSS_TOL
    ok &= d_h0 <= HIDDEN_TOL and d_h1 <= HIDDEN_TOL
    print(f"{name:20s} {'OK  ' if ok else 'FAIL'} logits {d_logits:.3e}  loss {d_loss:.3e}  "
          f"loss/seq {d_seq:.3e}  hidden[emb] {d_h0:.3e}  hidden[layer0] {d_h1:.3e}  "
          f"(HF loss {out.loss.item():.9f}, ref {ref['loss']:.9f})")
    for line in lines:
        print(line)
    return ok


def main():
    folders = sys.argv[1:] or sorted(
        os.path.join(FIXTURES, d) for d in os.listdir(FIXTURES)
        if os.path.isfile(os.path.join(FIXTURES, d, "config.json")))
    print(f"torch {torch.__version__}, transformers {transformers.__version__}; tolerances: "
          f"logits/hidden {HIDDEN_TOL}, loss {LOSS_TOL}")
    results = [check(f) for f in folders]
    if not folders or not all(results):
        print("FAILED")
        sys.exit(1)
    print(f"all {len(folders)} fixtures match transformers")


if __name__ == "__main__":
    main()
