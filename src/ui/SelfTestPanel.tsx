// The built-in self-test: random matrices multiplied on the GPU and checked in float64 on the
// CPU, in this page's worker, so a user can see their GPU computes correctly.

import { useEngineStore } from '../state/engineStore';
import { SetupSection } from './SetupSection';

/** `collapsible`: folds in the studio's set-up column. */
export function SelfTestPanel({ collapsible = false }: { collapsible?: boolean }) {
  const ready = useEngineStore((s) => s.status === 'ready');
  const job = useEngineStore((s) => s.selfTest);
  const run = useEngineStore((s) => s.runSelfTest);
  return (
    <SetupSection
      id="selftest"
      title="Self-test"
      testId="selftest-panel"
      collapsible={collapsible}
      summary={job.state === 'done' ? (job.result.pass ? 'passed' : 'FAILED') : job.state === 'running' ? 'running…' : 'check the GPU computes correctly'}
    >
      <p className="muted">
        Multiplies random matrices (plain, transposed and batched, odd sizes) with the studio’s matmul kernel on your GPU and compares every entry with a
        float64 product on the CPU.
      </p>
      <button className="primary" onClick={() => void run()} disabled={!ready || job.state === 'running'}>
        {job.state === 'running' ? 'Running…' : 'Run self-test'}
      </button>
      {job.state === 'failed' && (
        <p className="result fail" role="alert">
          Self-test could not run: {job.message}
        </p>
      )}
      {job.state === 'done' && (
        <div data-testid="selftest-result">
          <p className={job.result.pass ? 'result pass' : 'result fail'} data-testid="selftest-verdict">
            {job.result.pass ? 'PASS' : 'FAIL'}: largest relative error {job.result.maxRelError.toExponential(2)} (tolerance{' '}
            {job.result.tolerance.toExponential(0)}), variant {job.result.variant}, seed {job.result.seed}
          </p>
          <table className="grid">
            <thead>
              <tr>
                <th>Product</th>
                <th className="num">Relative error</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {job.result.cases.map((c) => (
                <tr key={c.label}>
                  <td>{c.label}</td>
                  <td className="num">{c.relError.toExponential(2)}</td>
                  <td className={c.pass ? 'pass' : 'fail'}>{c.pass ? 'pass' : 'FAIL'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted small">
            GPU side {job.result.gpuMs.toFixed(0)} ms (upload, compile, run, read back); CPU reference {job.result.cpuMs.toFixed(0)} ms.
          </p>
        </div>
      )}
    </SetupSection>
  );
}
