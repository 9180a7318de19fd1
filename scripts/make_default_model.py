#!/usr/bin/python3
"""Build Adapter Studio's built-in default model, ``public/models/kjv-llama-1m``.

Reproducible end to end with a fixed seed:

  1. corpus: the King James Bible from Debian's ``bible-kjv-text`` package (public domain; the
     package's copyright file says the text's copyright has expired), dumped verse by verse with
     the ``bible`` program from Debian's ``bible-kjv`` package;
  2. tokenizer: a byte-level BPE trained here in pure Python (GPT-2 pre-tokenizer regex,
     GPT-2 byte-to-unicode alphabet), written as a Hugging Face ``tokenizer.json``;
  3. model: a tiny LlamaForCausalLM (RMSNorm, RoPE, SwiGLU, grouped-query attention) pretrained
     on the CPU with Debian's ``python3-torch``;
  4. output: config.json, generation_config.json, model.safetensors (F32, Hugging Face key
     names, written by hand: no pickle), tokenizer.json, tokenizer_config.json, README.md (the
     model card, filled in from this run), training_log.csv, and the engine check fixture
     ``test/fixtures/default-model-reference.json`` (float64 logits from this file's reference
     forward).

Usage (as root, or with sudo for the apt step):

  apt-get install -y python3-torch python3-numpy python3-regex libopenblas0-serial \
      bible-kjv bible-kjv-text
  nice -n 19 /usr/bin/python3 scripts/make_default_model.py  # full run, ~50 min on 2 busy cores
  /usr/bin/python3 scripts/make_default_model.py --steps 20 --out /tmp/x  # smoke test (writes
      # /tmp/x/reference.json instead of the test fixture)

Everything runs on one CPU thread (``torch.set_num_threads(1)``) so that the result is
deterministic for a given machine and torch build.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import os
import platform
import random
import struct
import subprocess
import sys
import time

import numpy as np
import regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "kjv-llama-1m"
SEED = 1611

# ---------------------------------------------------------------------------------------------
# Hyper-parameters (all of them; the model card is written from these).
VOCAB_SIZE = 1024  # 3 special + 256 bytes + 765 merges
SPECIAL = ["<|pad|>", "<|bos|>", "<|eos|>"]
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
MODEL = dict(
    hidden_size=128,
    intermediate_size=352,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    initializer_range=0.02,
)
TRAIN = dict(
    seq_len=128,
    batch_size=16,
    steps=3200,
    warmup_steps=150,
    lr=3e-3,
    min_lr_ratio=0.1,
    weight_decay=0.1,
    betas=(0.9, 0.95),
    grad_clip=1.0,
    eval_every=200,
    val_fraction=0.02,  # of chapters, hence about 2% of the verses
    patience=6,  # evaluations without a 0.2% improvement of the best validation loss
)

GPT2_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
PRETOKENIZE = regex.compile(GPT2_PATTERN)


# ---------------------------------------------------------------------------------------------
# Corpus
def package_version(pkg: str) -> str:
    try:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_kjv() -> list[tuple[str, int, int, str]]:
    """All 31,102 verses as (book, chapter, verse, text), in canonical order."""
    if not os.path.exists("/usr/lib/bible.data"):
        sys.exit("bible-kjv-text is not installed: apt-get install -y bible-kjv bible-kjv-text")
    # -f turns pretty-printing off: one verse per line, "Ge1:1 In the beginning ...".
    out = subprocess.run(
        ["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True, cwd="/tmp"
    ).stdout
    ref = regex.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
    verses = []
    for line in out.splitlines():
        if not line.strip():
            continue
        m = ref.match(line)
        if not m:
            sys.exit(f"unexpected line from bible: {line!r}")
        verses.append((m.group(1), int(m.group(2)), int(m.group(3)), m.group(4).strip()))
    if len(verses) != 31102:
        sys.exit(f"expected 31102 verses, got {len(verses)}")
    return verses


def split_chapters(verses, fraction: float, seed: int):
    """Hold out whole chapters (seeded) so validation text is never seen in training."""
    chapters = list(dict.fromkeys((b, c) for b, c, _, _ in verses))
    rng = random.Random(seed)
    held = set()
    target = fraction * len(verses)
    count = collections.Counter((b, c) for b, c, _, _ in verses)
    order = chapters[:]
    rng.shuffle(order)
    n = 0
    for ch in order:
        if n >= target:
            break
        held.add(ch)
        n += count[ch]
    train = [v[3] for v in verses if (v[0], v[1]) not in held]
    val = [v[3] for v in verses if (v[0], v[1]) in held]
    return train, val, sorted(held, key=chapters.index)


# ---------------------------------------------------------------------------------------------
# Byte-level BPE (the GPT-2 scheme, as Hugging Face `tokenizers` implements it)
def bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def pretokenize(text: str) -> list[str]:
    """GPT-2 regex split, then each piece's UTF-8 bytes mapped to the byte alphabet."""
    return ["".join(BYTE_TO_CHAR[b] for b in p.encode("utf-8")) for p in PRETOKENIZE.findall(text)]


def train_bpe(texts: list[str], n_merges: int) -> list[tuple[str, str]]:
    """Classic BPE training on pre-token counts; ties break on the smallest pair (deterministic)."""
    counts = collections.Counter()
    for t in texts:
        counts.update(pretokenize(t))
    words = [list(w) for w in counts]
    freqs = [counts[w] for w in counts]
    pair_counts: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_counts[(a, b)] += freqs[i]
            where[(a, b)].add(i)
    merges = []
    for _ in range(n_merges):
        if not pair_counts:
            break
        best = max(pair_counts.items(), key=lambda kv: (kv[1], _neg(kv[0])))[0]
        if pair_counts[best] < 2:
            break
        merges.append(best)
        a, b = best
        for i in list(where[best]):
            w = words[i]
            f = freqs[i]
            for x, y in zip(w, w[1:]):
                pair_counts[(x, y)] -= f
                if pair_counts[(x, y)] <= 0:
                    del pair_counts[(x, y)]
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pair_counts[(x, y)] += f
                where[(x, y)].add(i)
        where.pop(best, None)
    return merges


class _neg:
    """Orders strings in reverse so that max() picks the lexicographically smallest pair."""

    def __init__(self, pair):
        self.pair = pair

    def __lt__(self, other):
        return self.pair > other.pair

    def __eq__(self, other):
        return self.pair == other.pair


class ByteBPE:
    """Encoder equivalent to the tokenizer.json this script writes (checked against
    @huggingface/tokenizers in Node)."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.vocab = vocab
        self.inv = {i: t for t, i in vocab.items()}
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.cache: dict[str, list[int]] = {}

    @classmethod
    def from_tokenizer_json(cls, path: str) -> "ByteBPE":
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
        return cls(tj["model"]["vocab"], merges)

    def _bpe(self, piece: str) -> list[int]:
        hit = self.cache.get(piece)
        if hit is not None:
            return hit
        w = list(piece)
        while len(w) > 1:
            best = None
            for k in range(len(w) - 1):
                r = self.ranks.get((w[k], w[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            a, b = w[best[1]], w[best[1] + 1]
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            w = out
        ids = [self.vocab[t] for t in w]
        self.cache[piece] = ids
        return ids

    def encode(self, text: str, add_bos: bool = False) -> list[int]:
        ids = [BOS_ID] if add_bos else []
        for p in pretokenize(text):
            ids.extend(self._bpe(p))
        return ids

    def decode(self, ids: list[int]) -> str:
        s = "".join(self.inv[i] for i in ids if i >= len(SPECIAL))
        return bytes(CHAR_TO_BYTE[c] for c in s).decode("utf-8", errors="replace")


def build_vocab(merges):
    vocab = {t: i for i, t in enumerate(SPECIAL)}
    for b in range(256):
        vocab[BYTE_TO_CHAR[b]] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return vocab


CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}Question: {{ message['content'] }}\n"
    "{% else %}Answer: {{ message['content'] }}{{ eos_token }}\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Answer:{% endif %}"
)


def tokenizer_json(vocab, merges) -> dict:
    added = [
        dict(id=i, content=t, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
        for i, t in enumerate(SPECIAL)
    ]
    bos = SPECIAL[BOS_ID]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        # Like Llama 3: encode() prepends <|bos|> unless add_special_tokens is false.
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [BOS_ID], "tokens": [bos]}},
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


def tokenizer_config() -> dict:
    decoder = {
        str(i): dict(content=t, lstrip=False, normalized=False, rstrip=False, single_word=False, special=True)
        for i, t in enumerate(SPECIAL)
    }
    return {
        "added_tokens_decoder": decoder,
        "bos_token": SPECIAL[BOS_ID],
        "eos_token": SPECIAL[EOS_ID],
        "pad_token": SPECIAL[PAD_ID],
        "clean_up_tokenization_spaces": False,
        "model_max_length": MODEL["max_position_embeddings"],
        "model_input_names": ["input_ids", "attention_mask"],
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }


# ---------------------------------------------------------------------------------------------
# Model: the Hugging Face Llama forward, written out (no transformers dependency).
def build_model(torch, dtype):
    nn = torch.nn
    F = torch.nn.functional
    c = MODEL
    H, I = c["hidden_size"], c["intermediate_size"]
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = H // nh

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(H, dtype=dtype))

        def forward(self, x):
            var = x.pow(2).mean(-1, keepdim=True)
            return self.weight * (x * torch.rsqrt(var + c["rms_norm_eps"]))

    def rotate_half(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat((-x2, x1), dim=-1)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(H, nh * hd, bias=False, dtype=dtype)
            self.k_proj = nn.Linear(H, nkv * hd, bias=False, dtype=dtype)
            self.v_proj = nn.Linear(H, nkv * hd, bias=False, dtype=dtype)
            self.o_proj = nn.Linear(nh * hd, H, bias=False, dtype=dtype)

        def forward(self, x, cos, sin, mask):
            B, T, _ = x.shape
            q = self.q_proj(x).view(B, T, nh, hd).transpose(1, 2)
            k = self.k_proj(x).view(B, T, nkv, hd).transpose(1, 2)
            v = self.v_proj(x).view(B, T, nkv, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rep = nh // nkv  # repeat_kv: query head h uses kv head h // rep
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            att = att.masked_fill(mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, nh * hd)
            return self.o_proj(y)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = nn.Linear(H, I, bias=False, dtype=dtype)
            self.up_proj = nn.Linear(H, I, bias=False, dtype=dtype)
            self.down_proj = nn.Linear(I, H, bias=False, dtype=dtype)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn = Attention()
            self.mlp = MLP()
            self.input_layernorm = RMSNorm()
            self.post_attention_layernorm = RMSNorm()

        def forward(self, x, cos, sin, mask):
            x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(VOCAB_SIZE, H, dtype=dtype)
            self.layers = nn.ModuleList([Layer() for _ in range(c["num_hidden_layers"])])
            self.norm = RMSNorm()

    class LlamaForCausalLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Inner()
            self.lm_head = nn.Linear(H, VOCAB_SIZE, bias=False, dtype=dtype)
            inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
            pos = torch.arange(c["max_position_embeddings"], dtype=torch.float64)
            freqs = torch.outer(pos, inv)
            emb = torch.cat((freqs, freqs), dim=-1)
            self.register_buffer("cos", emb.cos().to(dtype), persistent=False)
            self.register_buffer("sin", emb.sin().to(dtype), persistent=False)

        def forward(self, ids):
            T = ids.shape[1]
            x = self.model.embed_tokens(ids)
            cos, sin = self.cos[:T], self.sin[:T]
            mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1)
            for layer in self.model.layers:
                x = layer(x, cos, sin, mask)
            return self.lm_head(self.model.norm(x))

    model = LlamaForCausalLM()
    std = c["initializer_range"]
    n_layers = c["num_hidden_layers"]
    for name, p in model.named_parameters():
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            continue
        s = std
        if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
            s = std / math.sqrt(2 * n_layers)  # GPT-2 style residual scaling
        with torch.no_grad():
            p.normal_(0.0, s)
    return model


# ---------------------------------------------------------------------------------------------
# safetensors, written by hand: u64 LE header length, JSON header (padded to 8 bytes), data.
def write_safetensors(path: str, tensors: dict[str, np.ndarray], metadata: dict[str, str]):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype="<f4")
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            s, e = info["data_offsets"]
            f.seek(base + s)
            out[name] = np.frombuffer(f.read(e - s), dtype="<f4").reshape(info["shape"])
    return out


def hf_config() -> dict:
    c = MODEL
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB_SIZE,
        "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["hidden_size"] // c["num_attention_heads"],
        "hidden_act": "silu",
        "max_position_embeddings": c["max_position_embeddings"],
        "rope_theta": c["rope_theta"],
        "rope_scaling": None,
        "rms_norm_eps": c["rms_norm_eps"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "pretraining_tp": 1,
        "tie_word_embeddings": c["tie_word_embeddings"],
        "initializer_range": c["initializer_range"],
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "pad_token_id": PAD_ID,
        "torch_dtype": "float32",
        "use_cache": True,
    }


# ---------------------------------------------------------------------------------------------
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-serial"


def use_openblas():
    """Debian's torch calls whatever libblas.so.3 the alternatives system points at; the netlib
    reference BLAS is ~15x slower than OpenBLAS. Re-run this script with the single-threaded
    OpenBLAS from libopenblas0-serial first on the library path (the system default is left
    alone)."""
    if not os.path.isdir(OPENBLAS):
        return "the system's libblas.so.3"
    paths = os.environ.get("LD_LIBRARY_PATH", "").split(":")
    if OPENBLAS not in paths:
        env = dict(os.environ, LD_LIBRARY_PATH=":".join([OPENBLAS] + [p for p in paths if p]))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    return f"OpenBLAS {package_version('libopenblas0-serial')} (libopenblas0-serial)"


def main():
    blas = use_openblas()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "public", "models", NAME))
    ap.add_argument("--fixture", default=None,
                    help="where to write the float64 reference (default: test/fixtures/default-model-reference.json "
                         "when OUT is the default folder, else OUT/reference.json)")
    ap.add_argument("--steps", type=int, default=TRAIN["steps"], help="optimizer steps (default: %(default)s)")
    ap.add_argument("--log", default=None, help="also append progress lines to this file")
    ap.add_argument("--bench", action="store_true", help="time 20 steps and exit")
    ap.add_argument("--outputs-only", action="store_true",
                    help="skip training: reload OUT/model.safetensors and OUT/training_log.csv and "
                         "rewrite the other files (tokenizer, config, card, fixture)")
    args = ap.parse_args()
    TRAIN["steps"] = args.steps
    if args.fixture is None:
        default_out = os.path.abspath(os.path.join(ROOT, "public", "models", NAME))
        args.fixture = (os.path.join(ROOT, "test", "fixtures", "default-model-reference.json")
                        if os.path.abspath(args.out) == default_out else os.path.join(args.out, "reference.json"))
    t_start = time.time()

    logf = open(args.log, "a", encoding="utf-8") if args.log else None

    def log(msg: str):
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        if logf:
            logf.write(line + "\n")
            logf.flush()

    import torch

    torch.set_num_threads(1)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    # 1. corpus
    verses = load_kjv()
    train_verses, val_verses, held = split_chapters(verses, TRAIN["val_fraction"], SEED)
    log(f"corpus: {len(verses)} verses; train {len(train_verses)}, validation {len(val_verses)} "
        f"({len(held)} held-out chapters)")

    # 2. tokenizer (trained on the training verses only)
    merges = train_bpe(train_verses, VOCAB_SIZE - len(SPECIAL) - 256)
    vocab = build_vocab(merges)
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    tok = ByteBPE(vocab, merges)
    for s in ["In the beginning God created the heaven and the earth.", "Tom has 12 apples; 3.5% off!"]:
        assert tok.decode(tok.encode(s)) == s
    log(f"tokenizer: {len(merges)} merges, vocab {len(vocab)}")

    def stream(texts):
        ids = []
        for t in texts:
            ids.append(BOS_ID)
            ids.extend(tok.encode(t))
            ids.append(EOS_ID)
        return np.array(ids, dtype=np.int64)

    train_ids = stream(train_verses)
    val_ids = stream(val_verses)
    n_chars = sum(len(t) for t in train_verses)
    uni = np.bincount(train_ids, minlength=VOCAB_SIZE).astype(np.float64)
    uni_p = uni / uni.sum()
    vb = np.bincount(val_ids, minlength=VOCAB_SIZE).astype(np.float64)
    unigram_val = float(-(vb * np.log(np.maximum(uni_p, 1e-12))).sum() / vb.sum())
    log(f"tokens: train {len(train_ids)}, validation {len(val_ids)}; "
        f"{n_chars / (len(train_ids) - 2 * len(train_verses)):.2f} characters per text token")

    # 3. model
    model = build_model(torch, torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters")

    T, Bsz = TRAIN["seq_len"], TRAIN["batch_size"]
    rng = np.random.default_rng(SEED)
    n_val = (len(val_ids) - 1) // T
    val_x = torch.from_numpy(val_ids[: n_val * T].reshape(n_val, T))
    val_y = torch.from_numpy(val_ids[1 : n_val * T + 1].reshape(n_val, T))

    def batch():
        starts = rng.integers(0, len(train_ids) - T - 1, size=Bsz)
        x = np.stack([train_ids[s : s + T] for s in starts])
        y = np.stack([train_ids[s + 1 : s + T + 1] for s in starts])
        return torch.from_numpy(x), torch.from_numpy(y)

    F = torch.nn.functional

    @torch.no_grad()
    def evaluate():
        model.eval()
        tot = 0.0
        for i in range(0, n_val, 32):
            logits = model(val_x[i : i + 32])
            tot += F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), val_y[i : i + 32].reshape(-1), reduction="sum").item()
        model.train()
        return tot / (n_val * T)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": TRAIN["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=TRAIN["lr"], betas=TRAIN["betas"], eps=1e-8,
    )

    def lr_at(step):
        if step < TRAIN["warmup_steps"]:
            return TRAIN["lr"] * (step + 1) / TRAIN["warmup_steps"]
        p = (step - TRAIN["warmup_steps"]) / max(1, TRAIN["steps"] - TRAIN["warmup_steps"])
        r = TRAIN["min_lr_ratio"]
        return TRAIN["lr"] * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    if args.bench:
        t0 = time.time()
        for step in range(20):
            x, y = batch()
            loss = F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        dt = (time.time() - t0) / 20
        log(f"bench: {dt * 1000:.0f} ms/step, {Bsz * T / dt:.0f} tokens/s, loss {loss.item():.3f}")
        return

    os.makedirs(args.out, exist_ok=True)
    weights_path = os.path.join(args.out, "model.safetensors")
    log_path = os.path.join(args.out, "training_log.csv")
    if args.outputs_only:
        meta, history = read_run(weights_path, log_path)
        steps_done = int(meta["steps"])
        stopped_early = meta["stopped_early"] == "true"
        train_seconds = float(meta["train_seconds"])
    else:
        history, steps_done, stopped_early, train_seconds = train(
            torch, model, opt, batch, evaluate, lr_at, log)
        # weights and curve first, so a failure below can be redone with --outputs-only
        state = {n: p.detach().cpu().numpy() for n, p in model.named_parameters()}
        meta = {"format": "pt", "steps": str(steps_done), "stopped_early": str(stopped_early).lower(),
                "train_seconds": f"{train_seconds:.1f}", "seed": str(SEED)}
        write_safetensors(weights_path, state, meta)
        with open(log_path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["step", "tokens", "train_loss", "validation_loss", "learning_rate", "seconds"])
            for row in history:
                w.writerow([row[0], row[1], "" if math.isnan(row[2]) else f"{row[2]:.4f}", f"{row[3]:.4f}",
                            f"{row[4]:.3e}", f"{row[5]:.0f}"])

    # 4. outputs
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config(), f, ensure_ascii=False, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config(), f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID}, f, indent=2)
        f.write("\n")

    # Reload the file just written and check it in float64 (also feeds the engine fixture).
    loaded = read_safetensors(os.path.join(args.out, "model.safetensors"))
    ref = build_model(torch, torch.float64)
    ref.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in loaded.items()})
    ref.eval()
    final_val64 = None
    with torch.no_grad():
        tot = 0.0
        for i in range(0, n_val, 32):
            logits = ref(val_x[i : i + 32])
            tot += F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), val_y[i : i + 32].reshape(-1), reduction="sum").item()
        final_val64 = tot / (n_val * T)
    write_fixture(torch, ref, tok, args.fixture)
    samples = sample_text(torch, ref, tok)
    log(f"float64 reload: validation loss {final_val64:.4f}")

    info = dict(
        n_params=n_params, steps=steps_done, stopped_early=stopped_early, train_seconds=train_seconds,
        total_seconds=time.time() - t_start, history=history, n_train_tokens=len(train_ids),
        n_val_tokens=len(val_ids), n_train_verses=len(train_verses), n_val_verses=len(val_verses),
        held=held, final_val64=final_val64, chars_per_token=n_chars / (len(train_ids) - 2 * len(train_verses)),
        torch_version=torch.__version__, samples=samples, blas=blas, unigram_val=unigram_val,
        spectra=spectra(loaded),
    )
    write_card(args.out, info)
    log(f"wrote {args.out}")


def train(torch, model, opt, batch, evaluate, lr_at, log):
    F = torch.nn.functional
    history = []  # (step, tokens, train_loss (mean since last eval), val_loss, lr, seconds)
    Bsz, T = TRAIN["batch_size"], TRAIN["seq_len"]
    best = float("inf")
    since_best = 0
    run_sum, run_n = 0.0, 0
    t_train = time.time()
    v0 = evaluate()
    history.append((0, 0, float("nan"), v0, 0.0, 0.0))
    log(f"step 0: validation loss {v0:.4f}")
    step = 0
    stopped_early = False
    for step in range(1, TRAIN["steps"] + 1):
        lr = lr_at(step - 1)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch()
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["grad_clip"])
        opt.step()
        lv = loss.item()
        if not math.isfinite(lv):
            sys.exit(f"non-finite loss at step {step}")
        run_sum += lv
        run_n += 1
        if step % TRAIN["eval_every"] == 0 or step == TRAIN["steps"]:
            v = evaluate()
            tl = run_sum / run_n
            run_sum, run_n = 0.0, 0
            el = time.time() - t_train
            history.append((step, step * Bsz * T, tl, v, lr, el))
            log(f"step {step}: train {tl:.4f} val {v:.4f} lr {lr:.2e} ({el / step * 1000:.0f} ms/step)")
            if v < best * (1 - 0.002):
                best, since_best = v, 0
            else:
                since_best += 1
                if since_best >= TRAIN["patience"]:
                    log("validation loss has plateaued: stopping early")
                    stopped_early = True
                    break
    return history, step, stopped_early, time.time() - t_train


def read_run(weights_path: str, log_path: str):
    with open(weights_path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    history = []
    with open(log_path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            history.append((int(r["step"]), int(r["tokens"]),
                            float(r["train_loss"]) if r["train_loss"] else float("nan"),
                            float(r["validation_loss"]), float(r["learning_rate"]), float(r["seconds"])))
    return meta, history


def write_fixture(torch, ref, tok: ByteBPE, path: str):
    texts = [
        "And God said, Let there be light: and there was light.",
        "Question: Sam has 12 apples and buys 7 more. How many apples does he have?\nAnswer: 12 + 7 = 19\n#### 19",
    ]
    seqs = []
    F = torch.nn.functional
    with torch.no_grad():
        for t in texts:
            ids = [BOS_ID] + tok.encode(t)
            x = torch.tensor([ids])
            logits = ref(x)[0]
            loss = F.cross_entropy(logits[:-1], x[0, 1:]).item()
            first = logits[:8].tolist()
            seqs.append({
                "text": t,
                "input_ids": ids,
                "loss": float(f"{loss:.9g}"),
                "logits_first_positions": [[float(f"{v:.6g}") for v in row] for row in first],
            })
    fixture = {
        "description": (
            f"Reference for public/models/{NAME}: float64 forward of the Hugging Face Llama architecture "
            "(scripts/make_default_model.py) on the F32 weights in model.safetensors. input_ids start "
            "with <|bos|> (what the tokenizer's post-processor adds). logits_first_positions holds the "
            "logits of positions 0..7 over the whole vocabulary, rounded to 6 significant digits; loss "
            "is the mean next-token cross-entropy over all positions of the sequence (natural log)."
        ),
        "model": f"public/models/{NAME}",
        "vocab_size": VOCAB_SIZE,
        "sequences": seqs,
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


def sample_text(torch, ref, tok: ByteBPE) -> list[tuple[str, str]]:
    """Greedy continuations, for the card (deterministic)."""
    out = []
    with torch.no_grad():
        for prompt in ["In the beginning", "And Jesus said unto them,", "The LORD is my"]:
            ids = [BOS_ID] + tok.encode(prompt)
            for _ in range(40):
                nxt = int(ref(torch.tensor([ids]))[0, -1].argmax())
                if nxt == EOS_ID:
                    break
                ids.append(nxt)
            out.append((prompt, tok.decode(ids[1 + len(tok.encode(prompt)) :])))
    return out


def spectra(weights: dict[str, np.ndarray], rank: int = 8) -> list[tuple]:
    """Per projection type, averaged over layers: share of the squared Frobenius norm in the top
    `rank` singular values, and sigma_1 / median sigma; the same for a Gaussian matrix of that shape
    (what an untrained layer looks like)."""
    rng = np.random.default_rng(SEED)
    rows = []
    for kind in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]:
        mats = [w for n, w in weights.items() if n.endswith(kind + ".weight")]
        def stats(m):
            sv = np.linalg.svd(m.astype(np.float64), compute_uv=False)
            return (sv[:rank] ** 2).sum() / (sv ** 2).sum(), sv[0] / np.median(sv)
        trained = np.mean([stats(m) for m in mats], axis=0)
        rand = stats(rng.standard_normal(mats[0].shape))
        rows.append((kind.split(".")[1], "x".join(map(str, mats[0].shape)), trained[0], rand[0], trained[1], rand[1]))
    return rows


def write_card(out: str, info: dict):
    c = MODEL
    hist = info["history"]
    last = hist[-1]
    rows = []
    # a short loss table: about a dozen rows of the evaluation history
    stride = max(1, (len(hist) - 1) // 12)
    picked = list(range(0, len(hist), stride))
    if picked[-1] != len(hist) - 1:
        picked.append(len(hist) - 1)
    for i in picked:
        s, tk, tl, vl, lr, sec = hist[i]
        rows.append(f"| {s} | {tk / 1e6:.2f} | {'–' if math.isnan(tl) else f'{tl:.3f}'} | {vl:.3f} | {sec / 60:.1f} |")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    hd = c["hidden_size"] // c["num_attention_heads"]
    per_layer = (
        c["hidden_size"] * (c["num_attention_heads"] + 2 * c["num_key_value_heads"]) * hd
        + c["num_attention_heads"] * hd * c["hidden_size"]
        + 3 * c["hidden_size"] * c["intermediate_size"]
        + 2 * c["hidden_size"]
    )
    samples = "\n".join(f"- **{p}**{s}".replace("\n", " ") for p, s in info["samples"])
    spec = "\n".join(f"| `{k}` | {shape} | {a:.0%} | {b:.0%} | {c:.1f} | {d:.1f} |" for k, shape, a, b, c, d in info["spectra"])
    T = TRAIN
    card = f"""---
license: other
license_name: public-domain-text
language: en
library_name: transformers
pipeline_tag: text-generation
tags: [llama, tiny, kjv, adapter-studio]
---

# {NAME}

A tiny Llama-architecture language model pretrained from scratch on the King James Bible. It is
Adapter Studio's built-in default model: small enough that a few fine-tuning steps of every
adapter method run in CI on software WebGPU, but genuinely trained (to a converged loss), so its
weight matrices have the decaying singular-value spectra of a trained model rather than the flat
spectra of random ones (the premise of PiSSA's principal-component initialisation).

It is a toy: it writes KJV-flavoured English, knows nothing else, and cannot do arithmetic before
fine-tuning.

## Architecture

`LlamaForCausalLM` in Hugging Face layout (`config.json`, `model.safetensors`, `tokenizer.json`,
`tokenizer_config.json`):

| | |
|---|---|
| parameters | {info['n_params']:,} (embeddings {VOCAB_SIZE * c['hidden_size']:,}, `lm_head` {VOCAB_SIZE * c['hidden_size']:,} untied, {per_layer:,} per layer) |
| layers | {c['num_hidden_layers']} |
| hidden size | {c['hidden_size']} |
| attention | {c['num_attention_heads']} query heads, {c['num_key_value_heads']} key/value heads (grouped-query), head dim {hd}, no biases |
| MLP | SwiGLU, intermediate size {c['intermediate_size']} (`down(silu(gate(x)) * up(x))`) |
| norm | RMSNorm, eps {c['rms_norm_eps']} |
| positions | RoPE (rotate-half), theta {c['rope_theta']:g}, max {c['max_position_embeddings']} positions |
| vocabulary | {VOCAB_SIZE} |
| weights | `model.safetensors`, F32, {info['n_params'] * 4 / 1e6:.1f} MB |

## Tokenizer

Byte-level BPE (the GPT-2 scheme: GPT-2 pre-tokenizer regex, bytes mapped to printable
characters), {VOCAB_SIZE - 259} merges trained by the script on the training verses; vocabulary =
3 special tokens + 256 bytes + merges. Any UTF-8 text encodes (no unknown token). The corpus has no
digits, so numbers are spelled digit by digit. Special tokens: `<|pad|>` = 0, `<|bos|>` = 1,
`<|eos|>` = 2. Like Llama 3, the post-processor prepends `<|bos|>` unless special tokens are
turned off. The chat template renders `Question: …` / `Answer: …<|eos|>` lines after `<|bos|>`.
On the training text a token covers {info['chars_per_token']:.2f} characters on average.

## Training data

- **Corpus:** the King James Version (Authorized Version, 1611 text) from Debian's
  `bible-kjv-text` package, version {package_version('bible-kjv-text')} (Debian bookworm), read
  with the `bible` program of `bible-kjv` {package_version('bible-kjv')} (`bible -f Gen1:1-Rev22:21`:
  one verse per line; the verse references are stripped).
- **License:** the text is in the public domain (the package's copyright file: "The copyright for
  the King James Version text of the Bible is expired"). In the United Kingdom the Authorized
  Version remains under a perpetual Crown patent; elsewhere it is free to use. The retrieval
  software in those packages is GPL-2+ but none of it is part of this model.
- **Format:** every verse becomes `<|bos|>` + verse text + `<|eos|>`, concatenated in canonical
  order; training reads random {T['seq_len']}-token windows of that stream.
- **Split:** {len(info['held'])} whole chapters chosen with the seed are held out for validation
  ({info['n_val_verses']} verses, {info['n_val_tokens']:,} tokens, about {T['val_fraction']:.0%}); the remaining
  {info['n_train_verses']} verses ({info['n_train_tokens']:,} tokens) are the training set. Held-out chapters:
  {', '.join(f'{b} {ch}' for b, ch in info['held'])}.

## Training

- Script: `scripts/make_default_model.py`, seed {SEED}, Python {platform.python_version()} with Debian's
  `python3-torch` {package_version('python3-torch')} (torch {info['torch_version']}) on the CPU ({cpu}), one thread, float32,
  BLAS: {info['blas']}.
- AdamW (betas {T['betas'][0]}, {T['betas'][1]}; weight decay {T['weight_decay']} on matrices only), peak learning rate
  {T['lr']:g}, {T['warmup_steps']} warm-up steps then cosine decay to {T['min_lr_ratio']:g}× over {T['steps']} steps, gradient
  clipping at {T['grad_clip']}, batch {T['batch_size']} × {T['seq_len']} tokens. Init: normal(0, 0.02), output projections
  (`o_proj`, `down_proj`) scaled by 1/sqrt(2 × layers).
- Ran {info['steps']} steps{' (stopped early: validation loss plateaued)' if info['stopped_early'] else ''},
  {info['steps'] * T['batch_size'] * T['seq_len'] / 1e6:.2f} M tokens seen (about
  {info['steps'] * T['batch_size'] * T['seq_len'] / info['n_train_tokens']:.1f} passes over the training set), in
  {info['train_seconds'] / 60:.1f} minutes of wall time on a 2-core machine shared with other jobs (at `nice 19`).

## Results

Final training loss (mean of the last {T['eval_every']} steps) **{last[2]:.3f}**, validation loss **{last[3]:.3f}**
nats per token (float64 forward of the saved F32 weights: {info['final_val64']:.4f}); a unigram model would
score {info['unigram_val']:.2f} on the validation set and a uniform one ln({VOCAB_SIZE}) = {math.log(VOCAB_SIZE):.2f}.

| step | tokens (M) | train loss | validation loss | minutes |
|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

The full curve (every {T['eval_every']} steps) is in `training_log.csv`. Over the last
{2 * T['eval_every']} steps the validation loss fell by only {hist[-3][3] - last[3]:.3f} ({(hist[-3][3] - last[3]) / hist[-3][3]:.1%}) while the gap between
training and validation loss kept widening ({hist[-3][3] - hist[-3][2]:.3f} to {last[3] - last[2]:.3f}): the model has converged for its size and
more passes over the corpus would mostly memorise it.

Singular values of the trained projections (mean over the {c['num_hidden_layers']} layers) against a Gaussian
random matrix of the same shape: the share of the squared norm in the top 8 singular values (rank 8 is
the adapters' default) and the ratio of the largest to the median singular value.

| projection | shape | top-8 energy, trained | top-8 energy, random | σ₁ / median σ, trained | σ₁ / median σ, random |
|---|---|---:|---:|---:|---:|
{spec}

Greedy continuations after `<|bos|>`:

{samples}

## Reproduce

```sh
apt-get install -y python3-torch python3-numpy python3-regex libopenblas0-serial bible-kjv bible-kjv-text
nice -n 19 /usr/bin/python3 scripts/make_default_model.py
```

The script rewrites this folder (and `test/fixtures/default-model-reference.json`, float64 logits
for checking the engine's forward pass). Everything is seeded and single-threaded, so the same
machine and torch/BLAS build should give the same weights; other CPUs or builds give a model of
the same quality with slightly different weights (floating-point summation order differs).
`--outputs-only` rewrites everything but the weights and `training_log.csv` from those two files.
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


if __name__ == "__main__":
    main()
