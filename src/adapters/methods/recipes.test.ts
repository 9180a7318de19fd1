import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { trainingScript, type ScriptConfig } from '../../io/pythonScript';
import { METHODS, methodById } from '../registry';
import { resolveSettings, type MethodSettings } from '../types';

const base: ScriptConfig = {
  methodId: 'lora',
  methodLabel: 'LoRA',
  settings: {},
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

function script(id: string, given: MethodSettings = {}): string {
  const method = methodById(id);
  const settings = resolveSettings(method, given);
  return trainingScript({ ...base, methodId: id, methodLabel: method.label, settings }, (py) => method.python(settings, py));
}

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'pass']);
    return true;
  } catch {
    return false;
  }
}

describe('each method definition writes its PEFT/TRL recipe', () => {
  it('LoRA: rank and alpha, Kaiming or Gaussian', () => {
    const s = script('lora', { rank: 8, alpha: 16 });
    expect(s).toContain('r=8,');
    expect(s).toContain('lora_alpha=16,');
    expect(s).toContain('init_lora_weights=True,');
    expect(script('lora', { init: 'gaussian' })).toContain('init_lora_weights="gaussian"');
  });

  it('PiSSA power iterations, NF4 with double quant, LoftQ iterations', () => {
    expect(script('pissa', { niter: 16 })).toContain('init_lora_weights="pissa_niter_16"');
    expect(script('pissa', { exactSvd: true })).toContain('init_lora_weights="pissa"');
    const q = script('qlora', { rslora: true, doubleQuant: false });
    expect(q).toContain('bnb_4bit_quant_type="nf4"');
    expect(q).toContain('bnb_4bit_use_double_quant=False');
    expect(q).toContain('use_rslora=True');
    expect(q).toContain('prepare_model_for_kbit_training(model)');
    const qp = script('qpissa', { iterations: 5 });
    expect(qp).toContain('bnb_4bit_use_double_quant=True');
    expect(qp).toContain('PeftModel.from_pretrained');
    expect(qp).toMatch(/T = 5 .*PEFT has no such option/);
    expect(script('loftq', { iterations: 3 })).toContain('LoftQConfig(loftq_bits=4, loftq_iter=3)');
  });

  it('DoRA: LoraConfig with use_dora=True', () => {
    const s = script('dora', { rank: 8, alpha: 16 });
    expect(s).toContain('use_dora=True,');
    expect(s).toContain('r=8,');
    expect(s).toContain('model = get_peft_model(model, lora_config)');
  });

  it('LoRA+: create_loraplus_optimizer with the ratio, handed to SFTTrainer after the config', () => {
    const s = script('loraplus', { ratio: 20 });
    expect(s).toContain('from peft.optimizers import create_loraplus_optimizer');
    expect(s).toContain('optimizer = create_loraplus_optimizer(model=model, optimizer_cls=torch.optim.AdamW, lr=config.learning_rate, loraplus_lr_ratio=20)');
    expect(s).toMatch(/trainer = SFTTrainer\(.*, optimizers=\(optimizer, None\)\)/);
    expect(s.indexOf('config = SFTConfig(')).toBeLessThan(s.indexOf('optimizer = create_loraplus_optimizer'));
    expect(s.indexOf('optimizer = create_loraplus_optimizer')).toBeLessThan(s.indexOf('trainer = SFTTrainer('));
    expect(script('loraplus')).toContain('loraplus_lr_ratio=16)');
    expect(script('lora')).not.toContain('optimizers=');
  });

  it('OLoRA, CorDA and LoRA-GA through their PEFT inits; MiLoRA as an explicit loop over the LoRA layers', () => {
    expect(script('olora', { rank: 16 })).toContain('init_lora_weights="olora",');
    const ipm = script('corda', { calibrationBatches: 3 });
    expect(ipm).toContain('init_lora_weights="corda",');
    expect(ipm).toContain('corda_config=CordaConfig(corda_method="ipm"),');
    expect(ipm).toContain('from peft.tuners.lora.corda import preprocess_corda');
    expect(ipm.indexOf('preprocess_corda(model, lora_config, run_model=run_model)')).toBeLessThan(ipm.indexOf('model = get_peft_model(model, lora_config)'));
    expect(script('corda', { mode: 'kpm' })).toContain('CordaConfig(corda_method="kpm")');
    const ga = script('loraga', { direction: 'A2rBr', scale: 'gd', gamma: 8 });
    expect(ga).toContain('from peft import LoraConfig, get_peft_model, LoraGAConfig, preprocess_loraga');
    expect(ga).toContain('lora_ga_config=LoraGAConfig(direction="A2rBr", scale="gd_scale", stable_gamma=8),');
    expect(ga.indexOf('preprocess_loraga(model, lora_config, train_step)')).toBeLessThan(ga.indexOf('model = get_peft_model(model, lora_config)'));
    expect(ga).toContain('github.com/Outsider565/LoRA-GA');
    expect(script('loraga', { reference: 'peft' })).not.toContain('github.com/Outsider565/LoRA-GA');
    const mi = script('milora');
    expect(mi).toContain('init_lora_weights=True,');
    expect(mi).toContain('root = (S[-r:] / s).sqrt()');
    expect(mi).toContain('arxiv.org/abs/2406.09044');
  });

  it('points methods without a PEFT equivalent to their official code', () => {
    expect(script('sorsa')).toContain('github.com/Gunale0926/SORSA');
    expect(script('lorasb')).toContain('github.com/RaghavSinghal10/lora-sb');
    expect(script('spp')).toContain('github.com/Lucky-Lance/SPP');
    const full = script('full');
    expect(full).not.toContain('LoraConfig');
    expect(full).not.toContain('from peft');
  });

  it.skipIf(!hasPython())('writes valid Python for every registered method', () => {
    for (const method of METHODS) {
      const text = trainingScript({ ...base, methodId: method.id, schedule: 'constant', warmup: 5, clipNorm: 0 }, (py) => method.python(resolveSettings(method), py));
      expect(() => execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: text }), method.id).not.toThrow();
    }
  });
});
