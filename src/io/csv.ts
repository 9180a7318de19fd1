// A small RFC 4180 CSV reader: fields separated by a delimiter (',' or tab), records by CRLF or
// LF, fields optionally in double quotes, where '""' is a literal quote and delimiters and line
// breaks are literal. Each record carries the line it starts on, so messages can point at it.
// Lenient where the RFC is silent, like Python's csv module: a quote inside an unquoted field is
// kept as text, and text after a closing quote is appended to the field. Blank lines are not
// records. Not here: type conversion, header interpretation (datasets.ts).

import { DatasetError } from '../errors';

export interface CsvRecord {
  /** 1-based line on which the record starts. */
  readonly line: number;
  readonly fields: readonly string[];
}

/** Parses all records; an unterminated quoted field is a DatasetError naming its line. */
export function parseCsv(text: string, delimiter = ',', fileName = 'the CSV file'): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const n = text.length;
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
  };
  while (i < n) {
    const c = text[i]!;
    if (c === '"' && field === '') {
      // Quoted field: runs to the next quote not doubled.
      const quoteLine = line;
      i++;
      for (;;) {
        if (i >= n) {
          throw new DatasetError(
            `${fileName}: line ${quoteLine}: a quoted field is never closed (a '"' is missing), so the rest ` + `of the file cannot be read`,
          );
        }
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n') line++;
        field += q;
        i++;
      }
      // A lone '"' after the closing quote would reopen nothing; the rest up to the delimiter is text.
      continue;
    }
    if (c === delimiter) {
      fields.push(field);
      field = '';
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    field += c;
    i++;
  }
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}

/** ',' unless the file is named .tsv or its first line has tabs and no commas. */
export function guessDelimiter(text: string, fileName?: string): string {
  if (fileName?.toLowerCase().endsWith('.tsv')) return '\t';
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  return firstLine.includes('\t') && !firstLine.includes(',') ? '\t' : ',';
}
