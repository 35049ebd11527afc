/**
 * The dashboard, as a person sees it: a real demo process (`npm start`) serves it; headless
 * Chromium (Debian's, driven by playwright-core) opens the URL the demo prints, sees every
 * backend, sees the charts update, sees the backend the demo's story makes fail badged EJECTED
 * with its reason and time left, the channel's ok / failed / retried totals, dated times, and the
 * SIGKILLed backend badged GONE (greyed, still shown); a page opened mid-run has current rates at
 * its first paint. The screenshot goes to a temporary file; GRPC_HA_UPDATE_SCREENSHOT=1 writes
 * docs/dashboard.png (which the README shows) instead, so `npm test` leaves the tree clean.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CLI } from './support/run-cli.js';

const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

describe('dashboard', () => {
  it('shows every backend of a running demo live, the failing one EJECTED, the killed one GONE, and the call totals', { timeout: 60_000 }, async () => {
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
    const shots = mkdtempSync(path.join(tmpdir(), 'grpc-ha-dashboard-'));
    const screenshot = process.env.GRPC_HA_UPDATE_SCREENSHOT === '1' ? DOCS_SCREENSHOT : path.join(shots, 'dashboard.png');
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
      // The story makes the last backend fail every call: its ejection appears in the event log,
      // with a dated time, and its card says EJECTED, why, and for how long.
      const failing = addresses[2]!;
      const ejectedEvent = page.locator(`#events li[data-event="endpoint_ejected"][data-endpoint="${failing}"]`);
      await ejectedEvent.waitFor({ timeout: 25_000 });
      assert.match((await ejectedEvent.locator('time').textContent()) ?? '', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      const ejectedCard = page.locator(`.card[data-endpoint="${failing}"][data-health="ejected"]`);
      await ejectedCard.waitFor({ timeout: 5_000 });
      assert.equal((await ejectedCard.locator('.badge').textContent())?.toUpperCase(), 'EJECTED');
      assert.match((await ejectedCard.locator('.why').textContent()) ?? '', /consecutive .* · \d+ s left/);
      // The failures before the ejection were retried: the channel's totals say so.
      const totals = page.locator('.service .totals');
      await page.waitForFunction('Number(document.querySelector(".service .totals")?.dataset.retried) > 0', undefined, { timeout: 5_000 });
      assert.match((await totals.textContent()) ?? '', /^[\d,]+ ok · [\d,]+ failed · [\d,]+ retried$/);
      assert.ok(Number(await totals.getAttribute('data-ok')) > 100, 'ok calls counted');
      await page.screenshot({ path: screenshot, fullPage: false });

      // A page opened now draws the recent history at once: rates at its first paint, not "–".
      const late = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await late.goto(url);
      await late.waitForFunction('Number(document.body.dataset.ticks) >= 5', undefined, { timeout: 1_500 });
      const firstCalls = await late.locator(`.card[data-endpoint="${addresses[1]}"] dd`).first().textContent();
      assert.match(firstCalls ?? '', /^\d+$/, 'calls/s shown at once');

      // The story SIGKILLs the first backend: its card stays, greyed, badged GONE.
      const killed = page.locator(`.card[data-endpoint="${addresses[0]}"][data-health="gone"]`);
      await killed.waitFor({ timeout: 15_000 });
      assert.equal((await killed.locator('.badge').textContent())?.toUpperCase(), 'GONE');
      assert.match((await killed.locator('.why').textContent()) ?? '', /left the endpoint list at \d{4}-\d{2}-\d{2} /);
    } finally {
      await browser.close();
      rmSync(shots, { recursive: true, force: true });
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (demo.exitCode === null) demo.kill('SIGKILL');
    }
  });
});
