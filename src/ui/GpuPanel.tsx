// The adapter the engine got: name, architecture, optional features and the limits that bound
// what the studio can train.

import { useEngineStore } from '../state/engineStore';
import { formatBytes } from '../errors';
import { useSettingsStore } from '../state/settingsStore';
import { SetupSection } from './SetupSection';

/** `collapsible`: folds in the studio's set-up column, the adapter's name staying beside the title. */
export function GpuPanel({ collapsible = false }: { collapsible?: boolean }) {
  const gpu = useEngineStore((s) => s.gpu);
  const status = useEngineStore((s) => s.status);
  const folded = useSettingsStore((s) => collapsible && (s.collapsed.gpu ?? false));
  const adapter = gpu ? gpu.description || gpu.device || 'not reported by the browser' : null;
  const brief = gpu ? gpu.description || gpu.device || [gpu.vendor, gpu.architecture].filter(Boolean).join(' ') || 'unnamed adapter' : null;
  return (
    <SetupSection
      id="gpu"
      title="GPU"
      testId="gpu-panel"
      collapsible={collapsible}
      summary={<span data-testid={folded ? 'gpu-adapter' : undefined}>{brief ?? (status === 'starting' ? 'requesting a device…' : 'no device')}</span>}
    >
      {!gpu ? (
        <p className="muted">{status === 'starting' ? 'Requesting an adapter and device…' : 'No device.'}</p>
      ) : (
        <>
          <dl className="facts">
            <dt>Adapter</dt>
            <dd data-testid={folded ? undefined : 'gpu-adapter'}>{adapter}</dd>
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
    </SetupSection>
  );
}

function Feature({ name, on }: { name: string; on: boolean }) {
  return (
    <li className={on ? 'feature on' : 'feature off'}>
      <span aria-hidden="true">{on ? '✓' : '–'}</span> {name} {on ? 'in use' : 'not offered'}
    </li>
  );
}
