// A self-contained HTML report of a comparison: settings, the results table and the charts as
// inline SVG. No scripts, fonts, images or stylesheets from anywhere else: the file opens
// offline, in any browser, years later. Pure string generation.

import { summaryRows, type MethodSummaryRow, type RunRecord } from './runRecord';

export interface ReportChart {
  readonly title: string;
  /** A complete <svg>…</svg> element (serialized by the page). */
  readonly svg: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '—';
}

function count(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return String(v);
}

function bytes(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let x = v;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function ms(v: number): string {
  if (!Number.isFinite(v)) return '—';
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`;
}

const COLUMNS: readonly [string, (r: MethodSummaryRow) => string][] = [
  ['Method', (r) => escapeHtml(r.label) + (r.halted ? ' <em>(halted)</em>' : '')],
  ['Steps', (r) => String(r.steps)],
  ['Final train loss', (r) => fmt(r.finalLoss)],
  ['Final val loss', (r) => fmt(r.finalVal)],
  ['Best val loss', (r) => fmt(r.bestVal)],
  ['Accuracy', (r) => (Number.isFinite(r.accuracy) ? `${(r.accuracy * 100).toFixed(1)} %` : '—')],
  ['Trainable params', (r) => count(r.trainable)],
  ['Memory', (r) => bytes(r.bytes)],
  ['Init', (r) => ms(r.initMs)],
  ['Train time', (r) => ms(r.trainMs)],
  ['Tokens/s', (r) => (Number.isFinite(r.tokensPerS) ? r.tokensPerS.toFixed(0) : '—')],
];

function settingValue(v: unknown): string {
  const scalar = (x: unknown): x is string | number | boolean | null | undefined => x === null || typeof x !== 'object';
  if (Array.isArray(v) && v.every(scalar)) return v.map(String).join(', ');
  if (scalar(v)) return String(v);
  try {
    return JSON.stringify(v) ?? '—'; // objects here are plain data (parseRunRecord), but never throw on a page render
  } catch {
    return '(unreadable)';
  }
}

/** The report as one HTML document. */
export function htmlReport(run: RunRecord, charts: readonly ReportChart[], generatedAt: Date = new Date()): string {
  const rows = summaryRows(run);
  const shared = Object.entries(run.params).filter(([k]) => k !== 'methods');
  const labels = new Map(run.methods.map((m) => [m.id, m.label]));
  const methodSettings = run.params.methods
    .map((m) => {
      const entries = Object.entries(m.settings);
      return `<tr><th scope="row">${escapeHtml(labels.get(m.id) ?? m.id)}</th><td>${entries.length ? entries.map(([k, v]) => `${escapeHtml(k)} = ${escapeHtml(settingValue(v))}`).join(', ') : '(no settings)'}</td></tr>`;
    })
    .join('\n');
  const halted = rows.filter((r) => r.halted);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Adapter Studio report: ${escapeHtml(run.name)}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1c2430; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d6dbe2; padding-bottom: 0.2rem; }
.meta { color: #5a6472; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #d6dbe2; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f1f4f8; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid #d6dbe2; border-radius: 6px; overflow: hidden; background: #1e232b; }
figure svg { width: 100%; height: auto; display: block; }
footer { margin-top: 2rem; color: #5a6472; font-size: 0.85rem; }
</style>
</head>
<body>
<h1>Adapter Studio comparison</h1>
<p class="meta">${escapeHtml(run.name)} · model <strong>${escapeHtml(run.model)}</strong> · data <strong>${escapeHtml(run.dataset)}</strong> · ${escapeHtml(run.status)} · started ${escapeHtml(new Date(run.startedAt).toISOString())}</p>

<h2>Results</h2>
<table>
<thead><tr>${COLUMNS.map(([h]) => `<th scope="col">${h}</th>`).join('')}</tr></thead>
<tbody>
${rows.map((r) => `<tr>${COLUMNS.map(([, f], i) => `<td${i === 0 ? '' : ' class="num"'}>${f(r)}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>
<p class="meta">Losses in nats per trained token. Memory: what each method holds beyond the shared base (adapter tensors, owned bases, AdamW state). All methods trained on identical batches in identical order (seed ${escapeHtml(settingValue(run.params.seed ?? '—'))}).</p>
${halted.length ? `<p><strong>Halted:</strong> ${halted.map((r) => `${escapeHtml(r.label)}: ${escapeHtml(r.halted ?? '')}`).join('; ')}</p>` : ''}
${run.error ? `<p><strong>Error:</strong> ${escapeHtml(run.error)}</p>` : ''}

<h2>Charts</h2>
${charts.length ? `<div class="charts">\n${charts.map((c) => `<figure aria-label="${escapeHtml(c.title)}">${c.svg}</figure>`).join('\n')}\n</div>` : '<p class="meta">No charts were on the page.</p>'}

<h2>Settings</h2>
<table>
<tbody>
${shared.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(settingValue(v))}</td></tr>`).join('\n')}
</tbody>
</table>
<h3>Per method</h3>
<table>
<tbody>
${methodSettings}
</tbody>
</table>
<footer>Generated by Adapter Studio on ${escapeHtml(generatedAt.toISOString())}. Every number was measured on the user's GPU in the browser (WebGPU).</footer>
</body>
</html>
`;
}
