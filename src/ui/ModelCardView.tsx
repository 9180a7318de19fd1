// The model card: architecture, sizes, parameter count, weight dtypes, tokenizer and warnings.
// Memory per method is shown in the Methods panel (it depends on the chosen settings).

import type { ModelCard } from '../worker/protocol';
import { formatBytes, formatCount } from './format';

export function ModelCardView({ card }: { card: ModelCard }) {
  const dtypes = Object.entries(card.dtypes)
    .map(([d, n]) => `${d} ×${n}`)
    .join(', ');
  return (
    <div className="model-card" data-testid="model-card">
      <div className="card-title">
        <strong data-testid="model-name">{card.name}</strong>
        <span className="chip">{card.architecture}</span>
      </div>
      <dl className="facts compact">
        <dt>Parameters</dt>
        <dd data-testid="model-params">{formatCount(card.params)}</dd>
        <dt>Shape</dt>
        <dd>
          L {card.layers} · C {card.hidden} · H {card.heads}
          {card.kvHeads !== card.heads ? ` (KV ${card.kvHeads})` : ''} · D {card.headDim} · I {card.intermediate}
        </dd>
        <dt>Vocabulary</dt>
        <dd>
          {card.vocab} · context {card.maxPositions}
          {card.tiedEmbeddings ? ' · tied embeddings' : ''}
        </dd>
        <dt>Weights</dt>
        <dd>
          {formatBytes(card.weightBytes)} ({dtypes})
        </dd>
        <dt>On the GPU</dt>
        <dd data-testid="model-gpu-weights">
          {formatBytes(card.gpuWeights.bytes)} frozen
          {card.gpuWeights.bytes < card.gpuWeights.asF32Bytes ? ` (16-bit matrices; ${formatBytes(card.gpuWeights.asF32Bytes)} as f32)` : ''}
          {card.gpuWeights.asF16Bytes < card.gpuWeights.bytes
            ? ` · as f16: ${formatBytes(card.gpuWeights.asF16Bytes)}, saves ${formatBytes(card.gpuWeights.bytes - card.gpuWeights.asF16Bytes)}`
            : ''}
        </dd>
        <dt>Tokenizer</dt>
        <dd>
          {card.tokenizer ? (
            `${card.tokenizer.kind}, ${card.tokenizer.vocabSize} tokens${card.tokenizer.chatTemplate ? ', chat template' : ''}`
          ) : (
            <span className="fail">none: training needs tokenizer.json</span>
          )}
        </dd>
        <dt>Projections</dt>
        <dd>{card.projections.map((p) => `${p.role} [${p.out}×${p.in}]`).join(' · ')}</dd>
      </dl>
      {card.warnings.length > 0 && (
        <ul className="warnings small">
          {card.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
