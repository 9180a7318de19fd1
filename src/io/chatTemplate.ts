// Chat templates: a tokenizer_config.json `chat_template` (Jinja) rendered with @huggingface/jinja,
// the way transformers' `apply_chat_template` renders it: `messages`, the special tokens as
// strings (`bos_token`, `eos_token`, ...), `add_generation_prompt`, and `tools`/`documents` set to
// none. Also the split of a rendered conversation into segments whose tokens count for the loss
// (assistant turns) or not (everything else), found by rendering prefixes of the conversation.
// Not here: tokenizing (tokenizer.ts), reading JSONL rows (datasets.ts).

import { Template } from '@huggingface/jinja';
import { DatasetError, ModelFormatError } from '../errors';

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
    throw new ModelFormatError(
      '"chat_template" must be a string or a list of { "name", "template" } objects',
      fileName,
    );
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Parses a chat template. A template the Jinja engine cannot parse is a ModelFormatError naming
 * `fileName` (the model's files are at fault, not the data).
 */
export function compileChatTemplate(
  source: string,
  tokens: ChatTemplateTokens = {},
  fileName = 'tokenizer_config.json',
): ChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ModelFormatError(`"chat_template" could not be parsed as Jinja (${describe(error)})`, fileName);
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
  return {
    source,
    render(messages, options = {}) {
      try {
        return template.render({
          ...context,
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          add_generation_prompt: options.addGenerationPrompt ?? false,
        });
      } catch (error) {
        throw new DatasetError(`the model's chat template refused this conversation: ${describe(error)}`);
      }
    },
  };
}

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
