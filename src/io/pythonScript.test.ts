import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { peftTargets, trainingScript, type ScriptConfig } from './pythonScript';

const base: ScriptConfig = {
  methodId: 'lora',
  methodLabel: 'LoRA',
  settings: { rank: 8, alpha: 16, rslora: false, init: 'kaiming' },
  modelName: 'HuggingFaceTB/SmolLM2-135M',
  family: 'llama',
  targets: ['all'],
  lr: 5e-4,
  schedule: 'cosine',
  warmup: 0,
  steps: 60,
  batch: 8,
  seqLen: 96,
  seed: 0,
  clipNorm: 1,
  evalEvery: 10,
  dataset: 'math (built-in)',
};

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'pass']);
    return true;
  } catch {
    return false;
  }
}

const METHODS: Record<string, ScriptConfig['settings']> = {
  lora: base.settings,
  pissa: { rank: 4, alpha: 4, rslora: false, niter: 16, oversample: 0, exactSvd: false },
  qlora: { rank: 8, alpha: 8, rslora: true, doubleQuant: false },
  qpissa: { rank: 8, alpha: 8, rslora: false, niter: 4, oversample: 0, exactSvd: false, doubleQuant: true, iterations: 5 },
  loftq: { rank: 8, alpha: 8, rslora: false, niter: 4, doubleQuant: true, iterations: 3 },
  sorsa: { rank: 8, alpha: 8, rslora: false, gamma: 4e-4, niter: 4 },
  lorasb: { rank: 8, estimationBatches: 4, warmupRatio: 0.1, niter: 10, exactSvd: false },
  spp: { pruning: 'wanda', pattern: 'unstructured', ratio: 0.5, alpha: 16, calibrationBatches: 4 },
  full: {},
};

describe('trainingScript', () => {
  it('maps the shared knobs onto SFTConfig', () => {
    const s = trainingScript(base);
    expect(s).toContain('learning_rate=0.0005,');
    expect(s).toContain('lr_scheduler_type="cosine",');
    expect(s).toContain('max_steps=60,');
    expect(s).toContain('per_device_train_batch_size=8,');
    expect(s).toContain('max_length=96,');
    expect(s).toContain('max_grad_norm=1,');
    expect(s).toContain('SEED = 0');
    expect(s).toContain('target_modules="all-linear",');
    expect(s).toContain('r=8,');
    expect(s).toContain('lora_alpha=16,');
    expect(s).toContain('MODEL = "HuggingFaceTB/SmolLM2-135M"');
  });

  it('uses PiSSA power iterations, NF4 with double quant, LoftQ iterations', () => {
    expect(trainingScript({ ...base, methodId: 'pissa', settings: METHODS.pissa! })).toContain('init_lora_weights="pissa_niter_16"');
    expect(trainingScript({ ...base, methodId: 'pissa', settings: { ...METHODS.pissa!, exactSvd: true } })).toContain('init_lora_weights="pissa"');
    const q = trainingScript({ ...base, methodId: 'qlora', settings: METHODS.qlora! });
    expect(q).toContain('bnb_4bit_quant_type="nf4"');
    expect(q).toContain('bnb_4bit_use_double_quant=False');
    expect(q).toContain('use_rslora=True');
    expect(q).toContain('prepare_model_for_kbit_training(model)');
    const qp = trainingScript({ ...base, methodId: 'qpissa', settings: METHODS.qpissa! });
    expect(qp).toContain('bnb_4bit_use_double_quant=True');
    expect(qp).toContain('PeftModel.from_pretrained');
    expect(qp).toMatch(/T = 5 .*PEFT has no such option/);
    expect(trainingScript({ ...base, methodId: 'loftq', settings: METHODS.loftq! })).toContain('LoftQConfig(loftq_bits=4, loftq_iter=3)');
  });

  it('points methods without a PEFT equivalent to their official code', () => {
    expect(trainingScript({ ...base, methodId: 'sorsa', settings: METHODS.sorsa! })).toContain('github.com/Gunale0926/SORSA');
    expect(trainingScript({ ...base, methodId: 'lorasb', settings: METHODS.lorasb! })).toContain('github.com/RaghavSinghal10/lora-sb');
    expect(trainingScript({ ...base, methodId: 'spp', settings: METHODS.spp! })).toContain('github.com/Lucky-Lance/SPP');
    const full = trainingScript({ ...base, methodId: 'full', settings: {} });
    expect(full).not.toContain('LoraConfig');
    expect(full).not.toContain('from peft');
  });

  it('names target modules the way PEFT matches them', () => {
    expect(peftTargets('llama', ['q', 'v'])).toBe('["q_proj", "v_proj"]');
    expect(peftTargets('gpt2', ['attn.c_attn', 'mlp.c_proj'])).toBe('["attn.c_attn", "mlp.c_proj"]');
    expect(peftTargets('gpt2', ['all'])).toBe('"all-linear"');
  });

  it.skipIf(!hasPython())('writes valid Python for every method', () => {
    for (const [id, settings] of Object.entries(METHODS)) {
      const script = trainingScript({ ...base, methodId: id, settings, schedule: 'constant', warmup: 5, clipNorm: 0 });
      expect(() => execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: script }), id).not.toThrow();
    }
  });
});
