import { describe, expect, it } from 'vitest';
import { peftTargets, trainingScript, type PythonRecipe, type ScriptHelpers } from './pythonScript';
import { hasPython, parsePython, TEST_SCRIPT_CONFIG as base } from './testScripts';

/** A recipe of the shape a LoRA-like method writes. */
const plainLora = (py: ScriptHelpers): PythonRecipe => ({ notes: ['a note'], body: [py.load(false), py.loraConfig('True'), py.wrap] });

describe('trainingScript', () => {
  it('maps the shared knobs onto SFTConfig', () => {
    const s = trainingScript(base, plainLora);
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

  it('adds what a recipe asks for: bitsandbytes, peft imports, no PEFT at all', () => {
    const quantized = trainingScript(base, (py) => ({
      notes: [],
      body: [py.nf4Config(false), py.load(true), py.wrap],
      bitsandbytes: true,
      peftImports: ['prepare_model_for_kbit_training'],
    }));
    expect(quantized).toContain('BitsAndBytesConfig');
    expect(quantized).toContain('"bitsandbytes"');
    expect(quantized).toContain('from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training');
    expect(quantized).toContain('bnb_4bit_use_double_quant=False');
    const plain = trainingScript(base, (py) => ({ notes: [], body: [py.load(false)], usesPeft: false }));
    expect(plain).not.toContain('from peft');
    expect(plain).not.toContain('print_trainable_parameters');
  });

  it('names target modules the way PEFT matches them', () => {
    expect(peftTargets('llama', ['q', 'v'])).toBe('["q_proj", "v_proj"]');
    expect(peftTargets('gpt2', ['attn.c_attn', 'mlp.c_proj'])).toBe('["attn.c_attn", "mlp.c_proj"]');
    expect(peftTargets('gpt2', ['all'])).toBe('"all-linear"');
  });

  it.skipIf(!hasPython())('writes valid Python', () => {
    const script = trainingScript({ ...base, schedule: 'constant', warmup: 5, clipNorm: 0 }, plainLora);
    expect(() => parsePython(script)).not.toThrow();
  });
});
