// A Python training script (Hugging Face transformers + PEFT + TRL) that reproduces one method's
// studio configuration on a CUDA machine, for when the user outgrows the browser (PRODUCT.md
// step 8). Pure string generation. The method's own lines (how to load the model and wrap it in
// PEFT) come from its definition as a PythonRecipe, written with the ScriptHelpers below; this
// file adds what every method shares: SFTConfig with the same learning rate, schedule, warmup,
// steps, batch, sequence length, seed and gradient clipping; AdamW without weight decay, as the
// studio trains.
//
// Not here: the data. The script reads a JSONL file the user names (prompt/completion or text);
// the studio's data set is named in a comment.

export type ScriptSetting = number | string | boolean;

export interface ScriptConfig {
  readonly methodId: string;
  readonly methodLabel: string;
  readonly settings: Readonly<Record<string, ScriptSetting>>;
  /** Hugging Face id or local folder of the base model. */
  readonly modelName: string;
  readonly family: 'gpt2' | 'llama';
  /** Projection roles as the studio names them (q, k, …; GPT-2 attn.c_attn, …) or ['all']. */
  readonly targets: readonly string[];
  readonly lr: number;
  readonly schedule: 'constant' | 'linear' | 'cosine';
  readonly warmup: number;
  readonly steps: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly seed: number;
  readonly clipNorm: number;
  readonly evalEvery: number;
  /** The studio's data set, for the comment. */
  readonly dataset: string;
  /** ISO date written in the header. */
  readonly date?: string;
}

function py(value: ScriptSetting | null | undefined): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return JSON.stringify(value);
}

function num(settings: ScriptConfig['settings'], key: string, fallback: number): number {
  const v = settings[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function bool(settings: ScriptConfig['settings'], key: string, fallback: boolean): boolean {
  const v = settings[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** PEFT target_modules for the studio's roles: "all-linear" (every projection but lm_head) or names. */
export function peftTargets(family: 'gpt2' | 'llama', targets: readonly string[]): string {
  if (targets.includes('all') || targets.length === 0) return '"all-linear"';
  const names = targets.map((t) => (family === 'llama' ? `${t}_proj` : t));
  return `[${names.map((n) => JSON.stringify(n)).join(', ')}]`;
}

function schedulerName(schedule: ScriptConfig['schedule'], warmup: number): string {
  if (schedule === 'constant') return warmup > 0 ? 'constant_with_warmup' : 'constant';
  return schedule;
}

/** A method's own part of the script. */
export interface PythonRecipe {
  /** Comment lines under the header (what the method does, where PEFT differs, the official code). */
  readonly notes: readonly string[];
  /** Code that leaves `model` (a PeftModel, or the plain model when usesPeft is false). */
  readonly body: readonly string[];
  /** Extra top-level imports (e.g. "import os"). */
  readonly imports?: readonly string[];
  /** Names imported from peft besides LoraConfig and get_peft_model. */
  readonly peftImports?: readonly string[];
  /** The base loads through bitsandbytes (BitsAndBytesConfig; bitsandbytes on the pip line). */
  readonly bitsandbytes?: boolean;
  /** Extra pip packages. */
  readonly pip?: readonly string[];
  /** The PEFT config class when it is not LoraConfig (e.g. VeraConfig). */
  readonly peftConfigClass?: string;
  /** false: no PEFT at all (full fine-tuning). */
  readonly usesPeft?: boolean;
  /** Lines between SFTConfig and SFTTrainer; they may use `config` and `model` (e.g. an optimizer). */
  readonly trainerSetup?: readonly string[];
  /** Extra SFTTrainer keyword arguments (e.g. "optimizers=(optimizer, None)"). */
  readonly trainerArgs?: readonly string[];
}

/** What a recipe writes its lines with; bound to one script's settings and targets. */
export interface ScriptHelpers {
  readonly settings: ScriptConfig['settings'];
  readonly num: (key: string, fallback: number) => number;
  readonly bool: (key: string, fallback: boolean) => boolean;
  /** A Python literal. */
  readonly py: (value: ScriptSetting | null | undefined) => string;
  /** `model = AutoModelForCausalLM.from_pretrained(...)`, in NF4 when `quantized`. */
  readonly load: (quantized: boolean) => string;
  /** `bnb_config = BitsAndBytesConfig(nf4, ...)`. */
  readonly nf4Config: (doubleQuant: boolean) => string;
  /** `lora_config = LoraConfig(...)` with this init and extra arguments; `settings` overrides rank/alpha/rslora. */
  readonly loraConfig: (init: string, extra?: readonly string[], settings?: ScriptConfig['settings']) => string;
  /** `model = get_peft_model(model, lora_config)`. */
  readonly wrap: string;
  /** The target_modules literal of the script's targets ("all-linear" or a list), for other PEFT configs. */
  readonly targetModules: string;
  readonly family: ScriptConfig['family'];
  /** The studio's batch size and sequence length (inits that read data: EVA's dataloader). */
  readonly batch: number;
  readonly seqLen: number;
}

export function scriptHelpers(c: ScriptConfig): ScriptHelpers {
  const loraConfig = (init: string, extra: readonly string[] = [], settings: ScriptConfig['settings'] = c.settings): string => {
    const rank = num(settings, 'rank', 8);
    const alpha = num(settings, 'alpha', rank);
    const lines = [
      `    r=${rank},`,
      `    lora_alpha=${py(alpha)},`,
      `    use_rslora=${py(bool(settings, 'rslora', false))},`,
      `    lora_dropout=0.0,`,
      `    bias="none",`,
      `    target_modules=${peftTargets(c.family, c.targets)},`,
      `    init_lora_weights=${init},`,
      ...extra.map((e) => `    ${e},`),
      `    task_type="CAUSAL_LM",`,
    ];
    return `lora_config = LoraConfig(\n${lines.join('\n')}\n)`;
  };
  return {
    settings: c.settings,
    num: (key, fallback) => num(c.settings, key, fallback),
    bool: (key, fallback) => bool(c.settings, key, fallback),
    py,
    load: (quantized) =>
      `model = AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype=torch.bfloat16${quantized ? ', quantization_config=bnb_config' : ''}, device_map="auto")`,
    nf4Config: (double) => `bnb_config = BitsAndBytesConfig(
    load_in_4bit=True,
    bnb_4bit_quant_type="nf4",
    bnb_4bit_use_double_quant=${py(double)},
    bnb_4bit_compute_dtype=torch.bfloat16,
)`,
    loraConfig,
    wrap: 'model = get_peft_model(model, lora_config)',
    targetModules: peftTargets(c.family, c.targets),
    family: c.family,
    batch: c.batch,
    seqLen: c.seqLen,
  };
}

function comment(lines: readonly string[]): string {
  return lines.map((l) => (l ? `# ${l}` : '#')).join('\n');
}

/** The whole script: imports, settings, data, model and method, SFTTrainer, save. */
export function trainingScript(c: ScriptConfig, recipeOf: (helpers: ScriptHelpers) => PythonRecipe): string {
  const section = recipeOf(scriptHelpers(c));
  const usesPeft = section.usesPeft !== false;
  const quantized = section.bitsandbytes === true;
  const peftImports = [section.peftConfigClass ?? 'LoraConfig', 'get_peft_model', ...(section.peftImports ?? [])];
  const settingsLine = Object.entries(c.settings)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  const header = comment([
    `Reproduces the Adapter Studio configuration "${c.methodLabel}" (${c.methodId}) with Hugging Face`,
    'transformers + PEFT + TRL on a CUDA machine.',
    `Studio settings: ${settingsLine || '(none)'}`,
    `Shared: lr ${c.lr}, ${c.schedule} schedule, warmup ${c.warmup}, ${c.steps} steps, batch ${c.batch}, sequence length ${c.seqLen}, seed ${c.seed}, clip ${c.clipNorm || 'off'}.`,
    `The studio trained on the data set "${c.dataset}"; point DATA_FILE at a JSONL version of it.`,
    ...(c.date ? [`Generated ${c.date}.`] : []),
    '',
    'pip install "torch" "transformers>=4.46" "peft>=0.13" "trl>=0.20" "datasets" "accelerate"' +
      [...(quantized ? ['bitsandbytes'] : []), ...(section.pip ?? [])].map((p) => ` "${p}"`).join(''),
    `python train_${c.methodId}.py`,
    ...(section.notes.length > 0 ? ['', ...section.notes] : []),
  ]);
  const imports = [
    ...(section.imports ?? []),
    'import torch',
    'from datasets import load_dataset',
    `from transformers import AutoModelForCausalLM, AutoTokenizer${quantized ? ', BitsAndBytesConfig' : ''}`,
    ...(usesPeft ? [`from peft import ${peftImports.join(', ')}`] : []),
    'from trl import SFTConfig, SFTTrainer',
  ];
  const settings = [
    `MODEL = ${JSON.stringify(c.modelName)}  # Hugging Face id or local folder of the base model`,
    'DATA_FILE = "train.jsonl"  # rows {"prompt": ..., "completion": ...} (loss on the completion) or {"text": ...}',
    `OUT = ${JSON.stringify(`out-${c.methodId}`)}`,
    `SEED = ${c.seed}`,
  ];
  const data = [
    'dataset = load_dataset("json", data_files=DATA_FILE, split="train")',
    'split = dataset.train_test_split(test_size=0.1, seed=SEED)',
    'tokenizer = AutoTokenizer.from_pretrained(MODEL)',
    'if tokenizer.pad_token is None:',
    '    tokenizer.pad_token = tokenizer.eos_token',
  ];
  const args = [
    '    output_dir=OUT,',
    `    max_steps=${c.steps},`,
    `    per_device_train_batch_size=${c.batch},`,
    `    per_device_eval_batch_size=${c.batch},`,
    '    gradient_accumulation_steps=1,',
    `    learning_rate=${py(c.lr)},`,
    `    lr_scheduler_type=${JSON.stringify(schedulerName(c.schedule, c.warmup))},`,
    `    warmup_steps=${c.warmup},`,
    '    weight_decay=0.0,',
    '    optim="adamw_torch",',
    `    max_grad_norm=${py(c.clipNorm)},${c.clipNorm > 0 ? '' : '  # 0: no clipping, as in the studio'}`,
    `    max_length=${c.seqLen},`,
    '    packing=False,',
    `    seed=SEED,`,
    '    bf16=True,',
    '    logging_steps=1,',
    '    eval_strategy="steps",',
    `    eval_steps=${Math.max(1, c.evalEvery)},`,
    '    save_strategy="no",',
    '    report_to="none",',
  ];
  return [
    header,
    '',
    imports.join('\n'),
    '',
    settings.join('\n'),
    '',
    'torch.manual_seed(SEED)',
    data.join('\n'),
    '',
    section.body.join('\n'),
    ...(usesPeft ? ['model.print_trainable_parameters()'] : []),
    '',
    `config = SFTConfig(\n${args.join('\n')}\n)`,
    ...(section.trainerSetup ?? []),
    `trainer = SFTTrainer(model=model, args=config, train_dataset=split["train"], eval_dataset=split["test"], processing_class=tokenizer${(section.trainerArgs ?? []).map((a) => `, ${a}`).join('')})`,
    'trainer.train()',
    'print(trainer.evaluate())',
    'trainer.save_model(OUT)',
    'tokenizer.save_pretrained(OUT)',
    '',
  ].join('\n');
}
