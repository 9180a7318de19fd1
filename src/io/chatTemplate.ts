// Chat templates: a tokenizer_config.json `chat_template` (Jinja) rendered with @huggingface/jinja,
// the way transformers' `apply_chat_template` renders it: `messages`, the special tokens as
// strings (`bos_token`, `eos_token`, ...), `add_generation_prompt`, and `tools`/`documents` set to
// none. Also the split of a rendered conversation into segments whose tokens count for the loss
// (assistant turns) or not (everything else), found by rendering prefixes of the conversation.
// Templates come from downloaded files, so their work is bounded (TEMPLATE_LIMITS): range() sizes,
// evaluation steps, nesting depth, wall time, the size of every string and list a template builds,
// indent widths and what replace() may produce. A template past a limit is a ModelFormatError
// naming its file, and that compiled template refuses every later render at once (so a dataset
// of 10 000 conversations does not pay the limit 10 000 times). Templates see only what we pass
// (the messages as plain values and the special tokens); the engine resolves names and
// attributes in its own maps, never through JavaScript objects, prototypes or globals.
// Not here: tokenizing (tokenizer.ts), reading JSONL rows (datasets.ts).

import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { errorMessage, DatasetError, ModelFormatError, InputError } from '../errors';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** Special tokens passed to the template as strings, as transformers does. */
export interface ChatTemplateTokens {
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly unkToken?: string;
  readonly padToken?: string;
}

export interface RenderOptions {
  /** Append the text that opens an assistant turn (transformers' `add_generation_prompt`). */
  readonly addGenerationPrompt?: boolean;
}

/** A piece of a rendered conversation; `counted` pieces are assistant turns (loss on their tokens). */
export interface ChatSegment {
  readonly text: string;
  readonly counted: boolean;
}

export interface ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  /** Renders messages; a template's own refusal (`raise_exception`) becomes a DatasetError. */
  render(messages: readonly ChatMessage[], options?: RenderOptions): string;
}

/**
 * Picks the template from tokenizer_config.json's `chat_template`: a string, or the older list of
 * `{ name, template }` (the one named "default", else the first). Undefined when there is none.
 */
export function selectChatTemplate(raw: unknown, fileName = 'tokenizer_config.json'): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return raw.trim() === '' ? undefined : raw;
  const bad = (): never => {
    throw new ModelFormatError('"chat_template" must be a string or a list of { "name", "template" } objects', fileName);
  };
  const named: { name: string; template: string }[] = [];
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      if (typeof entry !== 'object' || entry === null) bad();
      const { name, template } = entry as Record<string, unknown>;
      if (typeof name !== 'string' || typeof template !== 'string') bad();
      named.push({ name: name as string, template: template as string });
    }
  } else if (typeof raw === 'object') {
    for (const [name, template] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof template !== 'string') bad();
      named.push({ name, template: template as string });
    }
  } else {
    bad();
  }
  return (named.find((t) => t.name === 'default') ?? named[0])?.template;
}

/** Bounds on one chat-template rendering (real templates stay far inside every one of them). */
export const TEMPLATE_LIMITS = {
  /** Characters of template source. */
  sourceChars: 1_000_000,
  /** Expression and statement evaluations, plus `stepsPerMessage` for each message rendered. */
  steps: 1_000_000,
  stepsPerMessage: 2_000,
  /** Wall time of one rendering. */
  ms: 2_000,
  /** Nested evaluations (macros calling macros); keeps the engine's recursion off the stack limit. */
  depth: 400,
  /** Characters of any string a template builds (the output included). */
  stringChars: 4_000_000,
  /** Items of any list a template builds; also range()'s length. */
  listItems: 100_000,
  /** indent(width) and tojson(indent=…). */
  width: 1_000,
} as const;

/** A template went past TEMPLATE_LIMITS: the template's fault, reported against its file. */
class TemplateLimitError extends Error {}

type Node = Parameters<Interpreter['evaluate']>[0];
type Scope = Parameters<Interpreter['evaluate']>[1];
type Value = ReturnType<Interpreter['evaluate']>;
interface AstNode {
  readonly type: string;
  readonly [key: string]: unknown;
}

function asNode(value: unknown): AstNode | undefined {
  return typeof value === 'object' && value !== null && typeof (value as AstNode).type === 'string' ? (value as AstNode) : undefined;
}

/** The Identifier name of a node, if it is one. */
function identifier(node: unknown): string | undefined {
  const n = asNode(node);
  return n?.type === 'Identifier' && typeof n.value === 'string' ? n.value : undefined;
}

function limitError(what: string): TemplateLimitError {
  return new TemplateLimitError(what);
}

/** The position `index` argument, or the keyword argument `name`, of a call's argument nodes. */
function argumentNode(args: unknown, index: number, name: string): AstNode | undefined {
  if (!Array.isArray(args)) return undefined;
  for (const arg of args) {
    const a = asNode(arg);
    if (a?.type === 'KeywordArgumentExpression' && identifier(a.key) === name) return asNode(a.value);
  }
  const positional = (args as unknown[]).filter((a) => asNode(a)?.type !== 'KeywordArgumentExpression');
  return index >= 0 ? asNode(positional[index]) : undefined;
}

/** Characters `s.replace(old, new[, count])` produces, computed before it runs. */
function replacedLength(s: string, oldValue: string, newValue: string, count: number): number {
  let matches = 0;
  if (oldValue === '') matches = s.length + 1;
  else for (let at = s.indexOf(oldValue); at >= 0; at = s.indexOf(oldValue, at + oldValue.length)) matches++;
  if (count >= 0) matches = Math.min(matches, count);
  return s.length + matches * (newValue.length - oldValue.length);
}

/**
 * The engine's interpreter with TEMPLATE_LIMITS enforced. Every evaluation passes through
 * `evaluate` (the engine recurses through it), so steps, depth, time and the size of each value
 * are checked there; a few builtins whose output is a product of their inputs (indent, tojson's
 * indent, replace) get their arguments checked before they run, through checks attached to the
 * argument nodes (so nothing is evaluated twice).
 */
class BoundedInterpreter extends Interpreter {
  private steps = 0;
  private depth = 0;
  private readonly deadline: number;
  private readonly maxSteps: number;
  /** Checks run on the value of a node as soon as it is evaluated. */
  private readonly checks = new Map<AstNode, (value: Value) => void>();
  private readonly seen = new WeakSet<AstNode>();
  private readonly wrapped = new WeakSet<object>();

  constructor(env: Environment, messages: number) {
    super(env);
    this.maxSteps = TEMPLATE_LIMITS.steps + TEMPLATE_LIMITS.stepsPerMessage * messages;
    this.deadline = Date.now() + TEMPLATE_LIMITS.ms;
  }

  override evaluate(statement: Node, environment: Scope): Value {
    if (++this.steps > this.maxSteps) throw limitError(`it took more than ${this.maxSteps} steps to render one conversation`);
    if ((this.steps & 15) === 0 && Date.now() > this.deadline) throw limitError(`it took more than ${TEMPLATE_LIMITS.ms} ms to render one conversation`);
    if (this.depth >= TEMPLATE_LIMITS.depth)
      throw limitError(`it nests calls more than ${TEMPLATE_LIMITS.depth} deep (a macro that calls itself without end?)`);
    const node = asNode(statement);
    if (node && !this.seen.has(node)) {
      this.seen.add(node);
      this.attachChecks(node);
    }
    this.depth++;
    let value: Value;
    try {
      value = super.evaluate(statement, environment);
    } finally {
      this.depth--;
    }
    const v = value as { type: string; value: unknown };
    if (typeof v.value === 'string' && v.value.length > TEMPLATE_LIMITS.stringChars) {
      throw limitError(`it built a string of ${v.value.length} characters (the limit is ${TEMPLATE_LIMITS.stringChars})`);
    }
    if (Array.isArray(v.value) && v.value.length > TEMPLATE_LIMITS.listItems) {
      throw limitError(`it built a list of ${v.value.length} items (the limit is ${TEMPLATE_LIMITS.listItems})`);
    }
    const check = node && this.checks.get(node);
    if (check) check(value);
    return value;
  }

  /** Registers argument checks for the builtins whose output size is a product of their arguments. */
  private attachChecks(node: AstNode): void {
    const widthCheck = (what: string) => (value: Value) => {
      const width = (value as { value: unknown }).value;
      if (typeof width === 'number' && Math.abs(width) > TEMPLATE_LIMITS.width) {
        throw limitError(`${what} ${width} is over the limit of ${TEMPLATE_LIMITS.width}`);
      }
    };
    if (node.type === 'FilterExpression') {
      const filter = asNode(node.filter);
      const name = filter?.type === 'CallExpression' ? identifier(filter.callee) : undefined;
      const operand = asNode(node.operand);
      if (name === 'indent') {
        const width = argumentNode(filter!.args, 0, 'width');
        if (width) this.checks.set(width, widthCheck('indent width'));
      } else if (name === 'tojson') {
        const indent = argumentNode(filter!.args, -1, 'indent');
        if (indent) this.checks.set(indent, widthCheck('tojson indent'));
      } else if (name === 'replace' && operand) {
        this.checks.set(operand, (value) => this.guardReplace(value));
      }
    } else if (node.type === 'MemberExpression' && node.computed !== true && identifier(node.property) === 'replace') {
      const object = asNode(node.object);
      if (object) this.checks.set(object, (value) => this.guardReplace(value));
    }
  }

  /** Wraps a string's replace() builtin so it refuses to build more than the string limit. */
  private guardReplace(receiver: Value): void {
    const s = (receiver as { value: unknown }).value;
    if (typeof s !== 'string') return;
    const builtin = (receiver as { builtins?: Map<string, { value: unknown }> }).builtins?.get('replace');
    if (!builtin || typeof builtin.value !== 'function' || this.wrapped.has(builtin)) return;
    const original = builtin.value as (args: Value[], scope: Scope) => Value;
    builtin.value = (args: Value[], scope: Scope): Value => {
      const [oldValue, newValue, count] = args.map((a) => (a as { value: unknown }).value);
      if (typeof oldValue === 'string' && typeof newValue === 'string') {
        const n = replacedLength(s, oldValue, newValue, typeof count === 'number' ? count : -1);
        if (n > TEMPLATE_LIMITS.stringChars) {
          throw limitError(`replace() would build a string of ${n} characters (the limit is ${TEMPLATE_LIMITS.stringChars})`);
        }
      }
      return original(args, scope);
    };
    this.wrapped.add(builtin);
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** transformers' strftime_now(format): the current local time, with the directives templates use. */
function strftimeNow(format: unknown): string {
  if (typeof format !== 'string') throw new InputError('strftime_now() needs a format string');
  const d = new Date();
  const month = (style: 'long' | 'short'): string => new Intl.DateTimeFormat('en-US', { month: style }).format(d);
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case '%Y':
        return String(d.getFullYear());
      case '%m':
        return pad2(d.getMonth() + 1);
      case '%d':
        return pad2(d.getDate());
      case '%b':
        return month('short');
      case '%B':
        return month('long');
      case '%H':
        return pad2(d.getHours());
      case '%M':
        return pad2(d.getMinutes());
      default:
        return '%';
    }
  });
}

/** Python's range(), refusing to make more than TEMPLATE_LIMITS.listItems numbers. */
function boundedRange(...args: unknown[]): number[] {
  if (args.length < 1 || args.length > 3 || !args.every((a) => typeof a === 'number' && Number.isInteger(a))) {
    throw new InputError('range() takes 1 to 3 integers');
  }
  const [start, stop, step] = (args.length === 1 ? [0, args[0], 1] : [args[0], args[1], args[2] ?? 1]) as [number, number, number];
  if (step === 0) throw new InputError('range() step must not be zero');
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (length > TEMPLATE_LIMITS.listItems) {
    throw limitError(`range() was asked for ${length} numbers (the limit is ${TEMPLATE_LIMITS.listItems})`);
  }
  return Array.from({ length }, (_, i) => start + i * step);
}

/** The globals transformers gives a chat template, with range() bounded. */
function templateEnvironment(variables: Record<string, unknown>): Environment {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new InputError(String(message));
    },
    range: boundedRange,
    strftime_now: strftimeNow,
    ...variables,
  };
  for (const [name, value] of Object.entries(globals)) env.set(name, value);
  return env;
}

function parseFailure(error: unknown): string {
  if (error instanceof RangeError && /call stack/i.test(error.message)) return 'it nests too deeply';
  return errorMessage(error);
}

/**
 * Parses a chat template. A template the Jinja engine cannot parse, or one that runs past
 * TEMPLATE_LIMITS, is a ModelFormatError naming `fileName` (the model's files are at fault, not
 * the data); a template's own refusal of a conversation (`raise_exception`) is a DatasetError.
 */
export function compileChatTemplate(source: string, tokens: ChatTemplateTokens = {}, fileName = 'tokenizer_config.json'): ChatTemplate {
  if (source.length > TEMPLATE_LIMITS.sourceChars) {
    throw new ModelFormatError(
      `"chat_template" is ${source.length} characters long, more than the ${TEMPLATE_LIMITS.sourceChars} a chat template ` +
        `may have (real ones are a few thousand); the file is damaged`,
      fileName,
    );
  }
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ModelFormatError(`"chat_template" could not be parsed as Jinja (${parseFailure(error)})`, fileName);
  }
  const context = {
    bos_token: tokens.bosToken ?? '',
    eos_token: tokens.eosToken ?? '',
    unk_token: tokens.unkToken ?? '',
    pad_token: tokens.padToken ?? '',
    // transformers passes these as None; Jinja tests like `tools is not none` depend on it.
    tools: null,
    documents: null,
  };
  let broken: ModelFormatError | undefined;
  const overLimit = (why: string): ModelFormatError =>
    new ModelFormatError(
      `"chat_template" went past the limits on a chat template: ${why}. The template loops or grows without ` +
        `bound; use the model's original tokenizer_config.json, or replace its "chat_template"`,
      fileName,
    );
  const compiled: ChatTemplate = {
    source,
    render(messages, options = {}) {
      if (broken) throw broken;
      try {
        const env = templateEnvironment({
          ...context,
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          add_generation_prompt: options.addGenerationPrompt ?? false,
        });
        const result = new BoundedInterpreter(env, messages.length).run(template.parsed);
        return String((result as { value: unknown }).value);
      } catch (error) {
        if (error instanceof TemplateLimitError) throw (broken = overLimit(error.message));
        if (error instanceof RangeError) throw (broken = overLimit(`it ran out of stack or string space (${error.message})`));
        throw new DatasetError(`the model's chat template (${fileName}) refused this conversation: ${errorMessage(error)}`);
      }
    },
  };
  // One small conversation at load time, so a template that loops or explodes is refused with the
  // model rather than later, row by row, with the data. Its own refusals (raise_exception) are fine here.
  for (const addGenerationPrompt of [false, true]) {
    try {
      compiled.render(SMOKE_CONVERSATION, { addGenerationPrompt });
    } catch (error) {
      if (!(error instanceof DatasetError)) throw error;
    }
  }
  return compiled;
}

const SMOKE_CONVERSATION: readonly ChatMessage[] = [
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hi' },
];

/** The error for chat data given to a model whose tokenizer has no chat template. */
export function noChatTemplateError(where: string): DatasetError {
  return new DatasetError(
    `${where} holds a chat conversation ("messages"), but this model's tokenizer has no chat template ` +
      `(no "chat_template" in tokenizer_config.json), so conversations cannot be formatted. Use a chat ` +
      `or instruct model, or convert the data to "prompt"/"completion" rows.`,
  );
}

/**
 * Splits the rendered conversation into counted (assistant) and uncounted segments whose
 * concatenation is exactly `template.render(messages)`. For assistant message i, the text before
 * it is the rendering of messages[0..i) with the generation prompt (or without, when the template
 * opens assistant turns differently), and its end is the rendering of messages[0..i]; both must be
 * prefixes of the whole rendering. Templates that rewrite earlier turns (e.g. dropping reasoning
 * from past assistant turns) fail that check and get a DatasetError rather than a wrong mask.
 */
export function chatSegments(template: ChatTemplate, messages: readonly ChatMessage[]): ChatSegment[] {
  const full = template.render(messages, { addGenerationPrompt: false });
  const segments: ChatSegment[] = [];
  let cursor = 0;
  const notIncremental = (i: number): DatasetError =>
    new DatasetError(
      `the model's chat template does not render this conversation turn by turn (the text up to ` +
        `message ${i + 1} is not a prefix of the whole conversation), so the assistant turns cannot ` +
        `be located for the loss mask`,
    );
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    const before = messages.slice(0, i);
    let start = template.render(before, { addGenerationPrompt: true });
    if (!full.startsWith(start) || start.length < cursor) {
      start = template.render(before, { addGenerationPrompt: false });
      if (!full.startsWith(start) || start.length < cursor) throw notIncremental(i);
    }
    const end = template.render(messages.slice(0, i + 1), { addGenerationPrompt: false });
    if (!full.startsWith(end) || end.length < start.length) throw notIncremental(i);
    if (start.length > cursor) segments.push({ text: full.slice(cursor, start.length), counted: false });
    if (end.length > start.length) segments.push({ text: full.slice(start.length, end.length), counted: true });
    cursor = end.length;
  });
  if (full.length > cursor) segments.push({ text: full.slice(cursor), counted: false });
  return segments;
}
