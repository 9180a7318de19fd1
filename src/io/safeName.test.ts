import { describe, expect, it } from 'vitest';
import { safeFileName, safeZipPath } from './safeName';

describe('safeFileName', () => {
  it('keeps ordinary names', () => {
    expect(safeFileName('adapter_model.safetensors')).toBe('adapter_model.safetensors');
    expect(safeFileName('SmolLM2-135M lora r16.zip')).toBe('SmolLM2-135M lora r16.zip');
  });

  it('removes separators, parent references and absolute paths', () => {
    expect(safeFileName('../../etc/passwd')).toBe('.._.._etc_passwd');
    expect(safeFileName('/abs/x.json')).toBe('_abs_x.json');
    expect(safeFileName('C:\\Windows\\x.dll')).toBe('C__Windows_x.dll');
    expect(safeFileName('..')).toBe('download');
    expect(safeFileName('.')).toBe('download');
    expect(safeFileName('')).toBe('download');
    for (const evil of ['../x', '..\\x', '/x', 'a/../../b']) expect(safeFileName(evil)).not.toMatch(/[/\\]/);
  });

  it('drops control and text-direction characters that could disguise an extension', () => {
    expect(safeFileName('run\u0000\u0007\n.json')).toBe('run.json');
    expect(safeFileName('report\u202egnp.html')).toBe('reportgnp.html');
    expect(safeFileName('a\u200bb\ufeff.py')).toBe('ab.py');
  });

  it('avoids names Windows reserves or rewrites', () => {
    expect(safeFileName('CON')).toBe('_CON');
    expect(safeFileName('lpt1.txt')).toBe('_lpt1.txt');
    expect(safeFileName('what?<>|*.txt')).toBe('what_____.txt');
    expect(safeFileName('notes.txt. . ')).toBe('notes.txt');
  });

  it('bounds the length and keeps a short extension', () => {
    const long = safeFileName(`${'x'.repeat(500)}.safetensors`);
    expect(long.length).toBe(120);
    expect(long.endsWith('.safetensors')).toBe(true);
  });
});

describe('safeZipPath', () => {
  it('keeps a folder and its files', () => {
    expect(safeZipPath('lora-adapter/adapter_config.json')).toBe('lora-adapter/adapter_config.json');
  });

  it('never climbs out of the folder it is unpacked into', () => {
    expect(safeZipPath('../../x/evil.sh')).toBe('x/evil.sh');
    expect(safeZipPath('/etc/passwd')).toBe('etc/passwd');
    expect(safeZipPath('C:\\Users\\x\\a.bin')).toBe('Users/x/a.bin');
    expect(safeZipPath('a/./b/../c')).toBe('a/b/c');
    expect(safeZipPath('dir\u0000/f\u001b.txt')).toBe('dir/f.txt');
  });
});
