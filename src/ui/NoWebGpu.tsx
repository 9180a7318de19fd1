// Full-page notice shown instead of the studio when this browser cannot give us a GPU device.
// The reference study needs no GPU (it only reads docs/results.json), so the notice offers it.

export function NoWebGpu({ reason, onShowStudy }: { reason: string; onShowStudy: () => void }) {
  return (
    <div className="no-webgpu" role="alert" data-testid="no-webgpu">
      <h1>Adapter Studio needs WebGPU</h1>
      <p className="reason">{reason}</p>
      <h2>How to fix it</h2>
      <ul>
        <li>Use Chrome or Edge 113 or newer (Chromium-based browsers ship WebGPU).</li>
        <li>
          On Linux, start the browser with <code>--enable-unsafe-webgpu</code> (and <code>--enable-features=Vulkan</code> for a real GPU).
        </li>
        <li>
          Open <code>chrome://gpu</code>: the line “WebGPU” should read “Hardware accelerated”.
        </li>
        <li>Open the studio over https, or on http://localhost / http://127.0.0.1.</li>
      </ul>
      <p className="note">Nothing is computed on a server: every number the studio shows comes from your own GPU, so it cannot run without one.</p>
      <p>
        The reference study (every method trained on the built-in model, with its tables and plots) was computed ahead and needs no GPU to read:{' '}
        <button type="button" onClick={onShowStudy}>
          Open the reference study
        </button>
      </p>
    </div>
  );
}
