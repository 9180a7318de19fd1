// End-to-end tests in a real headless Chromium with WebGPU (SwiftShader on machines without a
// GPU), against the built studio served by `vite preview` on 127.0.0.1 (WebGPU needs a secure
// context; localhost counts). The browser is the system Chromium, or the one named by
// CHROMIUM_PATH; set CHROMIUM_CHANNEL=chrome to use an installed Google Chrome instead.

import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

export const BROWSER_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', ...BROWSER_FLAGS];

const channel = process.env.CHROMIUM_CHANNEL;
/** Port of the preview server (E2E_PORT, default 4173). */
const port = Number(process.env.E2E_PORT ?? 4173);
const executablePath = channel ? undefined : (process.env.CHROMIUM_PATH ?? '/usr/bin/chromium');
if (executablePath && !existsSync(executablePath)) {
  throw new Error(
    `No Chromium at ${executablePath}. Install it (Debian/Ubuntu: apt-get install chromium), or set CHROMIUM_PATH to a Chromium-based browser, or CHROMIUM_CHANNEL=chrome.`,
  );
}

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1280, height: 800 },
    launchOptions: { executablePath, channel, args: WEBGPU_FLAGS },
    trace: 'off',
    screenshot: 'only-on-failure',
  },
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --port ${port} --strictPort`,
    url: `http://127.0.0.1:${port}`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
});
