// Tests for chat templates: ChatML and Llama-2 style templates rendered like transformers'
// apply_chat_template, the assistant segments found by rendering prefixes, the template formats in
// tokenizer_config.json, and the refusals with the exact messages shown to users.

import { describe, expect, it } from 'vitest';
import { chatSegments, compileChatTemplate, noChatTemplateError, selectChatTemplate, type ChatMessage } from './chatTemplate';
import { DatasetError, ModelFormatError } from '../errors';
import { CHATML, LLAMA2 } from './testChatTemplates';

const conversation: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'And 3+3?' },
  { role: 'assistant', content: '6' },
];

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a throw');
}

describe('rendering', () => {
  it('renders ChatML with and without the generation prompt', () => {
    const t = compileChatTemplate(CHATML);
    const first = conversation.slice(1, 2);
    expect(t.render(first)).toBe('<|im_start|>user\nWhat is 2+2?<|im_end|>\n');
    expect(t.render(first, { addGenerationPrompt: true })).toBe('<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
  });

  it('passes bos_token / eos_token as strings and runs raise_exception', () => {
    const t = compileChatTemplate(LLAMA2, { bosToken: '<s>', eosToken: '</s>' });
    expect(t.render(conversation)).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2+2? [/INST] 4 </s><s>[INST] And 3+3? [/INST] 6 </s>');
    const error = errorOf(() => t.render([{ role: 'assistant', content: 'hi' }]));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      "the model's chat template (tokenizer_config.json) refused this conversation: Conversation roles must alternate user/assistant/user/assistant/...",
    );
  });

  it('passes tools and documents as none, as transformers does', () => {
    const t = compileChatTemplate('{% if tools is not none %}TOOLS{% endif %}{% if documents is none %}no docs{% endif %}');
    expect(t.render([])).toBe('no docs');
  });

  it('refuses a template Jinja cannot parse, naming the file', () => {
    const error = errorOf(() => compileChatTemplate('{% if %}', {}, 'm/tokenizer_config.json'));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/^m\/tokenizer_config\.json: "chat_template" could not be parsed as Jinja \(.+\)$/);
  });
});

describe('selectChatTemplate', () => {
  it('reads a string, the named-list form, and nothing', () => {
    expect(selectChatTemplate('{{ x }}')).toBe('{{ x }}');
    expect(
      selectChatTemplate([
        { name: 'tool_use', template: 'T' },
        { name: 'default', template: 'D' },
      ]),
    ).toBe('D');
    expect(selectChatTemplate([{ name: 'rag', template: 'R' }])).toBe('R');
    expect(selectChatTemplate(undefined)).toBeUndefined();
    expect(selectChatTemplate(null)).toBeUndefined();
    expect(selectChatTemplate('  ')).toBeUndefined();
  });

  it('refuses other shapes', () => {
    const error = errorOf(() => selectChatTemplate(42));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe('tokenizer_config.json: "chat_template" must be a string or a list of { "name", "template" } objects');
    expect(() => selectChatTemplate([{ name: 'x' }])).toThrow(ModelFormatError);
  });
});

describe('chatSegments', () => {
  it('marks each assistant turn (with its end marker) and nothing else, ChatML', () => {
    const t = compileChatTemplate(CHATML);
    const segments = chatSegments(t, conversation);
    expect(segments.map((s) => s.text).join('')).toBe(t.render(conversation));
    expect(segments.filter((s) => s.counted).map((s) => s.text)).toEqual(['4<|im_end|>\n', '6<|im_end|>\n']);
    expect(segments[0]).toEqual({
      text: '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
      counted: false,
    });
  });

  it('marks the answers and their EOS in a Llama-2 template', () => {
    const t = compileChatTemplate(LLAMA2, { bosToken: '<s>', eosToken: '</s>' });
    const segments = chatSegments(t, conversation);
    expect(segments.map((s) => s.text).join('')).toBe(t.render(conversation));
    expect(segments.filter((s) => s.counted).map((s) => s.text)).toEqual([' 4 </s>', ' 6 </s>']);
  });

  it('keeps text after the last assistant turn uncounted', () => {
    const t = compileChatTemplate(CHATML);
    const segments = chatSegments(t, [...conversation, { role: 'user', content: 'thanks' }]);
    expect(segments[segments.length - 1]).toEqual({ text: '<|im_start|>user\nthanks<|im_end|>\n', counted: false });
  });

  it('refuses templates that rewrite earlier turns rather than guess the mask', () => {
    // Shows only the last assistant message in full (like templates that strip past reasoning).
    const t = compileChatTemplate(
      "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}[old]{% else %}{{ m.role }}:{{ m.content }};{% endif %}{% endfor %}",
    );
    const error = errorOf(() => chatSegments(t, conversation));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      "the model's chat template does not render this conversation turn by turn (the text up to message 3 is " +
        'not a prefix of the whole conversation), so the assistant turns cannot be located for the loss mask',
    );
  });
});

describe('noChatTemplateError', () => {
  it('names where the chat data is', () => {
    expect(noChatTemplateError('data.jsonl line 1').message).toBe(
      'data.jsonl line 1 holds a chat conversation ("messages"), but this model\'s tokenizer has no chat template ' +
        '(no "chat_template" in tokenizer_config.json), so conversations cannot be formatted. Use a chat or ' +
        'instruct model, or convert the data to "prompt"/"completion" rows.',
    );
  });
});

describe('templates from strangers', () => {
  // Each probe tries to reach a JavaScript prototype, constructor or global from inside a template.
  // The renderer must neither expose one nor run code: it renders nothing for the unknown name or
  // refuses the template, and no global is touched.
  const probes = [
    '{{ messages.__proto__ }}',
    '{{ messages.constructor }}',
    "{{ ''.constructor.constructor('globalThis.pwned = 1')() }}",
    "{{ messages[0].constructor.constructor('globalThis.pwned = 1')() }}",
    "{{ messages['__proto__']['polluted'] }}",
    '{% set x = namespace(a=1) %}{{ x.__class__ }}{{ x.constructor }}',
    '{{ globalThis }}{{ process }}{{ window }}{{ self }}{{ require }}',
    '{{ cycler.__init__.__globals__ }}{{ lipsum.__globals__ }}',
    "{{ raise_exception.constructor('globalThis.pwned = 1')() }}",
  ];

  for (const probe of probes) {
    it(`gives no way out: ${probe}`, () => {
      const g = globalThis as { pwned?: unknown };
      delete g.pwned;
      let out = '';
      try {
        out = compileChatTemplate(probe).render([{ role: 'user', content: 'hi' }]);
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).not.toMatch(/\n\s+at /); // a message, not a stack
      }
      expect(g.pwned).toBeUndefined();
      expect(out).not.toMatch(/function|native code|\[object|process|Object\]/i);
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    });
  }
});
