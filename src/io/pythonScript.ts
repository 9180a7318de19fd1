// A Python training script (Hugging Face transformers + PEFT + TRL) that reproduces one method's
// studio configuration on a CUDA machine, for when the user outgrows the browser (PRODUCT.md
// step 8). Pure string generation: the page hands in the method, its settings and the shared
// knobs; nothing here runs Python or knows the engine.
//
// Mapping (ADAPTERS.md):
//   lora    LoraConfig(r, lora_alpha, use_rslora, init_lora_weights=True | "gaussian")
//   pissa   init_lora_weights="pissa_niter_K" (K = rSVD power iterations; exact SVD: "pissa")
//   qlora   BitsAndBytesConfig(nf4, double quant) + prepare_model_for_kbit_training + LoRA
//   qpissa  PEFT's two-stage recipe: PiSSA on full precision, save the residual, reload it in NF4
//   loftq   init_lora_weights="loftq" with LoftQConfig(loftq_bits=4, loftq_iter=T)
//   sorsa, lorasb, spp  no PEFT equivalent: the closest PEFT setup, with a comment pointing to
//           the official code.
//   full    no adapter: every weight trains.
// Shared: SFTConfig with the same learning rate, schedule, warmup, steps, batch, sequence length,
// seed and gradient clipping; AdamW without weight decay, as the studio trains.
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

export const OFFICIAL_REPOS: Readonly<Record<string, string>> = {
  pissa: 'https://github.com/GraphPKU/PiSSA',
  qpissa: 'https://github.com/GraphPKU/PiSSA',
  sorsa: 'https://github.com/Gunale0926/SORSA',
  lorasb: 'https://github.com/RaghavSinghal10/lora-sb',
  spp: 'https://github.com/Lucky-Lance/SPP',
};

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

/** The LoraConfig(...) call for a low-rank method (PiSSA-style init where the method asks for it). */
function loraConfig(c: ScriptConfig, init: string, extra: string[] = []): string {
  const rank = num(c.settings, 'rank', 8);
  const alpha = num(c.settings, 'alpha', rank);
  const lines = [
    `    r=${rank},`,
    `    lora_alpha=${py(alpha)},`,
    `    use_rslora=${py(bool(c.settings, 'rslora', false))},`,
    `    lora_dropout=0.0,`,
    `    bias="none",`,
    `    target_modules=${peftTargets(c.family, c.targets)},`,
    `    init_lora_weights=${init},`,
    ...extra.map((e) => `    ${e},`),
    `    task_type="CAUSAL_LM",`,
  ];
  return `lora_config = LoraConfig(\n${lines.join('\n')}\n)`;
}

function pissaInit(c: ScriptConfig): string {
  return bool(c.settings, 'exactSvd', false) ? '"pissa"' : `"pissa_niter_${num(c.settings, 'niter', 4)}"`;
}

const NF4_CONFIG = (double: boolean) => `bnb_config = BitsAndBytesConfig(
    load_in_4bit=True,
    bnb_4bit_quant_type="nf4",
    bnb_4bit_use_double_quant=${py(double)},
    bnb_4bit_compute_dtype=torch.bfloat16,
)`;

interface Section {
  readonly imports: string[];
  readonly notes: string[];
  /** Code that leaves `model` (a PeftModel, or the plain model for full fine-tuning). */
  readonly body: string;
}

function methodSection(c: ScriptConfig): Section {
  const load = (quant: boolean) =>
    `model = AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype=torch.bfloat16${quant ? ', quantization_config=bnb_config' : ''}, device_map="auto")`;
  const repo = OFFICIAL_REPOS[c.methodId];
  switch (c.methodId) {
    case 'lora': {
      const gaussian = c.settings.init === 'gaussian';
      return { imports: [], notes: [gaussian ? 'LoRA: Gaussian A, zero B.' : 'LoRA: Kaiming-uniform A, zero B (PEFT default).'], body: [load(false), loraConfig(c, gaussian ? '"gaussian"' : 'True'), 'model = get_peft_model(model, lora_config)'].join('\n') };
    }
    case 'pissa':
      return {
        imports: [],
        notes: [
          'PiSSA: A and B start from the r principal singular triplets of W; W keeps the residual.',
          'To share the result as a plain LoRA on the original weights, save with',
          'model.save_pretrained(OUT, path_initial_model_for_weight_conversion=...) (PEFT docs, "PiSSA").',
        ],
        body: [load(false), loraConfig(c, pissaInit(c)), 'model = get_peft_model(model, lora_config)'].join('\n'),
      };
    case 'qlora':
      return {
        imports: [],
        notes: ['QLoRA: the frozen base in 4-bit NF4, LoRA factors in bf16.'],
        body: [NF4_CONFIG(bool(c.settings, 'doubleQuant', true)), load(true), 'model = prepare_model_for_kbit_training(model)', loraConfig(c, 'True'), 'model = get_peft_model(model, lora_config)'].join('\n'),
      };
    case 'qpissa': {
      const iterations = num(c.settings, 'iterations', 1);
      return {
        imports: ['import os'],
        notes: [
          "QPiSSA, PEFT's two-stage recipe (examples/pissa_finetuning): PiSSA on the full-precision",
          'model, save the residual model and the initial adapter, reload the residual in NF4.',
          ...(iterations > 1
            ? [
                `The studio ran T = ${iterations} alternating SVD/quantization rounds; PEFT has no such option (T = 1 here).`,
                `The official code does the multi-round init: ${repo}`,
              ]
            : []),
        ],
        body: [
          '# Stage 1: PiSSA init on the full-precision model; keep the residual W - B A.',
          load(false),
          loraConfig(c, pissaInit(c)),
          'peft_model = get_peft_model(model, lora_config)',
          'peft_model.peft_config["default"].init_lora_weights = True  # saved adapter reloads as plain LoRA',
          'peft_model.save_pretrained(os.path.join(OUT, "pissa_init"))',
          'residual = peft_model.unload()',
          'residual.save_pretrained(os.path.join(OUT, "residual"))',
          'tokenizer.save_pretrained(os.path.join(OUT, "residual"))',
          'del peft_model, residual, model',
          'torch.cuda.empty_cache()',
          '',
          '# Stage 2: the residual in NF4, the principal adapter trainable.',
          NF4_CONFIG(bool(c.settings, 'doubleQuant', true)),
          'model = AutoModelForCausalLM.from_pretrained(os.path.join(OUT, "residual"), torch_dtype=torch.bfloat16, quantization_config=bnb_config, device_map="auto")',
          'model = prepare_model_for_kbit_training(model)',
          'model = PeftModel.from_pretrained(model, os.path.join(OUT, "pissa_init"), is_trainable=True)',
        ].join('\n'),
      };
    }
    case 'loftq':
      return {
        imports: [],
        notes: [
          'LoftQ: PEFT quantizes W to NF4 and initialises A, B from the SVD of the quantization error,',
          'alternating loftq_iter times. Load the base unquantized here (PEFT docs, "LoftQ").',
        ],
        body: [load(false), loraConfig(c, '"loftq"', [`loftq_config=LoftQConfig(loftq_bits=4, loftq_iter=${num(c.settings, 'iterations', 1)})`]), 'model = get_peft_model(model, lora_config)'].join('\n'),
      };
    case 'sorsa':
      return {
        imports: [],
        notes: [
          'SORSA has no PEFT equivalent. It trains B diag(S) A from the principal SVD with an',
          `orthonormality regulariser on A and B (gamma = ${py(num(c.settings, 'gamma', 4e-4))}). Official code: ${repo}`,
          'Below: the closest PEFT setup, PiSSA with the same rank (no diag(S), no regulariser).',
        ],
        body: [load(false), loraConfig(c, pissaInit(c)), 'model = get_peft_model(model, lora_config)'].join('\n'),
      };
    case 'lorasb':
      return {
        imports: [],
        notes: [
          'LoRA-SB has no PEFT equivalent. It trains only an r x r matrix R between frozen A and B',
          `initialised from the SVD of the first update estimated over ${num(c.settings, 'estimationBatches', 4)} batches. Official code: ${repo}`,
          'Below: the closest PEFT setup, plain LoRA with the same rank (all of A and B train).',
        ],
        body: [load(false), loraConfig(c, 'True'), 'model = get_peft_model(model, lora_config)'].join('\n'),
      };
    case 'spp':
      return {
        imports: [],
        notes: [
          `SPP has no PEFT equivalent. It prunes W (${String(c.settings.pruning ?? 'wanda')}, ${String(c.settings.pattern ?? 'unstructured')}` +
            `${c.settings.pattern === 'unstructured' || c.settings.pattern === undefined ? `, ratio ${py(num(c.settings, 'ratio', 0.5))}` : ''}) and trains`,
          `W * (1 + s * col @ row) so the zeros stay zero. Official code: ${repo}`,
          'Below: the closest PEFT setup, LoRA with rank 8 on the unpruned model (the update is dense).',
        ],
        body: [load(false), loraConfig({ ...c, settings: { rank: 8, alpha: num(c.settings, 'alpha', 16) } }, 'True'), 'model = get_peft_model(model, lora_config)'].join('\n'),
      };
    case 'full':
      return { imports: [], notes: ['Full fine-tuning: every weight trains; no adapter.'], body: load(false) };
    default:
      return { imports: [], notes: [`The studio's method "${c.methodId}" is unknown to this generator: plain LoRA below.`], body: [load(false), loraConfig(c, 'True'), 'model = get_peft_model(model, lora_config)'].join('\n') };
  }
}

function comment(lines: readonly string[]): string {
  return lines.map((l) => (l ? `# ${l}` : '#')).join('\n');
}

/** The whole script: imports, settings, data, model and method, SFTTrainer, save. */
export function trainingScript(c: ScriptConfig): string {
  const section = methodSection(c);
  const usesPeft = c.methodId !== 'full';
  const quantized = ['qlora', 'qpissa'].includes(c.methodId);
  const peftImports = ['LoraConfig', 'get_peft_model'];
  if (quantized) peftImports.push('prepare_model_for_kbit_training');
  if (c.methodId === 'qpissa') peftImports.push('PeftModel');
  if (c.methodId === 'loftq') peftImports.push('LoftQConfig');
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
    'pip install "torch" "transformers>=4.46" "peft>=0.13" "trl>=0.20" "datasets" "accelerate"' + (quantized || c.methodId === 'loftq' ? ' "bitsandbytes"' : ''),
    `python train_${c.methodId}.py`,
    ...(section.notes.length > 0 ? ['', ...section.notes] : []),
  ]);
  const imports = [
    ...section.imports,
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
    section.body,
    ...(c.methodId === 'full' ? [] : ['model.print_trainable_parameters()']),
    '',
    `config = SFTConfig(\n${args.join('\n')}\n)`,
    'trainer = SFTTrainer(model=model, args=config, train_dataset=split["train"], eval_dataset=split["test"], processing_class=tokenizer)',
    'trainer.train()',
    'print(trainer.evaluate())',
    'trainer.save_model(OUT)',
    'tokenizer.save_pretrained(OUT)',
    '',
  ].join('\n');
}
