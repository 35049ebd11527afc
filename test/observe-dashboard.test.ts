/**
 * The dashboard, as a person sees it: a real demo process (`npm start`) serves it; headless
 * Chromium (Debian's, driven by playwright-core) opens the URL the demo prints, sees every
 * backend, sees the charts update, and sees the ejection of the backend the demo's story makes
 * fail. Saves docs/dashboard.png, which the README shows.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CLI } from './support/run-cli.js';

const SCREENSHOT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

describe('dashboard', () => {
  it('shows every backend of a running demo, updates its charts live, and logs the ejection of the failing backend', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/ensure-system-deps.sh installs it (apt-get install chromium)`);
    // 24 s: the story makes backend-2 fail every call at 45 % (≈ 11 s) and kills backend-0 at 60 %.
    // least_request keeps sending to a backend that fails fast (it has the fewest calls in flight),
    // so outlier detection sees its 5 failures in a row at once; peak_ewma would steer away first.
    const demo = spawn(process.execPath, [CLI, 'demo', '--duration', '24s', '--backends', '3', '--admin-port', '0', '--policy', 'least_request'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GRPC_HA_LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    demo.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    demo.stderr.resume();
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const deadline = Date.now() + 15_000;
      let url: string | undefined;
      let addresses: string[] = [];
      while (Date.now() < deadline) {
        url = /dashboard: (http:\/\/\S+)/.exec(stdout)?.[1];
        addresses = [...stdout.matchAll(/started backend-\d \(pid \d+, (127\.0\.0\.1:\d+)\)/g)].map((m) => m[1]!);
        if (url && addresses.length === 3) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(url, `the demo prints the dashboard URL: ${stdout}`);
      assert.equal(addresses.length, 3, stdout);

      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(url);
      // Every backend has a card.
      for (const a of addresses) await page.locator(`.card[data-endpoint="${a}"]`).waitFor({ timeout: 10_000 });
      // The charts update: ticks arrive and the share chart has drawn its canvas.
      await page.waitForFunction('Number(document.body.dataset.ticks) >= 3', undefined, { timeout: 10_000 });
      assert.equal(await page.locator('.service .share canvas').count(), 1);
      const ticks = Number(await page.evaluate('document.body.dataset.ticks'));
      await page.waitForFunction(`Number(document.body.dataset.ticks) > ${ticks}`, undefined, { timeout: 5_000 });
      // The story makes the last backend fail every call: its ejection appears in the event log.
      const failing = addresses[2]!;
      await page.locator(`#events li[data-event="endpoint_ejected"][data-endpoint="${failing}"]`).waitFor({ timeout: 25_000 });
      await page.locator(`.card[data-endpoint="${failing}"][data-health="ejected"]`).waitFor({ timeout: 5_000 }).catch(() => undefined);
      await page.screenshot({ path: SCREENSHOT, fullPage: false });
    } finally {
      await browser.close();
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (demo.exitCode === null) demo.kill('SIGKILL');
    }
  });
});
