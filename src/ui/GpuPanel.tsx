// The adapter the engine got: name, architecture, optional features and the limits that bound
// what the studio can train.

import { useEngineStore } from '../state/engineStore';
import { formatBytes } from '../errors';

export function GpuPanel() {
  const gpu = useEngineStore((s) => s.gpu);
  const status = useEngineStore((s) => s.status);
  return (
    <section className="panel" aria-labelledby="gpu-title" data-testid="gpu-panel">
      <h2 id="gpu-title">GPU</h2>
      {!gpu ? (
        <p className="muted">{status === 'starting' ? 'Requesting an adapter and device…' : 'No device.'}</p>
      ) : (
        <>
          <dl className="facts">
            <dt>Adapter</dt>
            <dd data-testid="gpu-adapter">{gpu.description || gpu.device || 'not reported by the browser'}</dd>
            <dt>Vendor</dt>
            <dd>{gpu.vendor || '—'}</dd>
            <dt>Architecture</dt>
            <dd>{gpu.architecture || '—'}</dd>
            <dt>Kind</dt>
            <dd>{gpu.isSoftware ? 'Software (CPU) implementation: slow, kernels use barrier-free variants' : 'Hardware GPU'}</dd>
          </dl>
          <h3>Optional features</h3>
          <ul className="features">
            <Feature name="shader-f16" on={gpu.features.shaderF16} />
            <Feature name="subgroups" on={gpu.features.subgroups} />
            <Feature name="timestamp-query" on={gpu.features.timestampQuery} />
          </ul>
          <h3>Limits in use</h3>
          <dl className="facts">
            <dt>Max buffer</dt>
            <dd>{formatBytes(gpu.limits.maxBufferSize)}</dd>
            <dt>Max storage binding</dt>
            <dd>{formatBytes(gpu.limits.maxStorageBufferBindingSize)}</dd>
            <dt>Workgroup storage</dt>
            <dd>{formatBytes(gpu.limits.maxComputeWorkgroupStorageSize)}</dd>
            <dt>Invocations per workgroup</dt>
            <dd>{gpu.limits.maxComputeInvocationsPerWorkgroup}</dd>
            <dt>Workgroups per dimension</dt>
            <dd>{gpu.limits.maxComputeWorkgroupsPerDimension}</dd>
            <dt>Storage buffers per stage</dt>
            <dd>{gpu.limits.maxStorageBuffersPerShaderStage}</dd>
          </dl>
        </>
      )}
    </section>
  );
}

function Feature({ name, on }: { name: string; on: boolean }) {
  return (
    <li className={on ? 'feature on' : 'feature off'}>
      <span aria-hidden="true">{on ? '✓' : '–'}</span> {name} {on ? 'in use' : 'not offered'}
    </li>
  );
}
