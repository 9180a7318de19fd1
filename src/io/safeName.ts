// File names that leave the studio (downloads, zip entries) are built from strings that strangers
// wrote: model folder names, adapter names, run names. These make them safe to write anywhere:
// no path separators or `..` that climb out of the folder, no absolute paths or drive letters, no
// control or bidirectional-override characters, no names Windows reserves, and a bounded length.

const MAX_NAME_CHARS = 120;
// C0/C1 controls, DEL, and the Unicode format characters that reorder or hide text
// (bidi embeddings/overrides/isolates, zero-width joiners, BOM), which can disguise an extension.
const HIDDEN_OR_CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const RESERVED_ON_WINDOWS = /[<>:"|?*]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** One path component: no separators, no `.`/`..`, nothing hidden, not reserved, at most 120 characters. */
export function safeFileName(name: string, fallback = 'download'): string {
  let clean = name
    .normalize('NFC')
    .replace(HIDDEN_OR_CONTROL, '')
    .replace(/[/\\]/g, '_')
    .replace(RESERVED_ON_WINDOWS, '_')
    .trim()
    // Windows drops trailing dots and spaces, so "x.safetensors." would change extension there.
    .replace(/[. ]+$/, '');
  if (/^\.+$/.test(clean) || clean === '') clean = fallback;
  if (WINDOWS_DEVICE.test(clean)) clean = `_${clean}`;
  if (clean.length > MAX_NAME_CHARS) {
    const dot = clean.lastIndexOf('.');
    const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : '';
    clean = clean.slice(0, MAX_NAME_CHARS - ext.length) + ext;
  }
  return clean;
}

/**
 * A relative path inside a zip: every component made safe by safeFileName, empty, `.` and `..`
 * components dropped (so nothing can climb out of the folder the zip is unpacked into), and
 * leading slashes and drive letters removed.
 */
export function safeZipPath(path: string): string {
  const parts = path
    .replace(/\\/g, '/')
    .replace(/^[a-zA-Z]:/, '')
    .split('/')
    .filter((p) => p !== '' && p !== '.' && p !== '..')
    .map((p) => safeFileName(p, '_'));
  return parts.join('/');
}
