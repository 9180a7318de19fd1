// A self-contained HTML report of a comparison: what it trained on, the results table, the charts
// as inline SVG, generation samples, the settings table and the diff against another saved run.
// No scripts, fonts, images or stylesheets from anywhere else: the file opens offline, in any
// browser, years later. Pure string generation.
//
// Charts keep the pixel size they had on the page (one SVG unit = one CSS pixel, shrunk only to
// fit a narrow window), so every chart's text has the same size: none is blown up or thumbnailed.

import { summaryRows, type MethodSummaryRow, type RunForgetting, type RunRecord, type RunSample, type RunSamples } from './runRecord';
import { lastSamples } from './runSamples';
import { describeData, describeModel } from './runIdentity';
import { diffRuns, settingsRows, settingText, type SettingRow } from './runSettings';
import { aggregateSeeds, completeSeeds, formatSpread, type Spread } from './seedStats';

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
  ['Trained tokens/s', (r) => (Number.isFinite(r.tokensPerS) ? r.tokensPerS.toFixed(0) : '—')],
  ['Processed tokens/s', (r) => (Number.isFinite(r.processedPerS) ? r.processedPerS.toFixed(0) : '—')],
];

/** Forgetting per method: loss on the held-out text after training minus the base's, signed (nats per token). */
function forgettingColumn(f: RunForgetting): [string, (r: MethodSummaryRow) => string] {
  return [
    'Forgetting',
    (r) => {
      const loss = f.loss[r.id];
      if (loss === undefined || !Number.isFinite(loss)) return '—';
      const d = loss - f.baseLoss;
      return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)}`;
    },
  ];
}

function forgettingNote(f: RunForgetting): string {
  return (
    `Forgetting: loss on ${f.name} (${count(f.tokens)} tokens of the base model's own pretraining text) after training minus the base model's ` +
    `${f.baseLoss.toFixed(4)}; positive = the method forgot some of it, negative = it also improved there.`
  );
}

/** A generation sample: who wrote it, from which prompt. */
export interface ReportSample {
  readonly label: string;
  readonly prompt: string;
  readonly text: string;
}

export interface ReportExtras {
  /** Another saved run: the report lists the settings that differ. */
  readonly compare?: RunRecord;
  readonly samples?: readonly ReportSample[];
}

/** A chart's natural width in px, from its root <svg width="…">. */
function svgWidth(svg: string): number | null {
  const root = /<svg\b[^>]*>/i.exec(svg)?.[0] ?? '';
  const w = Number(/\swidth="([\d.]+)"/.exec(root)?.[1]);
  return Number.isFinite(w) && w > 0 ? Math.round(w) : null;
}

function settingsTable(rows: readonly SettingRow[]): string {
  let section = '';
  const body = rows.map((r) => {
    const head = r.section !== section ? `<tr class="section"><th colspan="2" scope="rowgroup">${escapeHtml(r.section)}</th></tr>\n` : '';
    section = r.section;
    return `${head}<tr><th scope="row">${escapeHtml(r.key)}</th><td>${escapeHtml(r.value)}</td></tr>`;
  });
  return `<table class="settings">\n<tbody>\n${body.join('\n')}\n</tbody>\n</table>`;
}

function diffTable(run: RunRecord, other: RunRecord): string {
  const rows = diffRuns(run, other);
  if (rows.length === 0) return `<p class="meta">Same settings, model and data as ${escapeHtml(other.name)}.</p>`;
  return `<table class="diff">
<thead><tr><th scope="col">Section</th><th scope="col">Setting</th><th scope="col">${escapeHtml(run.name)} (this run)</th><th scope="col">${escapeHtml(other.name)}</th></tr></thead>
<tbody>
${rows.map((r) => `<tr><td>${escapeHtml(r.section)}</td><th scope="row">${escapeHtml(r.key)}</th><td class="changed">${escapeHtml(r.a)}</td><td class="changed">${escapeHtml(r.b)}</td></tr>`).join('\n')}
</tbody>
</table>`;
}

function samplesSection(samples: readonly ReportSample[]): string {
  if (samples.length === 0) return '<p class="meta">No samples were generated from this run.</p>';
  const shared = samples.every((g) => g.prompt === samples[0]!.prompt);
  const prompt = (p: string) => `<p class="meta">Prompt</p>\n<pre>${escapeHtml(p)}</pre>`;
  return [
    ...(shared ? [prompt(samples[0]!.prompt)] : []),
    ...samples.map((g) => `<h3>${escapeHtml(g.label)}</h3>\n${shared ? '' : `${prompt(g.prompt)}\n`}<pre>${escapeHtml(g.text)}</pre>`),
  ].join('\n');
}

const PROMPT_SOURCES: Readonly<Record<RunSamples['source'], string>> = {
  validation: "the first validation row's prompt",
  training: "the first training row's prompt (the data left no validation rows)",
  custom: 'typed in the run settings',
};

const SAMPLE_ENDS: Readonly<Record<RunSample['end'], string>> = { eos: 'ended at EOS', stop: 'ended at the stop string', length: 'reached the token limit' };

/** The run's own samples (taken at its validation steps): the prompt once, then each method's newest sample; then any generated after the run. */
function runSamplesSection(run: RunRecord, generated: readonly ReportSample[]): string {
  const ids = run.methods.map((m) => m.id);
  const taken = run.samples ? lastSamples(run.samples.byMethod, ids) : [];
  if (!run.samples || taken.length === 0) return samplesSection(generated);
  const labels = new Map(run.methods.map((m) => [m.id, m.label]));
  const last = Math.max(...taken.map((t) => t.sample.step));
  const parts = [
    `<p class="meta">Each method's continuation at the last validation step (${last}), from ${escapeHtml(PROMPT_SOURCES[run.samples.source])}:</p>`,
    `<pre>${escapeHtml(run.samples.prompt)}</pre>`,
    ...taken.map(({ method, sample }) => {
      const at = sample.step === last ? '' : `, at step ${sample.step} (its last sample)`;
      const meta = `${sample.tokens} tokens, ${SAMPLE_ENDS[sample.end]}${at}`;
      return `<h3>${escapeHtml(labels.get(method) ?? method)} <span class="meta">${escapeHtml(meta)}</span></h3>\n<pre>${escapeHtml(sample.text)}</pre>`;
    }),
  ];
  if (generated.length > 0) parts.push('<h3>Generated after the run</h3>', samplesSection(generated));
  return parts.join('\n');
}

/** The report as one HTML document. */
/** Diverging flags and non-finite stops (train/health.ts) as the record keeps them; '' when there are none. */
function healthSection(run: RunRecord): string {
  const label = (id: string) => escapeHtml(run.methods.find((m) => m.id === id)?.label ?? id);
  const diverging = Object.entries(run.diverging ?? {});
  const stops = Object.entries(run.nonFinite ?? {});
  const parts: string[] = [];
  if (diverging.length > 0) {
    const list = diverging.map(([id, step]) => `${label(id)} from step ${step}`).join('; ');
    parts.push(`<p data-report="diverging"><strong>Diverging loss</strong> (flagged, training went on): ${list}</p>`);
  }
  if (stops.length > 0) {
    const row = ([id, s]: [string, NonNullable<RunRecord['nonFinite']>[string]]) =>
      `<tr><td>${label(id)}</td><td>${s.step}</td><td>${escapeHtml(s.source)}</td><td>${escapeHtml(s.layer || '(the loss)')}</td><td>${escapeHtml(s.tensor)}</td></tr>`;
    parts.push(
      `<table data-report="non-finite"><caption>Stopped by a non-finite value</caption><thead><tr><th>Method</th><th>Step</th><th>Found in</th><th>Layer</th><th>Tensor</th></tr></thead><tbody>${stops.map(row).join('')}</tbody></table>`,
    );
  }
  return parts.join('\n');
}

/** A run with several seeds: per method, mean ± sd (n − 1) over the seeds that ran all their steps, and n. */
function seedsSection(run: RunRecord): string {
  const complete = completeSeeds(run.seeds);
  if (!run.seeds || run.seeds.length < 2 || complete.length === 0) return '';
  const aggregates = aggregateSeeds(run.methods, complete, run.params);
  const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : '—');
  const rate = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '—');
  const signed = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : '—');
  const columns: readonly [string, (a: (typeof aggregates)[number]) => Spread, (v: number) => string][] = [
    ['Final val loss', (a) => a.stats.finalVal, (v) => fmt(v)],
    ['Best val loss', (a) => a.stats.bestVal, (v) => fmt(v)],
    ['Final train loss', (a) => a.stats.finalLoss, (v) => fmt(v)],
    ['Accuracy', (a) => a.stats.accuracy, pct],
    ['Train time', (a) => a.stats.trainMs, ms],
    ['Trained tokens/s', (a) => a.stats.tokensPerS, rate],
    ['Forgetting', (a) => a.forgetting, signed],
  ];
  const seeds = complete.map((s) => s.seed).join(', ');
  const stopped = run.seeds.filter((s) => s.stopped).map((s) => s.seed);
  return `<h2>Over ${complete.length} seeds</h2>
<table>
<thead><tr><th scope="col">Method</th><th scope="col">n</th>${columns.map(([h]) => `<th scope="col">${h}</th>`).join('')}</tr></thead>
<tbody>
${aggregates
  .map(
    (a) =>
      `<tr><td>${escapeHtml(a.label)}</td><td class="num">${a.perSeed.filter((p) => p.row && p.row.steps > 0).length}</td>${columns
        .map(([, pick, f]) => `<td class="num">${escapeHtml(formatSpread(pick(a), f))}</td>`)
        .join('')}</tr>`,
  )
  .join('\n')}
</tbody>
</table>
<p class="meta">Mean ± sample standard deviation (n − 1) over seeds ${escapeHtml(seeds)}; the table above is the last seed's.${
    stopped.length ? ` Stopped before their last step, so not counted: seed ${stopped.join(', ')}.` : ''
  }</p>`;
}

export function htmlReport(run: RunRecord, charts: readonly ReportChart[], generatedAt: Date = new Date(), extras: ReportExtras = {}): string {
  const rows = summaryRows(run);
  const halted = rows.filter((r) => r.halted);
  const model = run.modelInfo ? describeModel(run.modelInfo) : run.model;
  const data = run.dataInfo ? describeData(run.dataInfo) : run.dataset;
  const figure = (c: ReportChart): string => {
    const w = svgWidth(c.svg);
    // The SVG carries its own title (ui/chartExport.ts), so no caption repeats it.
    return `<figure aria-label="${escapeHtml(c.title)}"${w ? ` style="width: ${w}px"` : ''}>${c.svg}</figure>`;
  };
  const samples = extras.samples ?? [];
  const columns = run.forgetting ? [...COLUMNS, forgettingColumn(run.forgetting)] : COLUMNS;
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
tr.section th { background: #f1f4f8; }
td.changed { background: #fff4cc; }
.notes { white-space: pre-wrap; border-left: 3px solid #d6dbe2; padding-left: 0.8rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; max-width: 100%; border: 1px solid #d6dbe2; border-radius: 6px; overflow: hidden; background: #1e232b; }
figure svg { display: block; max-width: 100%; height: auto; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: 0.5rem; border-radius: 4px; margin: 0.2rem 0 0.8rem; }
footer { margin-top: 2rem; color: #5a6472; font-size: 0.85rem; }
</style>
</head>
<body>
<h1>${escapeHtml(run.name)}</h1>
<p class="meta">Adapter Studio comparison · ${escapeHtml(run.status)} · started ${escapeHtml(new Date(run.startedAt).toISOString())}</p>
<p class="meta">Model <strong>${escapeHtml(model)}</strong><br>Data <strong>${escapeHtml(data)}</strong></p>
${run.notes ? `<p class="notes">${escapeHtml(run.notes)}</p>` : ''}

<h2>Results</h2>
<table>
<thead><tr>${columns.map(([h]) => `<th scope="col">${h}</th>`).join('')}</tr></thead>
<tbody>
${rows.map((r) => `<tr>${columns.map(([, f], i) => `<td${i === 0 ? '' : ' class="num"'}>${f(r)}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>
<p class="meta">Losses in nats per trained token. Memory: what each method holds beyond the shared base (adapter tensors, owned bases, AdamW state). All methods trained on identical batches in identical order (seed ${escapeHtml(settingText(run.params.seed))}).</p>
${run.forgetting ? `<p class="meta">${escapeHtml(forgettingNote(run.forgetting))}</p>` : ''}
${halted.length ? `<p><strong>Halted:</strong> ${halted.map((r) => `${escapeHtml(r.label)}: ${escapeHtml(r.halted ?? '')}`).join('; ')}</p>` : ''}
${seedsSection(run)}
${healthSection(run)}
${run.error ? `<p><strong>Error:</strong> ${escapeHtml(run.error)}</p>` : ''}

<h2>Charts</h2>
${charts.length ? `<div class="charts">\n${charts.map(figure).join('\n')}\n</div>` : '<p class="meta">No charts were on the page.</p>'}

<h2>Samples</h2>
${runSamplesSection(run, samples)}

<h2>Settings</h2>
${settingsTable(settingsRows(run))}

<h2>Difference from another run</h2>
${extras.compare ? diffTable(run, extras.compare) : '<p class="meta">No other run was chosen for comparison (pick one under Saved runs, Compare).</p>'}
<footer>Generated by Adapter Studio on ${escapeHtml(generatedAt.toISOString())}. Every number was measured on the user's GPU in the browser (WebGPU).</footer>
</body>
</html>
`;
}
