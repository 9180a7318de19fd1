// Full-page notice shown instead of the studio when this browser cannot give us a GPU device.

export function NoWebGpu({ reason }: { reason: string }) {
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
    </div>
  );
}
