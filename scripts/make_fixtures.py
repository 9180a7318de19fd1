#!/usr/bin/env python3
"""Tiny Hugging Face model folders with float64 reference logits, for the engine's tests.

Writes test/fixtures/tiny-<name>/ {config.json, model.safetensors, reference.json} for
  tiny-gpt2   GPT2LMHeadModel   F32 weights, keys with the `transformer.` prefix, tied lm_head
  tiny-llama  LlamaForCausalLM  F32 weights, GQA (H=4, KV=2), untied lm_head
  tiny-qwen2  Qwen2ForCausalLM  BF16 weights, GQA, q/k/v biases, tied lm_head, rope_theta 1e6
  tiny-qwen3  Qwen3ForCausalLM  BF16 weights, GQA, head_dim 16 with hidden 32 (H·D ≠ C), per-head
                                q/k RMSNorm before RoPE, no biases, tied lm_head
  tiny-gemma3 Gemma3ForCausalLM BF16 weights (model_type gemma3_text), GQA, head_dim 24 with
                                hidden 64, embedding × √C, (1 + w) RMSNorms before and after
                                attention and MLP, per-head q/k norm, gated gelu_pytorch_tanh MLP,
                                scale query_pre_attn_scalar^−½, sliding (window 5 < T) and global
                                layers with their own RoPE bases, tied lm_head
and tiny-llama-sharded/ (tiny-llama's tensors split over two shards plus
model.safetensors.index.json; its reference is tiny-llama/reference.json).

The forward passes below are written from the math of each architecture (not copied from
transformers) and run in float64 on the weights exactly as stored (F32 or BF16 values upcast
to float64), so a reference is exact for the file next to it up to float64 rounding.
scripts/check_fixtures_with_transformers.py runs the same folders through transformers.

Shapes (ARCHITECTURE.md letters): B sequences, T tokens, C width, V vocab, H heads,
KV key/value heads, D head size. Linear weights are [out, in] with y = x Wᵀ + b, except
GPT-2's Conv1D weights, which are stored [in, out] with y = x W + b.

Deliberately not done: padding / attention masks (both sequences of a fixture have the same
length), dropout, KV caches, rope scaling variants, logit soft-capping (Gemma 2; Gemma 3 sets
both soft-caps null).

Usage: /usr/bin/python3 scripts/make_fixtures.py [--out test/fixtures]
Deterministic: one seeded torch.Generator per fixture, one CPU thread, sorted JSON.
"""

import argparse
import json
import math
import os
import struct

import torch

SEED = 20240917
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The config format modelled below is transformers 4.x save_pretrained output (sorted keys,
# indent 2, every model-specific field, base fields only where they differ from defaults).
TRANSFORMERS_FORMAT_VERSION = "4.46.3"


# ----------------------------------------------------------------------------- safetensors

def tensor_bytes(t, dtype):
    """Little-endian bytes of t in the safetensors dtype 'F32' or 'BF16'."""
    if dtype == "F32":
        return t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
    if dtype == "BF16":
        # numpy has no bfloat16: reinterpret the 16-bit pattern as int16.
        return t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """tensors: dict name -> tensor. Header: u64 LE length, JSON padded with spaces to a
    multiple of 8, `__metadata__` first (string values); data in sorted-name order."""
    names = sorted(tensors)
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in names:
        b = tensor_bytes(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    return offset  # data bytes


def read_safetensors(path):
    """Minimal reader used to check what was written (returns name -> float64 tensor)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = bytearray(data[a:b])
        if info["dtype"] == "F32":
            t = torch.frombuffer(buf, dtype=torch.float32)
        elif info["dtype"] == "BF16":
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            raise ValueError(info["dtype"])
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def as_stored(t, dtype):
    """The float64 value of t after rounding to the storage dtype."""
    return t.to(torch.float32 if dtype == "F32" else torch.bfloat16).to(torch.float64)


# ----------------------------------------------------------------------------- random weights

class Init:
    """Seeded float64 normal draws, in a fixed call order."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, std, mean=0.0):
        return mean + std * torch.randn(*shape, generator=self.g, dtype=torch.float64)

    def ints(self, high, shape):
        return torch.randint(0, high, shape, generator=self.g)


# ----------------------------------------------------------------------------- shared math

def layer_norm(x, w, b, eps):
    """nn.LayerNorm: (x - mean) / sqrt(biased var + eps) * w + b over the last dim."""
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    """Llama/Qwen2/Qwen3 RMSNorm: w * (x / sqrt(mean(x²) + eps))."""
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def gemma_rms_norm(x, w, eps):
    """Gemma RMSNorm: the stored weight is an offset from one, (1 + w) * (x / sqrt(mean(x²) + eps))."""
    return (1.0 + w) * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def gelu_new(x):
    """GPT-2's tanh approximation: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + torch.exp(-x))


def causal_attention(q, k, v, scale=None, window=None):
    """q [B, H, T, D], k/v [B, H, T, D] (already one k/v head per query head).
    softmax(scale · q kᵀ + mask) v -> [B, H, T, D], scale 1/√D by default. Query i sees key j
    iff j ≤ i and, with a sliding window W, i − j < W (HF masking_utils' sliding_window_overlay:
    kv_idx > q_idx − W)."""
    T, D = q.shape[-2], q.shape[-1]
    s = q @ k.transpose(-1, -2)  # [B, H, T, T]
    s = s / math.sqrt(D) if scale is None else s * scale
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    hidden = j > i
    if window is not None:
        hidden = hidden | (i - j >= window)
    s = s.masked_fill(hidden, float("-inf"))
    s = s - s.max(-1, keepdim=True).values
    p = torch.exp(s)
    p = p / p.sum(-1, keepdim=True)
    return p @ v


def next_token_losses(logits, ids):
    """logits [B, T, V], ids [B, T]. Token t predicts ids[t+1]; returns per-token losses
    [B, T-1] of -log softmax."""
    z = logits[:, :-1, :]
    z = z - z.max(-1, keepdim=True).values
    logp = z - torch.log(torch.exp(z).sum(-1, keepdim=True))
    tgt = ids[:, 1:]
    return -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)


# ----------------------------------------------------------------------------- GPT-2

def gpt2_weights(init, cfg):
    C, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    F = cfg["n_inner"] or 4 * C
    w = {}
    w["transformer.wte.weight"] = init.normal((V, C), 0.1)
    w["transformer.wpe.weight"] = init.normal((P, C), 0.05)
    for i in range(L):
        p = f"transformer.h.{i}."
        w[p + "ln_1.weight"] = init.normal((C,), 0.1, 1.0)
        w[p + "ln_1.bias"] = init.normal((C,), 0.05)
        w[p + "attn.c_attn.weight"] = init.normal((C, 3 * C), 0.1)  # Conv1D [in, out]
        w[p + "attn.c_attn.bias"] = init.normal((3 * C,), 0.05)
        w[p + "attn.c_proj.weight"] = init.normal((C, C), 0.1)
        w[p + "attn.c_proj.bias"] = init.normal((C,), 0.05)
        w[p + "ln_2.weight"] = init.normal((C,), 0.1, 1.0)
        w[p + "ln_2.bias"] = init.normal((C,), 0.05)
        w[p + "mlp.c_fc.weight"] = init.normal((C, F), 0.1)
        w[p + "mlp.c_fc.bias"] = init.normal((F,), 0.05)
        w[p + "mlp.c_proj.weight"] = init.normal((F, C), 0.1)
        w[p + "mlp.c_proj.bias"] = init.normal((C,), 0.05)
    w["transformer.ln_f.weight"] = init.normal((C,), 0.1, 1.0)
    w["transformer.ln_f.bias"] = init.normal((C,), 0.05)
    return w


def gpt2_forward(w, cfg, ids):
    """ids [B, T] -> logits [B, T, V], hidden states list (after embedding, after each block)."""
    B, T = ids.shape
    C, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    D = C // H
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)]  # [B, T, C]
    hidden = [x]

    def heads(t):  # [B, T, C] -> [B, H, T, D]
        return t.reshape(B, T, H, D).transpose(1, 2)

    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # [B, T, 3C]
        q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
        a = causal_attention(heads(q), heads(k), heads(v)).transpose(1, 2).reshape(B, T, C)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        hidden.append(x)
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    logits = x @ w["transformer.wte.weight"].T  # tied lm_head
    return logits, hidden


def gpt2_config(V, C, L, H, P, eps):
    # Every GPT2Config field, as save_pretrained writes them; n_ctx is not a GPT2Config
    # argument any more but the original gpt2 config.json carries it (kept as an attribute).
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": V - 1,
        "embd_pdrop": 0.1,
        "eos_token_id": V - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": eps,
        "model_type": "gpt2",
        "n_ctx": P,
        "n_embd": C,
        "n_head": H,
        "n_inner": None,
        "n_layer": L,
        "n_positions": P,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_FORMAT_VERSION,
        "use_cache": True,
        "vocab_size": V,
    }


# ----------------------------------------------------------------------------- Llama / Qwen2

def llama_weights(init, cfg, qkv_bias, qk_norm=False):
    C, V, L = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    H, KV, F = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"]
    D = cfg.get("head_dim") or C // H
    w = {}
    w["model.embed_tokens.weight"] = init.normal((V, C), 0.1)
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = init.normal((C,), 0.1, 1.0)
        w[p + "self_attn.q_proj.weight"] = init.normal((H * D, C), 0.1)  # [out, in]
        w[p + "self_attn.k_proj.weight"] = init.normal((KV * D, C), 0.1)
        w[p + "self_attn.v_proj.weight"] = init.normal((KV * D, C), 0.1)
        w[p + "self_attn.o_proj.weight"] = init.normal((C, H * D), 0.1)
        if qk_norm:  # Qwen3: RMSNorm over each head's D entries, one weight vector for all heads
            w[p + "self_attn.q_norm.weight"] = init.normal((D,), 0.1, 1.0)
            w[p + "self_attn.k_norm.weight"] = init.normal((D,), 0.1, 1.0)
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = init.normal((H * D,), 0.1)
            w[p + "self_attn.k_proj.bias"] = init.normal((KV * D,), 0.1)
            w[p + "self_attn.v_proj.bias"] = init.normal((KV * D,), 0.1)
        w[p + "post_attention_layernorm.weight"] = init.normal((C,), 0.1, 1.0)
        w[p + "mlp.gate_proj.weight"] = init.normal((F, C), 0.1)
        w[p + "mlp.up_proj.weight"] = init.normal((F, C), 0.1)
        w[p + "mlp.down_proj.weight"] = init.normal((C, F), 0.1)
    w["model.norm.weight"] = init.normal((C,), 0.1, 1.0)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = init.normal((V, C), 0.1)
    return w


def rope_cos_sin(T, D, theta):
    """inv_freq_i = θ^(-2i/D), i < D/2; angles t·inv_freq duplicated to D (cat(f, f))."""
    inv_freq = 1.0 / theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D)  # [D/2]
    f = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]  # [T, D/2]
    emb = torch.cat((f, f), dim=-1)  # [T, D]
    return torch.cos(emb), torch.sin(emb)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def llama_forward(w, cfg, ids):
    """Llama / Qwen2 / Qwen3 (q/k/v biases, q/k norms when present in w). ids [B, T] -> logits [B, T, V]."""
    B, T = ids.shape
    C, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    cos, sin = rope_cos_sin(T, D, cfg["rope_theta"])  # [T, D]

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        return y

    x = w["model.embed_tokens.weight"][ids]  # [B, T, C]
    hidden = [x]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").reshape(B, T, H, D).transpose(1, 2)   # [B, H, T, D]
        k = lin(h, p + "self_attn.k_proj").reshape(B, T, KV, D).transpose(1, 2)  # [B, KV, T, D]
        v = lin(h, p + "self_attn.v_proj").reshape(B, T, KV, D).transpose(1, 2)
        if p + "self_attn.q_norm.weight" in w:  # Qwen3: per head, before RoPE
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA: query head j reads key/value head j // (H / KV).
        kv_of = torch.arange(H) // (H // KV)
        a = causal_attention(q, k[:, kv_of], v[:, kv_of])  # [B, H, T, D]
        a = a.transpose(1, 2).reshape(B, T, H * D)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        m = silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj")
        x = x + lin(m, p + "mlp.down_proj")
        hidden.append(x)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T, hidden


def llama_config(V, C, F, L, H, KV, D, P, eps, theta):
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": D,
        "hidden_act": "silu",
        "hidden_size": C,
        "initializer_range": 0.02,
        "intermediate_size": F,
        "max_position_embeddings": P,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "num_key_value_heads": KV,
        "pretraining_tp": 1,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_FORMAT_VERSION,
        "use_cache": True,
        "vocab_size": V,
    }


def qwen2_config(V, C, F, L, H, KV, P, eps, theta):
    # Qwen2Config has no head_dim field (D = hidden_size / num_attention_heads), as in the
    # Qwen2.5 config.json files on the Hub.
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": C,
        "initializer_range": 0.02,
        "intermediate_size": F,
        "max_position_embeddings": P,
        "max_window_layers": L,
        "model_type": "qwen2",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "num_key_value_heads": KV,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "sliding_window": P,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": TRANSFORMERS_FORMAT_VERSION,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": V,
    }


def qwen3_config(V, C, F, L, H, KV, D, P, eps, theta):
    # As Qwen3-0.6B's config.json (transformers 4.51): explicit head_dim, attention_bias false,
    # sliding window disabled (sliding_window null), tied embeddings.
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": D,
        "hidden_act": "silu",
        "hidden_size": C,
        "initializer_range": 0.02,
        "intermediate_size": F,
        "max_position_embeddings": P,
        "max_window_layers": L,
        "model_type": "qwen3",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "num_key_value_heads": KV,
        "rms_norm_eps": eps,
        "rope_scaling": None,
        "rope_theta": theta,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": V,
    }


# ----------------------------------------------------------------------------- Gemma 3

def gemma3_weights(init, cfg):
    C, V, L = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    H, KV, F, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"], cfg["head_dim"]
    w = {}
    w["model.embed_tokens.weight"] = init.normal((V, C), 0.1)
    for i in range(L):
        p = f"model.layers.{i}."
        # Gemma norm weights are stored as offsets from one (the layer uses 1 + w): centred on 0.
        w[p + "input_layernorm.weight"] = init.normal((C,), 0.1)
        w[p + "self_attn.q_proj.weight"] = init.normal((H * D, C), 0.1)  # [out, in]
        w[p + "self_attn.k_proj.weight"] = init.normal((KV * D, C), 0.1)
        w[p + "self_attn.v_proj.weight"] = init.normal((KV * D, C), 0.1)
        w[p + "self_attn.o_proj.weight"] = init.normal((C, H * D), 0.1)
        w[p + "self_attn.q_norm.weight"] = init.normal((D,), 0.1)
        w[p + "self_attn.k_norm.weight"] = init.normal((D,), 0.1)
        w[p + "post_attention_layernorm.weight"] = init.normal((C,), 0.1)
        w[p + "pre_feedforward_layernorm.weight"] = init.normal((C,), 0.1)
        w[p + "mlp.gate_proj.weight"] = init.normal((F, C), 0.1)
        w[p + "mlp.up_proj.weight"] = init.normal((F, C), 0.1)
        w[p + "mlp.down_proj.weight"] = init.normal((C, F), 0.1)
        w[p + "post_feedforward_layernorm.weight"] = init.normal((C,), 0.1)
    w["model.norm.weight"] = init.normal((C,), 0.1)
    return w


def gemma3_layer_types(cfg):
    """layer_types when given, else Gemma3TextConfig's rule: layer i slides unless
    (i + 1) is a multiple of sliding_window_pattern."""
    if cfg.get("layer_types"):
        return cfg["layer_types"]
    n = cfg.get("sliding_window_pattern", cfg.get("_sliding_window_pattern", 6))
    return ["sliding_attention" if (i + 1) % n else "full_attention" for i in range(cfg["num_hidden_layers"])]


def embed_scale(C, torch_dtype):
    """√C as Gemma3TextScaledWordEmbedding applies it: cast to the weights' dtype first."""
    dt = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(torch_dtype, torch.float32)
    return torch.tensor(math.sqrt(C), dtype=torch.float32).to(dt).item()


def gemma3_forward(w, cfg, ids):
    """Gemma3ForCausalLM (text). ids [B, T] -> logits [B, T, V]."""
    B, T = ids.shape
    C, H, KV, D = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    assert cfg["rope_scaling"] is None and cfg["final_logit_softcapping"] is None
    assert cfg["attn_logit_softcapping"] is None
    scale = cfg["query_pre_attn_scalar"] ** -0.5
    types = gemma3_layer_types(cfg)
    rope = {
        "full_attention": rope_cos_sin(T, D, cfg["rope_theta"]),
        "sliding_attention": rope_cos_sin(T, D, cfg["rope_local_base_freq"]),
    }
    kv_of = torch.arange(H) // (H // KV)

    def lin(x, name):
        return x @ w[name + ".weight"].T

    x = w["model.embed_tokens.weight"][ids] * embed_scale(C, cfg["torch_dtype"])  # [B, T, C]
    hidden = [x]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        cos, sin = rope[types[i]]
        window = cfg["sliding_window"] if types[i] == "sliding_attention" else None
        h = gemma_rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").reshape(B, T, H, D).transpose(1, 2)   # [B, H, T, D]
        k = lin(h, p + "self_attn.k_proj").reshape(B, T, KV, D).transpose(1, 2)  # [B, KV, T, D]
        v = lin(h, p + "self_attn.v_proj").reshape(B, T, KV, D).transpose(1, 2)
        q = gemma_rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
        k = gemma_rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = causal_attention(q, k[:, kv_of], v[:, kv_of], scale=scale, window=window)
        a = a.transpose(1, 2).reshape(B, T, H * D)
        x = x + gemma_rms_norm(lin(a, p + "self_attn.o_proj"), w[p + "post_attention_layernorm.weight"], eps)
        h = gemma_rms_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        m = lin(gelu_new(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        x = x + gemma_rms_norm(m, w[p + "post_feedforward_layernorm.weight"], eps)
        hidden.append(x)
    x = gemma_rms_norm(x, w["model.norm.weight"], eps)
    return x @ w["model.embed_tokens.weight"].T, hidden  # tied lm_head


def gemma3_config(V, C, F, L, H, KV, D, P, eps, window, pattern, qpas):
    # As google/gemma-3-270m's config.json (transformers 4.55): explicit layer_types, plus the
    # sliding_window_pattern older versions (4.50–4.52) read instead.
    types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(L)]
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": None,
        "bos_token_id": 2,
        "eos_token_id": 1,
        "final_logit_softcapping": None,
        "head_dim": D,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": C,
        "initializer_range": 0.02,
        "intermediate_size": F,
        "layer_types": types,
        "max_position_embeddings": P,
        "model_type": "gemma3_text",
        "num_attention_heads": H,
        "num_hidden_layers": L,
        "num_key_value_heads": KV,
        "pad_token_id": 0,
        "query_pre_attn_scalar": qpas,
        "rms_norm_eps": eps,
        "rope_local_base_freq": 10000.0,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": window,
        "sliding_window_pattern": pattern,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.55.0",
        "use_bidirectional_attention": False,
        "use_cache": True,
        "vocab_size": V,
    }


# ----------------------------------------------------------------------------- output

def r9(x):
    """Nested lists of floats rounded to 9 significant digits (JSON stays small)."""
    if isinstance(x, list):
        return [r9(y) for y in x]
    return float(f"{x:.9g}")


def write_json(path, obj, indent=None):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=True, allow_nan=False)
        f.write("\n")


def build(out_dir, name, cfg, weights, dtype, forward, ids, seed, notes):
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), cfg, indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"), weights, dtype)

    # The reference runs on exactly what the file holds (read back, not the float64 draws).
    stored = read_safetensors(os.path.join(folder, "model.safetensors"))
    assert set(stored) == set(weights)
    for n in weights:
        assert torch.equal(stored[n], as_stored(weights[n], dtype)), n
    logits, hidden = forward(stored, cfg, ids)
    tok = next_token_losses(logits, ids)  # [B, T-1]
    ref = {
        "model": name,
        "notes": notes,
        "generator": f"scripts/make_fixtures.py (seed {seed}, torch {torch.__version__}, float64)",
        "ids": ids.tolist(),
        "logits": r9(logits.tolist()),
        "loss": float(tok.mean()),
        "loss_per_sequence": [float(v) for v in tok.mean(-1)],
        "hidden_states_seq0": {
            "after_embedding": r9(hidden[0][0].tolist()),
            "after_layer0": r9(hidden[1][0].tolist()),
        },
    }
    write_json(os.path.join(folder, "reference.json"), ref)
    return stored, ref


def write_sharded(out_dir, name, cfg, weights, dtype, first_shard_prefixes):
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), cfg, indent=2)
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    shards = [{}, {}]
    for n, t in weights.items():
        shards[0 if n.startswith(first_shard_prefixes) else 1][n] = t
    total = 0
    weight_map = {}
    for f, s in zip(files, shards):
        total += write_safetensors(os.path.join(folder, f), s, dtype)
        for n in s:
            weight_map[n] = f
    write_json(os.path.join(folder, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
               indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)  # one thread: identical float64 sums on every run
    torch.manual_seed(0)      # nothing should use the global RNG; pinned anyway

    summary = []

    # GPT-2: V=101, C=32, L=2, H=4 (D=8), P=64, MLP width 4C=128 (n_inner null as in gpt2).
    init = Init(SEED + 1)
    cfg = gpt2_config(V=101, C=32, L=2, H=4, P=64, eps=1e-5)
    w = gpt2_weights(init, cfg)
    ids = init.ints(cfg["vocab_size"], (2, 13))
    _, ref = build(args.out, "tiny-gpt2", cfg, w, "F32", gpt2_forward, ids, SEED + 1,
                   "GPT2LMHeadModel, F32, keys with the transformer. prefix (as save_pretrained "
                   "writes them), lm_head tied to transformer.wte.weight and not stored")
    summary.append(("tiny-gpt2", ref))

    # Llama: V=128, C=48, F=96, L=2, H=4, KV=2, D=12, P=64, untied head.
    init = Init(SEED + 2)
    cfg = llama_config(V=128, C=48, F=96, L=2, H=4, KV=2, D=12, P=64, eps=1e-5, theta=10000.0)
    w = llama_weights(init, cfg, qkv_bias=False)
    ids = init.ints(cfg["vocab_size"], (2, 16))
    stored, ref = build(args.out, "tiny-llama", cfg, w, "F32", llama_forward, ids, SEED + 2,
                        "LlamaForCausalLM, F32, GQA 4 query heads / 2 key-value heads, untied lm_head")
    summary.append(("tiny-llama", ref))
    write_sharded(args.out, "tiny-llama-sharded", cfg, stored, "F32",
                  ("model.embed_tokens.", "model.layers.0."))

    # Qwen2: V=113, C=32, F=64, L=2, H=4, KV=2 (D=8), P=64, q/k/v biases, tied, BF16 storage.
    init = Init(SEED + 3)
    cfg = qwen2_config(V=113, C=32, F=64, L=2, H=4, KV=2, P=64, eps=1e-6, theta=1000000.0)
    w = llama_weights(init, cfg, qkv_bias=True)
    ids = init.ints(cfg["vocab_size"], (2, 11))
    _, ref = build(args.out, "tiny-qwen2", cfg, w, "BF16", llama_forward, ids, SEED + 3,
                   "Qwen2ForCausalLM, BF16 weights (reference computed from the BF16 values), "
                   "q/k/v biases, tied lm_head not stored, rope_theta 1e6")
    summary.append(("tiny-qwen2", ref))

    # Qwen3: V=97, C=32, F=64, L=2, H=4, KV=2, D=16 (H·D = 64 ≠ C), P=64, tied, BF16 storage.
    init = Init(SEED + 4)
    cfg = qwen3_config(V=97, C=32, F=64, L=2, H=4, KV=2, D=16, P=64, eps=1e-6, theta=1000000.0)
    w = llama_weights(init, cfg, qkv_bias=False, qk_norm=True)
    ids = init.ints(cfg["vocab_size"], (2, 12))
    _, ref = build(args.out, "tiny-qwen3", cfg, w, "BF16", llama_forward, ids, SEED + 4,
                   "Qwen3ForCausalLM, BF16 weights (reference computed from the BF16 values), "
                   "head_dim 16 with hidden 32, per-head q/k RMSNorm before RoPE, no biases, "
                   "tied lm_head not stored, rope_theta 1e6")
    summary.append(("tiny-qwen3", ref))

    # Gemma 3: V=89, C=36 (√C = 6, exact in bf16, so HF in bf16 or float32 agrees), F=64,
    # L=4 (sliding, sliding, full, sliding), H=4, KV=2, D=12 (H·D = 48 ≠ C), window 5 < T = 14,
    # query_pre_attn_scalar 16 (≠ D), BF16.
    init = Init(SEED + 5)
    cfg = gemma3_config(V=89, C=36, F=64, L=4, H=4, KV=2, D=12, P=64, eps=1e-6, window=5, pattern=3, qpas=16)
    w = gemma3_weights(init, cfg)
    ids = init.ints(cfg["vocab_size"], (2, 14))
    _, ref = build(args.out, "tiny-gemma3", cfg, w, "BF16", gemma3_forward, ids, SEED + 5,
                   "Gemma3ForCausalLM (gemma3_text), BF16 weights (reference computed from the BF16 "
                   "values), embedding x sqrt(C) = 6, (1 + w) RMSNorms, pre/post attention and MLP "
                   "norms, q/k norm, gelu_pytorch_tanh gated MLP, scale 16^-0.5, layers 0, 1, 3 "
                   "sliding (window 5, RoPE base 1e4), layer 2 global (RoPE base 1e6), tied lm_head")
    summary.append(("tiny-gemma3", ref))

    for name, ref in summary:
        z = torch.tensor(ref["logits"])
        print(f"{name:12s} ids {tuple(torch.tensor(ref['ids']).shape)}  loss {ref['loss']:.6f}  "
              f"per-seq {[round(v, 6) for v in ref['loss_per_sequence']]}  logits std {z.std():.3f}")


if __name__ == "__main__":
    main()
