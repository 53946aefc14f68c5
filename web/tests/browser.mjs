// Browser tests of the dashboard: the release binary serves the demo camera, Debian's Chromium
// (playwright-core; no browser download) signs in with the viewer token and watches.
// Run: `npm run test:browser` from web/ (after `cargo build --release`); `.ci/run` does.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BINARY = new URL('../../target/release/toposync-streaming', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function until(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what}: not within ${seconds} s (last: ${JSON.stringify(last)})`);
}

/** The release service with the demo camera and fresh tokens; no engine binary. */
async function startService() {
  const data = mkdtempSync(join(tmpdir(), 'toposync-browser-'));
  const viewer = randomBytes(16).toString('hex');
  const env = { ...process.env, TOPOSYNC_ADMIN_TOKEN: randomBytes(16).toString('hex'),
    TOPOSYNC_VIEWER_TOKEN: viewer, TOPOSYNC_LOG: 'warn' };
  delete env.TOPOSYNC_STREAMING_ENGINE_PATH;
  delete env.TOPOSYNC_STREAMING_GO2RTC_PATH;
  const child = spawn(BINARY, ['serve', '--demo', '--port', '0', '--data-dir', data], {
    env, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const root = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) resolve(found[1]);
    });
    child.on('exit', (code) => reject(new Error(`the service exited (${code})`)));
  });
  return { root, viewer, stop() { child.kill(); rmSync(data, { recursive: true, force: true }); } };
}

/** Samples a tile's canvas: how many distinct colours, and a digest that changes with the picture. */
function sample(page, index) {
  return page.evaluate((i) => {
    const canvas = document.querySelectorAll('.tile canvas')[i];
    if (!canvas || !canvas.width) return null;
    const copy = document.createElement('canvas');
    copy.width = 64;
    copy.height = 36;
    const context = copy.getContext('2d');
    context.drawImage(canvas, 0, 0, 64, 36);
    const pixels = context.getImageData(0, 0, 64, 36).data;
    const colours = new Set();
    let digest = 0;
    for (let p = 0; p < pixels.length; p += 4) {
      colours.add((pixels[p] >> 4) * 256 + (pixels[p + 1] >> 4) * 16 + (pixels[p + 2] >> 4));
      digest = (digest * 31 + pixels[p] + pixels[p + 1] + pixels[p + 2]) >>> 0;
    }
    return { colours: colours.size, digest };
  }, index);
}

const tests = {
  async 'with no engine, the 2x2 grid plays the demo over JSMpeg'({ service, browser }) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${service.root}/`);
    // No session yet: the page sends the user to the sign-in form and back.
    await page.waitForURL(/\/login/);
    await page.fill('input[name=password]', service.viewer);
    await page.selectOption('select[name=username]', 'viewer');
    await page.click('button[type=submit]');
    await page.waitForURL(`${service.root}/`);
    const tiles = page.locator('.tile');
    await until('a tile per live view', async () => (await tiles.count()) >= 1);
    await until('the first tile is live', async () =>
      (await tiles.first().getAttribute('data-state')) === 'live', 45);
    assert.equal(await tiles.first().getAttribute('data-transport'), 'jsmpeg');
    const first = await until('a picture with many colours', async () => {
      const seen = await sample(page, 0);
      return seen && seen.colours > 20 ? seen : null;
    });
    await until('the picture changes', async () => {
      const seen = await sample(page, 0);
      return seen && seen.digest !== first.digest;
    });
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    // The overlay names the variant by its label, never by an output id.
    const options = await tiles.first().locator('select option').allTextContents();
    assert.ok(options.includes('Baixa resolução'), `labels: ${options}`);
    assert.ok(!options.some((o) => o.startsWith('hls_')), `labels: ${options}`);
    await context.close();
  },
};

const service = await startService();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
let failed = 0;
try {
  for (const [name, test] of Object.entries(tests)) {
    try {
      await test({ service, browser });
      console.log(`ok - ${name}`);
    } catch (error) {
      failed++;
      console.log(`not ok - ${name}\n${error.stack}`);
    }
  }
} finally {
  await browser.close();
  service.stop();
}
process.exitCode = failed ? 1 : 0;
