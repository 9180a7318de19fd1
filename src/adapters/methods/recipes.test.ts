import { describe, expect, it } from 'vitest';
import { trainingScript, type ScriptConfig } from '../../io/pythonScript';
import { hasPython, parsePython, TEST_SCRIPT_CONFIG } from '../../io/testScripts';
import { METHODS, methodById } from '../registry';
import { resolveSettings, type MethodSettings } from '../types';

const base: ScriptConfig = { ...TEST_SCRIPT_CONFIG, methodId: 'lora', settings: {} };

function script(id: string, given: MethodSettings = {}): string {
  const method = methodById(id);
  const settings = resolveSettings(method, given);
  return trainingScript({ ...base, methodId: id, methodLabel: method.label, settings }, (py) => method.python(settings, py));
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

  it('EVA: init_lora_weights="eva" with EvaConfig, then initialize_lora_eva_weights over a dataloader of the calibration batches', () => {
    const s = script('eva', { rank: 16, rho: 1.5, calibrationBatches: 3, labelMask: false, whiten: true });
    expect(s).toContain('from peft import LoraConfig, get_peft_model, EvaConfig, initialize_lora_eva_weights');
    expect(s).toContain('init_lora_weights="eva",');
    expect(s).toContain('eva_config=EvaConfig(rho=1.5, tau=0.99, use_label_mask=False, whiten=True, adjust_scaling_factors=True),');
    expect(s).toContain('max_length=96,');
    expect(s).toContain('select(range(min(len(split["train"]), 24)))');
    expect(s).toContain('initialize_lora_eva_weights(model, dataloader=DataLoader(eva_rows, batch_size=8, collate_fn=eva_batch))');
    expect(s.indexOf('model = get_peft_model(model, lora_config)')).toBeLessThan(s.indexOf('initialize_lora_eva_weights(model'));
  });

  it('VeRA and SHiRA through their own PEFT config classes', () => {
    const v = script('vera', { rank: 128, dInitial: 0.05, projectionKey: 7 });
    expect(v).toContain('from peft import VeraConfig, get_peft_model');
    expect(v).not.toContain('LoraConfig');
    expect(v).toContain('    r=128,');
    expect(v).toContain('    projection_prng_key=7,');
    expect(v).toContain('    d_initial=0.05,');
    expect(v).toContain('    save_projection=True,');
    expect(v).toContain('    target_modules="all-linear",');
    expect(v).toContain('model = get_peft_model(model, vera_config)');
    const r = script('shira', { rank: 16 });
    expect(r).toContain('from peft import ShiraConfig, get_peft_model');
    expect(r).toContain('mask_type="random",');
    expect(r).toContain('random_seed=SEED,');
    expect(r).not.toContain('mask_fn');
    const m = script('shira', { mask: 'magnitude' });
    expect(m).toContain('shira_config.mask_fn = magnitude_mask');
    expect(m.indexOf('def magnitude_mask(')).toBeLessThan(m.indexOf('shira_config = ShiraConfig('));
  });

  it.skipIf(!hasPython())('EVA, VeRA and SHiRA variants are valid Python (GPT-2 included)', () => {
    const variants: [string, MethodSettings][] = [
      ['shira', { mask: 'magnitude' }],
      ['eva', { labelMask: false }],
      ['vera', {}],
      ['shira', {}],
    ];
    for (const [id, given] of variants) {
      for (const family of ['llama', 'gpt2'] as const) {
        const method = methodById(id);
        const text = trainingScript({ ...base, family, targets: family === 'gpt2' ? ['c_attn'] : ['q', 'v'], methodId: id }, (py) =>
          method.python(resolveSettings(method, given), py),
        );
        expect(() => parsePython(text), `${id} ${family}`).not.toThrow();
        if (id === 'vera') expect(text).toContain(`fan_in_fan_out=${family === 'gpt2' ? 'True' : 'False'},`);
      }
    }
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
      const text = trainingScript({ ...base, methodId: method.id, schedule: 'constant', warmup: 5, clipNorm: 0 }, (py) =>
        method.python(resolveSettings(method), py),
      );
      expect(() => parsePython(text), method.id).not.toThrow();
    }
  });
});
