// The input kinds the fuzzer covers: for each, valid seed files, how a case is made from them
// (mutate.ts), and the real entry points that read it: the same functions the studio worker and
// the CLI call. A model folder is opened from memory the way the worker opens a dropped folder
// (openModelFiles, loadModelTokenizer, every tensor read as the GPU loader reads it) and from disk
// the way `info` does (modelInfo: the folder check, the tokenizer, the memory estimate). Data files
// go through the worker's loadDataFile + previewData and the CLI's prepareRunData; adapters through
// openPeftAdapterFiles; saved runs through parseRunRecord, the runs list and every consumer of a
// record (summary, CSV, JSON, the HTML report).
// Each kind also keeps a previously loaded state (a model, a tokenizer, a dataset, a record)
// and can say whether any case touched it: a refusal must leave what was loaded as it was.
// Not here: running and classifying cases (harness.ts).

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bytesSource, type ByteSource } from '../io/byteSource';
import { createBatcher, prepareDataset, splitTrainValidation } from '../io/datasets';
import { readGenerationConfig } from '../io/generationConfig';
import { openModelFiles, readModelTensorAsF32 } from '../io/modelFiles';
import { peftAdapterFiles, type PeftAdapter } from '../io/peft';
import { openPeftAdapterFiles } from '../io/peftAdapterReader';
import { curvesCsv, curvesJson, parseRunRecord, summaryRows, type RunRecord } from '../io/runRecord';
import { runListing } from '../io/runDb';
import { htmlReport } from '../io/report';
import { chatSegments } from '../io/chatTemplate';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors';
import { tinyConfigJson, tinyModelTensors, pseudoRandom } from '../io/testModels';
import { CHATML, LLAMA2 } from '../io/testChatTemplates';
import { byteLevelBpeTokenizerJson, loadModelTokenizer, type TextTokenizer } from '../io/tokenizer';
import { formatInfo, modelInfo } from '../cli/commands/info';
import { bufferIo, prepareRunData } from '../cli/commands/common';
import { StudioData } from '../worker/studioData';
import { mutateBytes, mutateJsonFile, mutateSafetensors, mutateTemplate, mutateText, mutateValue, Rng, type JsonMutationOptions } from './mutate';
import { errorMessage, InternalError } from '../errors';

/** A file of a case: its path inside the dropped folder and its bytes. */
export interface CaseFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface FuzzCase {
  /** The whole input (a folder, one data file) or, for saved runs, the stored value. */
  readonly files: readonly CaseFile[];
  readonly value?: unknown;
  /** What the mutator did. */
  readonly op: string;
  /** Names a refusal must mention one of (the files of the case, or "saved run"). */
  readonly names: readonly string[];
}

/** One kind, set up: its baseline is loaded and its temp folder made. */
export interface KindContext {
  makeCase(rng: Rng): FuzzCase;
  /** Reads the case through every entry point; resolves when all accepted it, rejects with the first refusal. */
  run(c: FuzzCase): Promise<void>;
  /** null when the previously loaded state is as it was; otherwise what changed. */
  checkState(): Promise<string | null>;
  dispose(): Promise<void>;
}

export interface FuzzKind {
  readonly name: string;
  /** The file(s) the kind mutates, for the report. */
  readonly input: string;
  setup(): Promise<KindContext>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const json = (value: unknown): Uint8Array => encoder.encode(`${JSON.stringify(value, null, 2)}\n`);

// ---------------------------------------------------------------------------------------------
// Seeds

/** A Qwen-style template with a namespace, a reversed loop, tojson and a date. */
const TOOLS =
  "{%- set ns = namespace(last_user=0) -%}{%- for m in messages[::-1] -%}{%- if m.role == 'user' and ns.last_user == 0 -%}" +
  '{%- set ns.last_user = messages|length - loop.index0 -%}{%- endif -%}{%- endfor -%}' +
  "{%- if tools is not none -%}{{ tools|tojson(indent=2) }}{%- endif -%}Today is {{ strftime_now('%d %b %Y') }}.\n" +
  "{%- for m in messages -%}{{ '<|' + m.role + '|>' + (m.content|trim|replace('\\r', '')) + '<|end|>\\n' }}{%- endfor -%}" +
  "{%- if add_generation_prompt -%}{{ '<|assistant|>' }}{%- endif -%}";

const MERGES: [string, string][] = [
  [' ', 't'],
  ['h', 'e'],
  [' t', 'he'],
  ['i', 'n'],
  [' ', 'a'],
  ['e', 'r'],
  ['o', 'n'],
  [' ', 's'],
];
const SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<s>', '</s>'];

function tokenizerJson(): Record<string, unknown> {
  return byteLevelBpeTokenizerJson({ merges: MERGES, specialTokens: SPECIAL });
}

function tokenizerConfigJson(template: string): Record<string, unknown> {
  return {
    add_bos_token: false,
    add_eos_token: false,
    bos_token: { content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false },
    eos_token: '<|endoftext|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: 2048,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    chat_template: template,
    tokenizer_class: 'GPT2Tokenizer',
  };
}

const VOCAB = 300;

interface FolderSeed {
  readonly files: CaseFile[];
}

/** A complete model folder: config, weights (single or sharded), tokenizer files, generation config. */
function modelFolder(modelType: 'gpt2' | 'llama' | 'qwen2', options: { shards?: number; template?: string } = {}): FolderSeed {
  const config = { ...tinyConfigJson(modelType), vocab_size: VOCAB, bos_token_id: 259, eos_token_id: 256 };
  const tensors = tinyModelTensors(config, { namePrefix: modelType === 'gpt2' ? 'transformer.' : '', dtype: modelType === 'qwen2' ? 'BF16' : 'F32' });
  const files: CaseFile[] = [
    { name: 'model/config.json', bytes: json(config) },
    { name: 'model/tokenizer.json', bytes: json(tokenizerJson()) },
    { name: 'model/tokenizer_config.json', bytes: json(tokenizerConfigJson(options.template ?? CHATML)) },
    { name: 'model/special_tokens_map.json', bytes: json({ bos_token: '<s>', eos_token: '<|endoftext|>' }) },
    {
      name: 'model/generation_config.json',
      bytes: json({
        bos_token_id: 259,
        eos_token_id: [256, 258],
        do_sample: true,
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        max_new_tokens: 64,
        transformers_version: '4.46.3',
      }),
    },
  ];
  const shards = options.shards ?? 1;
  if (shards <= 1) {
    files.push({ name: 'model/model.safetensors', bytes: writeSafetensors(tensors, { format: 'pt' }) });
    return { files };
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(tensors.length / shards);
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    for (const t of part) weightMap[t.name] = name;
    const bytes = writeSafetensors(part, { format: 'pt' });
    total += bytes.byteLength;
    files.push({ name: `model/${name}`, bytes });
  }
  files.push({ name: 'model/model.safetensors.index.json', bytes: json({ metadata: { total_size: total }, weight_map: weightMap }) });
  return { files };
}

const SEED_MODELS = (): FolderSeed[] => [modelFolder('llama'), modelFolder('gpt2', { template: LLAMA2 }), modelFolder('qwen2', { template: TOOLS })];

function replaceFile(files: readonly CaseFile[], name: string, bytes: Uint8Array): CaseFile[] {
  return files.map((f) => (f.name === name ? { name, bytes } : f));
}

function fileOf(files: readonly CaseFile[], suffix: string): CaseFile {
  const f = files.find((x) => x.name.endsWith(suffix));
  if (!f) throw new InternalError(`fuzz seed has no ${suffix}`);
  return f;
}

function parsedJson(file: CaseFile): unknown {
  return JSON.parse(decoder.decode(file.bytes)) as unknown;
}

function sources(files: readonly CaseFile[]): ByteSource[] {
  return files.map((f) => bytesSource(f.name, f.bytes));
}

const baseName = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

/** Names a refusal about a folder may mention: any of its files. */
function folderNames(files: readonly CaseFile[]): string[] {
  return [...new Set(files.map((f) => baseName(f.name))), 'model/'];
}

// ---------------------------------------------------------------------------------------------
// Entry points

const SAMPLES = ['Hello world', 'the theater is in the east', 'é 🦙 \u0000 \ud800 <|im_end|>', ''];
const CONVERSATION = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'And 3+3?' },
  { role: 'assistant', content: '6' },
];
const CHAT_DATA = [
  JSON.stringify({ messages: CONVERSATION }),
  JSON.stringify({ prompt: 'Question: 1+1?\nAnswer:', completion: ' 2' }),
  JSON.stringify({ text: 'the end' }),
].join('\n');

/** What the worker does with a dropped folder (less the GPU upload): every check and every tensor read. */
async function openLikeWorker(files: readonly CaseFile[]): Promise<TextTokenizer | null> {
  const source = await openModelFiles(sources(files));
  for (const t of source.tensors) await readModelTensorAsF32(t, { chunkBytes: 4096 });
  if (source.tokenizer.generationConfig) await readGenerationConfig(source.tokenizer.generationConfig, source.config.vocabSize);
  if (!source.tokenizer.tokenizerJson) return null;
  const tokenizer = await loadModelTokenizer(source);
  useTokenizer(tokenizer);
  return tokenizer;
}

/** Everything the studio does with a tokenizer: encode, decode, render chats, tokenize chat data. */
function useTokenizer(tokenizer: TextTokenizer): void {
  for (const text of SAMPLES) {
    const ids = tokenizer.encode(text);
    tokenizer.decode(ids);
    tokenizer.decode(ids, { skipSpecialTokens: true });
  }
  tokenizer.decode([0, 1, tokenizer.vocabSize - 1, tokenizer.vocabSize + 5, -1]);
  if (tokenizer.compiledChatTemplate) {
    try {
      tokenizer.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true });
      chatSegments(tokenizer.compiledChatTemplate, CONVERSATION);
    } catch (error) {
      // The template refusing this conversation (raise_exception) is its right; anything else is not.
      if (!(error instanceof Error && error.name === 'DatasetError')) throw error;
    }
  }
  try {
    prepareDataset(CHAT_DATA, tokenizer, { fileName: 'fuzz/chat.jsonl', seqLen: 32 });
  } catch (error) {
    if (!(error instanceof Error && error.name === 'DatasetError')) throw error;
  }
}

/** Writes the files under `dir` (replacing what a previous case left). */
async function writeFolder(dir: string, files: readonly CaseFile[]): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  for (const f of files) {
    const path = join(dir, f.name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.bytes);
  }
  return join(dir, 'model');
}

/** Fingerprint of a loaded model folder: config, tensor table, two tensors' values, tokenizer behaviour. */
async function modelFingerprint(
  files: readonly CaseFile[],
  loaded: { source: Awaited<ReturnType<typeof openModelFiles>>; tokenizer: TextTokenizer },
): Promise<string> {
  const { source, tokenizer } = loaded;
  const first = await readModelTensorAsF32(source.tensors[0]!);
  const last = await readModelTensorAsF32(source.tensors[source.tensors.length - 1]!);
  let sum = 0;
  for (const v of first) sum += v;
  for (const v of last) sum += v;
  return JSON.stringify({
    files: files.map((f) => [f.name, f.bytes.byteLength, f.bytes.reduce((a, b) => (a * 31 + b) >>> 0, 7)]),
    config: source.config,
    tensors: source.tensors.map((t) => [t.name, t.shape, t.dtype, t.info.byteOffset]),
    warnings: source.warnings,
    sum,
    ids: SAMPLES.map((s) => tokenizer.encode(s)),
    text: tokenizer.decode(tokenizer.encode(SAMPLES[2]!)),
    chat: tokenizer.compiledChatTemplate ? tokenizer.applyChatTemplate(CONVERSATION.slice(1, 3)) : null,
  });
}

/** Own property names of the built-in prototypes and the global object, to catch pollution. */
function globalsSnapshot(): string {
  const names = (o: object): string => Object.getOwnPropertyNames(o).sort().join(',');
  return [Object.prototype, Array.prototype, String.prototype, Function.prototype, Number.prototype, globalThis].map(names).join('|');
}

/** A kind that mutates one or more files of a model folder. */
function folderKind(
  name: string,
  input: string,
  mutate: (rng: Rng, seed: FolderSeed) => { files: CaseFile[]; op: string },
  seeds: () => FolderSeed[] = SEED_MODELS,
): FuzzKind {
  return {
    name,
    input,
    async setup() {
      const all = seeds();
      const baseline = all[0]!;
      const baseSource = await openModelFiles(sources(baseline.files));
      const baseTokenizer = await loadModelTokenizer(baseSource);
      const loaded = { source: baseSource, tokenizer: baseTokenizer };
      const expected = await modelFingerprint(baseline.files, loaded);
      const globals = globalsSnapshot();
      const dir = await mkdtemp(join(tmpdir(), `fuzz-${name}-`));
      return {
        makeCase(rng) {
          const seed = rng.pick(all);
          const { files, op } = mutate(rng, seed);
          return { files, op, names: folderNames(files) };
        },
        async run(c) {
          await openLikeWorker(c.files);
          const info = await modelInfo(await writeFolder(dir, c.files), 4, 64);
          formatInfo(info);
          JSON.stringify(info);
        },
        async checkState() {
          if (globalsSnapshot() !== globals) return 'a built-in prototype or the global object gained or lost a property';
          const now = await modelFingerprint(baseline.files, loaded);
          return now === expected ? null : 'the previously loaded model or tokenizer changed';
        },
        async dispose() {
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

const CONFIG_EXTRA: JsonMutationOptions['extraKeys'] = [
  ['num_hidden_layers', 1_000_000_000],
  ['n_layer', 2 ** 31],
  ['hidden_size', 2 ** 40],
  ['vocab_size', 2 ** 33],
  ['intermediate_size', 1e15],
  ['max_position_embeddings', 2 ** 53],
  ['n_positions', 1e12],
  ['head_dim', 0],
  ['num_key_value_heads', 3],
  ['rope_scaling', { rope_type: 'llama3', factor: 8 }],
  ['rope_scaling', { type: 'default' }],
  ['sliding_window', 4],
  ['use_sliding_window', true],
  ['partial_rotary_factor', 0.5],
  ['tie_word_embeddings', 'yes'],
  ['attention_bias', true],
  ['mlp_bias', true],
  ['model_type', 'bert'],
  ['architectures', ['BertModel']],
  ['eos_token_id', [1, 2, 2 ** 40]],
  ['torch_dtype', { x: 1 }],
  ['activation_function', 'relu'],
];

const TOKENIZER_EXTRA: JsonMutationOptions['extraKeys'] = [
  ['normalizer', { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Lowercase' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] }],
  ['normalizer', { type: 'Precompiled', precompiled_charsmap: 'AAAA' }],
  ['pre_tokenizer', { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }],
  ['pre_tokenizer', { type: 'Split', pattern: { Regex: '[' }, behavior: 'Isolated', invert: false }],
  ['pre_tokenizer', { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' }],
  ['pre_tokenizer', { type: 'NoSuchPreTokenizer' }],
  ['decoder', { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] }],
  [
    'post_processor',
    {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [259], tokens: ['<s>'] } },
    },
  ],
  ['post_processor', { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<x>', type_id: 0 } }], pair: [], special_tokens: {} }],
  ['added_tokens', [{ id: 2 ** 40, content: 'big', special: true }]],
  ['added_tokens', [{ id: 5, content: 'five', special: false, normalized: true }]],
  ['type', 'Unigram'],
  ['type', 'WordPiece'],
  ['unk_token', '<unk>'],
  ['byte_fallback', true],
  ['continuing_subword_prefix', '##'],
  ['ignore_merges', true],
];

const TOKENIZER_CONFIG_EXTRA: JsonMutationOptions['extraKeys'] = [
  [
    'chat_template',
    [
      { name: 'default', template: '{{ messages }}' },
      { name: 'tool_use', template: '{% for %}' },
    ],
  ],
  ['chat_template', { default: 1 }],
  ['chat_template', '{% for i in range(10**9) %}x{% endfor %}'],
  ['chat_template', '{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}'],
  ['bos_token', '<not-in-vocab>'],
  ['eos_token', { content: '</s>', special: true }],
  ['eos_token', { content: 5 }],
  ['pad_token', '<|im_end|>'],
  ['unk_token', '<unk>'],
  ['additional_special_tokens', [{ content: 'x' }, 7, null]],
  ['add_bos_token', true],
  ['clean_up_tokenization_spaces', true],
  ['model_max_length', 1e30],
];

const ADAPTER_EXTRA: JsonMutationOptions['extraKeys'] = [
  ['peft_type', 'LOHA'],
  ['peft_type', 'Lora'], // wrong case: PEFT spells it LORA
  ['use_dora', true],
  ['use_rslora', true],
  ['fan_in_fan_out', 'no'],
  ['rank_pattern', { q_proj: 2, 'model.layers.0.self_attn.v_proj': 16 }],
  ['rank_pattern', { '(a+)+$': 4 }],
  ['alpha_pattern', { q_proj: 1e308 }],
  ['r', 0],
  ['r', 2 ** 31],
  ['lora_alpha', 'sixteen'],
  ['target_modules', '.*q_proj'],
  ['target_modules', [1, 2]],
  ['init_lora_weights', 'pissa_niter_4'],
  ['modules_to_save', ['lm_head']],
];

// ---------------------------------------------------------------------------------------------
// Kinds

const safetensorsKind = folderKind('safetensors', 'model.safetensors (header and data)', (rng, seed) => {
  const file = fileOf(seed.files, 'model.safetensors');
  const m = mutateSafetensors(rng, file.bytes);
  return { files: replaceFile(seed.files, file.name, m.value), op: m.op };
});

const indexKind = folderKind(
  'safetensors-index',
  'model.safetensors.index.json (+ shards)',
  (rng, seed) => {
    if (rng.chance(0.15)) {
      const shards = seed.files.filter((f) => /model-\d+-of-\d+\.safetensors$/.test(f.name));
      const shard = rng.pick(shards);
      const m = mutateSafetensors(rng, shard.bytes);
      return { files: replaceFile(seed.files, shard.name, m.value), op: `shard ${baseName(shard.name)} ${m.op}` };
    }
    const index = fileOf(seed.files, 'model.safetensors.index.json');
    const m = mutateJsonFile(rng, parsedJson(index), {
      extraKeys: [
        ['model.layers.9.mlp.up_proj.weight', 'model-00003-of-00002.safetensors'],
        ['model.norm.weight', '../../etc/passwd'],
        ['lm_head.weight', 'pytorch_model.bin'],
        ['weight_map', {}],
        ['total_size', 2 ** 53],
      ],
    });
    return { files: replaceFile(seed.files, index.name, m.value), op: m.op };
  },
  () => [modelFolder('llama', { shards: 2 }), modelFolder('gpt2', { shards: 3 })],
);

const configKind = folderKind('config', 'config.json', (rng, seed) => {
  const file = fileOf(seed.files, 'config.json');
  const m = mutateJsonFile(rng, parsedJson(file), { extraKeys: CONFIG_EXTRA });
  return { files: replaceFile(seed.files, file.name, m.value), op: m.op };
});

const tokenizerKind = folderKind('tokenizer', 'tokenizer.json', (rng, seed) => {
  const file = fileOf(seed.files, 'tokenizer.json');
  const m = mutateJsonFile(rng, parsedJson(file), { extraKeys: TOKENIZER_EXTRA, maxGrow: 5_000 });
  return { files: replaceFile(seed.files, file.name, m.value), op: m.op };
});

const tokenizerConfigKind = folderKind('tokenizer-config', 'tokenizer_config.json + special_tokens_map.json', (rng, seed) => {
  const file = fileOf(seed.files, rng.chance(0.85) ? 'tokenizer_config.json' : 'special_tokens_map.json');
  const m = mutateJsonFile(rng, parsedJson(file), { extraKeys: TOKENIZER_CONFIG_EXTRA });
  return { files: replaceFile(seed.files, file.name, m.value), op: `${baseName(file.name)} ${m.op}` };
});

const chatTemplateKind = folderKind('chat-template', 'the chat_template in tokenizer_config.json', (rng, seed) => {
  const file = fileOf(seed.files, 'tokenizer_config.json');
  const config = parsedJson(file) as Record<string, unknown>;
  let template = String(config.chat_template);
  const ops: string[] = [];
  for (let i = 0; i < 1 + (rng.chance(0.3) ? rng.int(3) : 0); i++) {
    const m = mutateTemplate(rng, template);
    template = m.value;
    ops.push(m.op);
  }
  return { files: replaceFile(seed.files, file.name, json({ ...config, chat_template: template })), op: ops.join('; ') };
});

const generationConfigKind = folderKind('generation-config', 'generation_config.json', (rng, seed) => {
  const file = fileOf(seed.files, 'generation_config.json');
  const m = mutateJsonFile(rng, parsedJson(file), {
    extraKeys: [
      ['eos_token_id', [256, 2 ** 40]],
      ['pad_token_id', -1],
      ['top_p', 2],
      ['temperature', Number.NaN],
      ['max_new_tokens', 0],
      ['do_sample', 'yes'],
    ],
  });
  return { files: replaceFile(seed.files, file.name, m.value), op: m.op };
});

// --- datasets ---------------------------------------------------------------------------------

const DATA_SEEDS: Record<'jsonl' | 'json' | 'csv' | 'text', { name: string; text: string }[]> = {
  jsonl: [
    {
      name: 'data/train.jsonl',
      text: [
        { text: 'The quick brown fox jumps over the lazy dog.' },
        { prompt: 'Translate: cat', completion: ' chat' },
        { instruction: 'Add the numbers.', input: '2 and 3', output: '5' },
        { instruction: 'Say hi.', output: 'hi' },
        { messages: CONVERSATION },
        {
          messages: [
            { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
            { role: 'assistant', content: 'Hello!' },
          ],
        },
        { prompt: 'Q: 7*6?', completion: 42 },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    },
    {
      name: 'data/math.jsonl',
      text: [
        { question: 'Tom has 3 apples and buys 2 more. How many?', answer: '5' },
        { question: 'What is 10 - 4?', answer: 6 },
        { question: 'Half of 8?', answer: '4' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    },
  ],
  json: [
    {
      name: 'data/train.json',
      text: JSON.stringify(
        [
          { prompt: 'Capital of France?', completion: ' Paris' },
          { text: 'Just some text to learn.' },
          { messages: CONVERSATION.slice(1, 3) },
          { question: 'What is 1+1?', answer: '2' },
        ],
        null,
        1,
      ),
    },
  ],
  csv: [
    {
      name: 'data/train.csv',
      text: 'prompt,completion\n"Translate ""yes""",oui\n"Add 2, 3", 5\n"multi\nline prompt",done\nplain,row\n',
    },
    {
      name: 'data/train.tsv',
      text: 'instruction\tinput\toutput\nReverse\tabc\tcba\nCount\t\tthree\n"Quoted\ttab"\tx\ty\n',
    },
  ],
  text: [
    {
      name: 'data/book.txt',
      text: 'First paragraph of a small book.\nIt has two lines.\n\nSecond paragraph, with a comma.\n\n\nThird: the end.\n',
    },
  ],
};

const PARAMS = { seqLen: 48, validationFraction: 0.2, seed: 1 };

/** Fields a data row may have, with values worth trying. */
const DATA_EXTRA: JsonMutationOptions['extraKeys'] = [
  ['messages', [{ role: 'user', content: 'x' }]],
  ['messages', Array.from({ length: 300 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: String(i) }))],
  ['messages', [{ role: 'assistant', content: { toString: 1 } }]],
  ['question', { toString: 1 }],
  ['answer', [1, [2, [3]]]],
  ['completion', 1e308],
  ['prompt', null],
  ['input', ['a']],
  ['text', ''],
];

/** One row of a JSONL file mutated as a JSON value. */
function mutateJsonLine(rng: Rng, text: string): { value: Uint8Array; op: string } {
  const lines = text.split('\n');
  const i = rng.int(lines.length);
  const m = mutateJsonFile(rng, JSON.parse(lines[i]!) as unknown, { maxGrow: 2_000, extraKeys: DATA_EXTRA });
  lines[i] = decoder.decode(m.value).replace(/\n/g, ' ');
  return { value: encoder.encode(lines.join('\n')), op: `line ${i + 1} ${m.op}` };
}

function datasetKind(kind: keyof typeof DATA_SEEDS, input: string): FuzzKind {
  return {
    name: `dataset-${kind}`,
    input,
    async setup() {
      const baseline = modelFolder('llama');
      const tokenizer = await loadModelTokenizer(await openModelFiles(sources(baseline.files)));
      const seeds = DATA_SEEDS[kind];
      const dir = await mkdtemp(join(tmpdir(), `fuzz-dataset-${kind}-`));
      // The studio's data state starts as the first seed; after a refusal it must be what it was.
      const first = seeds[0]!;
      const data = new StudioData();
      const check = (): string => JSON.stringify(data.preview(tokenizer, PARAMS));
      let expected = await data.loadFile(new File([first.text], baseName(first.name)), check);
      const globals = globalsSnapshot();
      let lastRefused = false;
      return {
        makeCase(rng) {
          const seed = rng.pick(seeds);
          // A JSON file is mostly mutated as a value (rows, fields, nesting), a JSONL file line by
          // line as values, and every file sometimes as text.
          const m =
            kind === 'json' && rng.chance(0.7)
              ? mutateJsonFile(rng, JSON.parse(seed.text) as unknown, { maxGrow: 2_000, extraKeys: DATA_EXTRA })
              : kind === 'jsonl' && rng.chance(0.5)
                ? mutateJsonLine(rng, seed.text)
                : mutateText(rng, seed.text, { jsonLines: kind === 'jsonl', csv: kind === 'csv' });
          // Sometimes the data arrives under another extension, or none.
          const name = rng.chance(0.1) ? seed.name.replace(/\.\w+$/, rng.pick(['.txt', '.json', '.jsonl', '.csv', ''])) : seed.name;
          return { files: [{ name, bytes: m.value }], op: m.op, names: [baseName(name), baseName(name).replace(/\.\w+$/, '')] };
        },
        async run(c) {
          const file = c.files[0]!;
          lastRefused = true;
          // The studio worker: the dropped File, mapped and previewed; adopted only if accepted.
          const preview = await data.loadFile(new File([file.bytes.slice()], baseName(file.name)), check);
          expected = preview;
          lastRefused = false;
          // The CLI: --data FILE through prepareRunData, then batches.
          const path = join(dir, baseName(file.name) || 'data');
          await writeFile(path, file.bytes);
          const prepared = await prepareRunData(bufferIo(), tokenizer, { data: path, seqLen: PARAMS.seqLen, batch: 4, seed: 1, validation: 0.2 });
          prepared.batcher.batch(0);
          prepared.batcher.batch(prepared.batcher.stepsPerEpoch + 1);
          for (const batch of prepared.validationBatches) void batch.countedTokens;
          // Packing and another split, as the study uses them.
          splitTrainValidation(prepared.prepared.examples, 0.5, 3);
          createBatcher(prepared.prepared.examples, { batchSize: 3, seqLen: PARAMS.seqLen, seed: 2, packing: true }).batch(5);
        },
        async checkState() {
          if (globalsSnapshot() !== globals) return 'a built-in prototype or the global object gained or lost a property';
          if (!lastRefused) return null;
          let now: string;
          try {
            now = check();
          } catch (error) {
            return `the previously loaded data can no longer be previewed (${errorMessage(error)})`;
          }
          return now === expected ? null : 'the previously loaded data changed after a refusal';
        },
        async dispose() {
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

// --- adapters ---------------------------------------------------------------------------------

function adapterSeeds(): CaseFile[][] {
  const layer = (module: string, r: number, inF: number, outF: number, seed: number) => ({
    module,
    A: pseudoRandom(r * inF, seed),
    B: pseudoRandom(outF * r, seed + 1),
    inFeatures: inF,
    outFeatures: outF,
  });
  const llama: PeftAdapter = {
    family: 'llama',
    baseModel: 'tiny-llama',
    rank: 4,
    alpha: 8,
    useRslora: false,
    layers: [
      layer('model.layers.0.self_attn.q_proj', 4, 16, 16, 1),
      layer('model.layers.0.self_attn.v_proj', 4, 16, 8, 3),
      layer('model.layers.1.mlp.down_proj', 4, 40, 16, 5),
    ],
  };
  const gpt2: PeftAdapter = {
    family: 'gpt2',
    baseModel: 'tiny-gpt2',
    rank: 2,
    alpha: 4,
    useRslora: true,
    layers: [layer('h.0.attn.c_attn', 2, 16, 48, 7), layer('h.1.mlp.c_fc', 2, 16, 64, 9)],
  };
  const asFiles = (files: { name: string; data: Uint8Array }[]): CaseFile[] => files.map((f) => ({ name: `adapter/${f.name}`, bytes: f.data }));
  // DoRA with a rank_pattern, written by hand as PEFT writes it.
  const dora: TensorToWrite[] = [];
  const modules: [string, number, number, number][] = [
    ['model.layers.0.self_attn.q_proj', 2, 16, 16],
    ['model.layers.0.self_attn.k_proj', 4, 16, 8],
  ];
  modules.forEach(([m, r, inF, outF], i) => {
    dora.push({ name: `base_model.model.${m}.lora_A.weight`, dtype: 'F16', shape: [r, inF], data: pseudoRandom(r * inF, 20 + i) });
    dora.push({ name: `base_model.model.${m}.lora_B.weight`, dtype: 'F16', shape: [outF, r], data: pseudoRandom(outF * r, 30 + i) });
    dora.push({ name: `base_model.model.${m}.lora_magnitude_vector`, dtype: 'F32', shape: [outF], data: pseudoRandom(outF, 40 + i) });
  });
  const doraConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: 4,
    lora_alpha: 8,
    use_dora: true,
    use_rslora: false,
    fan_in_fan_out: false,
    target_modules: ['q_proj', 'k_proj'],
    rank_pattern: { q_proj: 2 },
    alpha_pattern: { 'model.layers.0.self_attn.k_proj': 16 },
    bias: 'none',
  };
  return [
    asFiles(peftAdapterFiles(llama) as { name: string; data: Uint8Array }[]),
    asFiles(peftAdapterFiles(gpt2) as { name: string; data: Uint8Array }[]),
    [
      { name: 'adapter/adapter_config.json', bytes: json(doraConfig) },
      { name: 'adapter/adapter_model.safetensors', bytes: writeSafetensors(dora, { format: 'pt' }) },
    ],
  ];
}

const adapterKind: FuzzKind = {
  name: 'adapter',
  input: 'adapter_config.json + adapter_model.safetensors',
  async setup() {
    const seeds = adapterSeeds();
    const loaded = await openPeftAdapterFiles(sources(seeds[0]!));
    const fingerprint = (): string =>
      JSON.stringify([...loaded.layers.values()].map((l) => [l.module, l.rank, l.scale, Array.from(l.A.subarray(0, 4)), Array.from(l.B.subarray(0, 4))]));
    const expected = fingerprint();
    const globals = globalsSnapshot();
    return {
      makeCase(rng) {
        const seed = rng.pick(seeds);
        if (rng.chance(0.5)) {
          const file = fileOf(seed, 'adapter_config.json');
          const m = mutateJsonFile(rng, parsedJson(file), { extraKeys: ADAPTER_EXTRA });
          return { files: replaceFile(seed, file.name, m.value), op: `config ${m.op}`, names: folderNames(seed) };
        }
        const file = fileOf(seed, 'adapter_model.safetensors');
        const m = rng.chance(0.8) ? mutateSafetensors(rng, file.bytes) : mutateBytes(rng, file.bytes);
        const files = rng.chance(0.05) ? seed.filter((f) => f !== file) : replaceFile(seed, file.name, m.value);
        return { files, op: files.length < seed.length ? 'weights missing' : `weights ${m.op}`, names: folderNames(seed) };
      },
      async run(c) {
        const adapter = await openPeftAdapterFiles(sources(c.files));
        for (const layer of adapter.layers.values()) {
          let sum = 0;
          for (const v of layer.A) sum += v;
          for (const v of layer.B) sum += v;
          if (layer.magnitude) for (const v of layer.magnitude) sum += v;
          void sum;
        }
      },
      async checkState() {
        if (globalsSnapshot() !== globals) return 'a built-in prototype or the global object gained or lost a property';
        return fingerprint() === expected ? null : 'the previously loaded adapter changed';
      },
      async dispose() {},
    };
  },
};

// --- saved runs -------------------------------------------------------------------------------

function runSeed(): RunRecord {
  const points = (offset: number) =>
    Array.from({ length: 30 }, (_, i) => ({
      step: i + 1,
      loss: 3 - i * 0.05 + offset,
      gradNorm: i === 0 ? Number.NaN : 1 / (i + 1),
      lr: 1e-3,
      tokens: 128,
      ms: 12 + (i % 3),
    }));
  return {
    id: 'run-1716000000000',
    name: 'LoRA, PiSSA · 30 steps',
    startedAt: 1716000000000,
    savedAt: 1716000060000,
    status: 'done',
    model: 'tiny-llama',
    dataset: 'math (built-in)',
    // Method ids are opaque keys to a run record (only the registry spells the real ones).
    params: {
      steps: 30,
      lr: 1e-3,
      batch: 4,
      seqLen: 64,
      seed: 1,
      targets: ['q_proj', 'v_proj'],
      methods: [
        { id: 'adapter', settings: { rank: 8, alpha: 16 } },
        { id: 'residual', settings: { rank: 8, iterations: 2 } },
      ],
    },
    methods: [
      { id: 'adapter', label: 'LoRA' },
      { id: 'residual', label: 'PiSSA' },
    ],
    series: { adapter: points(0), residual: points(-0.2) },
    evals: {
      adapter: [
        { step: 10, loss: 2.9 },
        { step: 30, loss: 2.1 },
      ],
      residual: [
        { step: 10, loss: 2.7 },
        { step: 30, loss: 1.9 },
      ],
    },
    ready: { adapter: { trainableParams: 1024, bytes: 16384, initMs: 3 }, residual: { trainableParams: 1024, bytes: 20480, initMs: 40 } },
    halted: {},
    accuracy: { adapter: 0.25, residual: 0.5 },
    diverging: { adapter: 21 },
    nonFinite: { residual: { step: 30, source: 'gradient', layer: 'model.layers.0.self_attn.q_proj', tensor: 'lora_B' } },
  };
}

const runRecordKind: FuzzKind = {
  name: 'run-record',
  input: 'saved-run records (IndexedDB values)',
  async setup() {
    const seed = runSeed();
    const loaded = parseRunRecord(structuredClone(seed));
    const fingerprint = (): string => curvesCsv(loaded) + JSON.stringify(summaryRows(loaded));
    const expected = fingerprint();
    const globals = globalsSnapshot();
    return {
      makeCase(rng) {
        const m = mutateValue(rng, seed);
        return { files: [], value: m.value, op: m.op, names: ['saved run'] };
      },
      async run(c) {
        // What IndexedDB hands back is a structured clone of what was stored.
        let value: unknown;
        try {
          value = structuredClone(c.value);
        } catch {
          return; // not storable: IndexedDB would have refused to save it
        }
        runListing(value);
        const run = parseRunRecord(value);
        summaryRows(run);
        curvesCsv(run);
        curvesJson(run);
        htmlReport(run, [], new Date(0));
      },
      async checkState() {
        if (globalsSnapshot() !== globals) return 'a built-in prototype or the global object gained or lost a property';
        return fingerprint() === expected ? null : 'the previously loaded run changed';
      },
      async dispose() {},
    };
  },
};

export const KINDS: readonly FuzzKind[] = [
  safetensorsKind,
  indexKind,
  configKind,
  tokenizerKind,
  tokenizerConfigKind,
  chatTemplateKind,
  generationConfigKind,
  datasetKind('jsonl', 'dataset .jsonl (text, prompt/completion, instruction, chat, question/answer rows)'),
  datasetKind('json', 'dataset .json (a list of rows)'),
  datasetKind('csv', 'dataset .csv / .tsv'),
  datasetKind('text', 'dataset .txt (plain text)'),
  adapterKind,
  runRecordKind,
];

export function kindByName(name: string): FuzzKind | undefined {
  return KINDS.find((k) => k.name === name);
}
