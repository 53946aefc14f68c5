// Browser tests of the dashboard: the release binary serves the demo camera, Debian's Chromium
// (playwright-core; no browser download) signs in with the viewer token and watches; pictures
// are checked from their pixels. Run: `npm run test:browser` from web/ (after `cargo build
// --release`); `.ci/run` does. The real-engine groups need TOPOSYNC_STREAMING_ENGINE_PATH and
// TOPOSYNC_STREAMING_GO2RTC_PATH (absolute paths) and say why they skip without them.
import assert from 'node:assert/strict';
import { DEMO_VIEW, launchBrowser, sample, seesMovingPicture, signedInPage, startCamera, startPrefixProxy,
  startService, until } from './harness.mjs';
import { settings, settingsWithEngine } from './settings.mjs';

// Views play the native profile (the camera's own size) by default.
const SUB_OUTPUT = 'tx-camera-demo-sub-sub:hls_native';
/** The demand book's stop debounce (actors/src/demand/book.rs STOP_DEBOUNCE). */
const STOP_DEBOUNCE_S = 3;
/** A web player's heartbeat lease and the plan's renewal interval. */
const HEARTBEAT_LEASE_S = 45;
const HEARTBEAT_INTERVAL_S = 10;

const tile = (page) => page.locator('.tile').first();
const tileIs = async (page, transport, state = 'live') =>
  (await tile(page).getAttribute('data-transport')) === transport &&
  (await tile(page).getAttribute('data-state')) === state;

const withoutEngine = {
  async 'with no engine, the 2x2 grid plays the demo over JSMpeg'({ service, browser }) {
    const page = await signedInPage(browser, service);
    await until('the first tile is live over JSMpeg', () => tileIs(page, 'jsmpeg'), 45);
    await seesMovingPicture(page, '.tile canvas');
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    // The overlay names the variant by its label, never by an output id.
    const options = await tile(page).locator('select option').allTextContents();
    assert.ok(options.includes('Baixa resolução'), `labels: ${options}`);
    assert.ok(!options.some((o) => o.startsWith('hls_')), `labels: ${options}`);
    await page.context().close();
  },

  async 'tiles, selector and pagination are reachable from the keyboard and labelled'({ service, browser }) {
    const page = await signedInPage(browser, service);
    await until('a tile', async () => (await page.locator('.tile').count()) >= 1);
    const reached = [];
    for (let i = 0; i < 16; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => {
        const el = document.activeElement;
        return `${el.tagName.toLowerCase()}:${el.getAttribute('aria-label') ?? el.textContent}`;
      }));
    }
    for (const wanted of ['button:One camera', 'button:Four cameras', 'article:Demo camera',
      'select:Source of Demo camera', 'button:Fullscreen Demo camera']) {
      assert.ok(reached.includes(wanted), `${wanted} not reached by Tab: ${reached}`);
    }
    // One page of cameras: pagination is labelled and disabled (so Tab skips it).
    for (const label of ['Previous page', 'Next page']) {
      assert.equal(await page.getByRole('button', { name: label }).isDisabled(), true, label);
    }
    await page.context().close();
  },
};

/** Where Home Assistant ingress serves an add-on (the token is the add-on's session). */
const INGRESS_PREFIX = '/api/hassio_ingress/test-ingress-token';

Object.assign(withoutEngine, {
  async "the sign-in form returns only to a page of this site, however ?next= is spelled"({ service, browser }) {
    for (const next of ['//evil.example/x', '/\\evil.example/x', '/%09/evil.example/x', 'https://evil.example/x']) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${service.root}/login?next=${next}`);
      await page.fill('input[name=password]', service.viewer);
      await page.selectOption('select[name=username]', 'viewer');
      await page.click('button[type=submit]');
      await until(`signed in (${next})`, async () =>
        (await page.locator('#message').textContent()).startsWith('Signed in as') ||
        !page.url().startsWith(service.root));
      assert.ok(page.url().startsWith(service.root), `${next} left for ${page.url()}`);
      await context.close();
    }
  },

  async 'under a proxy prefix (as HA ingress), the pages sign in, play and keep every request under it'({ service, browser }) {
    const proxy = await startPrefixProxy(service, INGRESS_PREFIX);
    try {
      const page = await signedInPage(browser, proxy, '/');
      await until('the first tile is live over JSMpeg', () => tileIs(page, 'jsmpeg'), 45);
      await seesMovingPicture(page, '.tile canvas');
      await page.getByRole('link', { name: 'Transport debug' }).click();
      await page.waitForURL(`${proxy.root}/streams/debug`);
      await page.context().close();

      const admin = await signedInPage(browser, proxy, '/settings', 'admin');
      await until('the cameras are listed', async () => (await admin.locator('#camera-demo').count()) === 1);
      const diagnostics = admin.getByRole('link', { name: 'Download the diagnostic snapshot' });
      assert.equal(await diagnostics.evaluate((a) => a.href), `${proxy.root}/api/streams/runtime/diagnostics`);
      await admin.context().close();
      assert.deepEqual(proxy.outside, [], 'every request stayed under the prefix');
    } finally {
      await proxy.stop();
    }
  },
});

const withEngine = {
  async 'under a proxy prefix, HLS plays with every playlist and segment fetched through it'({ service, browser }) {
    const proxy = await startPrefixProxy(service, INGRESS_PREFIX);
    try {
      const page = await signedInPage(browser, proxy, '/?transport=hls');
      await until('the first tile is live over HLS', () => tileIs(page, 'hls'), 45);
      await seesMovingPicture(page, '.tile video');
      await page.context().close();
      assert.deepEqual(proxy.outside, [], 'every request stayed under the prefix');
    } finally {
      await proxy.stop();
    }
  },


  async 'a tile plays MSE from go2rtc'({ service, browser }) {
    const page = await signedInPage(browser, service);
    await until('the first tile is live over MSE', () => tileIs(page, 'mse'), 45);
    const seen = await seesMovingPicture(page, '.tile video');
    assert.deepEqual([seen.width, seen.height], [640, 360], 'the sub variant (the demo sub camera, native)');
    assert.equal(await tile(page).locator('.transport').textContent(), 'MSE');
    await page.context().close();
  },

  async 'a tile forced to HLS plays HLS'({ service, browser }) {
    const page = await signedInPage(browser, service, '/?transport=hls');
    await until('the first tile is live over HLS', () => tileIs(page, 'hls'), 45);
    await seesMovingPicture(page, '.tile video');
    await page.context().close();
  },

  async 'the debug page plays WebRTC on the WebRTC-enabled variant'({ service, browser }) {
    const path = `/streams/debug?live_view_id=${DEMO_VIEW}&variant_id=main&transport=webrtc`;
    const page = await signedInPage(browser, service, path);
    await until('the debug page is live', async () =>
      (await page.locator('body').getAttribute('data-state')) === 'live', 45);
    const seen = await seesMovingPicture(page, '#stage video');
    assert.deepEqual([seen.width, seen.height], [1280, 720], 'webrtc_low_latency is 720p');
    const log = await page.locator('#log').textContent();
    for (const step of ['POST offer', 'answer applied', 'first frame after']) {
      assert.ok(log.includes(step), `step "${step}" in the log:\n${log}`);
    }
    assert.ok(!log.includes('media_token'), 'no signed token in the copyable log');
    await page.context().close();
  },

  async 'the selector switches the tile to another variant'({ service, browser }) {
    const page = await signedInPage(browser, service);
    await until('the first tile is live over MSE', () => tileIs(page, 'mse'), 45);
    await until('the sub picture', async () => (await sample(page, '.tile video'))?.width === 640);
    await tile(page).locator('select').selectOption({ label: 'Principal' });
    const seen = await until('the main picture (the demo main camera, 1280x720)', async () => {
      const picture = await sample(page, '.tile video');
      return picture?.width === 1280 && (await tileIs(page, 'mse')) ? picture : null;
    }, 60);
    assert.equal(seen.height, 720);
    await page.context().close();
  },

  async 'leaving the page stops the heartbeats and the encoder after the last lease'({ service, browser }) {
    const page = await signedInPage(browser, service);
    await until('the first tile is live over MSE', () => tileIs(page, 'mse'), 45);
    const output = async () =>
      (await service.call('GET', 'runtime/outputs')).outputs.find((o) => o.output_key === SUB_OUTPUT);
    assert.equal((await output()).publisher_running, true);
    await page.context().close();
    const left = Date.now();
    // The longest lease still held when the page left: the heartbeat's, or a prime's.
    const { demand } = await output();
    // Earlier tests' pages may still hold leases too; this page's is the latest.
    assert.ok(demand.heartbeat_sessions >= 1, 'the page held a heartbeat lease');
    const lease = Math.max(HEARTBEAT_LEASE_S, demand.primed_expires_in_seconds ?? 0);
    await until('the encoder stops', async () => !(await output()).publisher_running,
      lease + STOP_DEBOUNCE_S + 10);
    // The last heartbeat came at most one interval before the page left; its lease held till then.
    const waited = (Date.now() - left) / 1000;
    assert.ok(waited >= HEARTBEAT_LEASE_S - HEARTBEAT_INTERVAL_S,
      `stopped ${waited} s after leaving: before the heartbeat lease ran out`);
  },
};

/** The actor named `name` in the live tree, and its parent's name. */
async function actor(service, name) {
  const walk = (node) => node.name === name ? node : (node.children ?? []).map(walk).find(Boolean);
  return walk(await service.call('GET', 'runtime/actors'));
}

Object.assign(withEngine, {
  async "the Settings page's actor tree shows a publisher restarted after its FFmpeg is killed"({ service, browser }) {
    await service.call('POST', 'transmissions/tx-camera-demo-sub-sub/demand/prime?output_id=hls_quad_grid');
    const publisher = () => actor(service, 'transmission:tx-camera-demo-sub-sub')
      .then((tx) => tx?.children.find((c) => c.name === 'output:hls_quad_grid'));
    const before = await until('the publisher runs FFmpeg', async () => {
      const node = await publisher();
      return node?.pid ? node : null;
    }, 30);
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const shown = page.locator(
      '#actors li[data-actor="transmission:tx-camera-demo-sub-sub"] li[data-actor="output:hls_quad_grid"]');
    await until('the tree shows the publisher', async () =>
      (await shown.count()) === 1 && (await shown.textContent()).includes(`pid ${before.pid}`));
    // An output nobody demands has no publisher process: stopped, not restarting.
    const idle = page.locator(
      '#actors li[data-actor="transmission:tx-camera-demo-sub-sub"] li[data-actor="output:hls_diagnostic_low"]');
    assert.match(await idle.textContent(), /\(publisher, stopped, restarts 0\)/);
    process.kill(before.pid, 'SIGKILL');
    await until('the tree shows the restart', async () => {
      const line = await shown.textContent();
      return line.includes(`restarts ${before.restarts + 1}`) && !line.includes(`pid ${before.pid},`) && line;
    }, 30);
    await page.context().close();
  },

  async 'the Settings page stops and starts the real engine and its status follows'({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const engineState = page.locator('#engine-status dd[data-field="State"]');
    await until('running', async () => (await engineState.textContent()) === 'running');
    await page.getByRole('button', { name: 'Stop engine', exact: true }).click();
    await until('the page says stopped', async () => (await engineState.textContent()) === 'stopped');
    assert.equal((await service.call('GET', 'engine/status')).running, false);
    await page.getByRole('button', { name: 'Start engine', exact: true }).click();
    await until('the page says running', async () => (await engineState.textContent()) === 'running', 30);
    const status = await service.call('GET', 'engine/status');
    assert.equal(status.running, true);
    assert.equal(await page.locator('#engine-status dd[data-field="PID"]').textContent(), String(status.pid));
    await page.context().close();
  },
});

const goToMissing = {
  async 'with go2rtc missing, the tile plays HLS within 5 s and the overlay says so'({ service, browser }) {
    const page = await signedInPage(browser, service);
    const shown = Date.now();
    await until('the first tile moves to HLS', async () =>
      (await tile(page).getAttribute('data-transport')) === 'hls', 5);
    assert.ok(Date.now() - shown <= 5000);
    await until('the first tile is live over HLS', () => tileIs(page, 'hls'), 45);
    assert.equal(await tile(page).locator('.transport').textContent(), 'HLS');
    await seesMovingPicture(page, '.tile video');
    await page.context().close();
  },

  async 'the debug page with transport=mse shows the failure instead of falling back'({ service, browser }) {
    const page = await signedInPage(browser, service, `/streams/debug?live_view_id=${DEMO_VIEW}&transport=mse`);
    await until('the debug page failed', async () =>
      (await page.locator('body').getAttribute('data-state')) === 'failed', 20);
    const outcome = await page.locator('#outcome').textContent();
    assert.match(outcome, /go2rtc/, outcome);
    assert.equal(await page.locator('#stage video, #stage canvas').count(), 0, 'no other player');
    await page.context().close();
  },
};

Object.assign(withEngine, settingsWithEngine);

const realParts = process.env.TOPOSYNC_STREAMING_ENGINE_PATH && process.env.TOPOSYNC_STREAMING_GO2RTC_PATH;
const groups = [
  ['no engine', {}, withoutEngine],
  ['settings, real RTSP test camera, no engine', { camera: true }, settings],
  ['real MediaMTX and go2rtc', { engine: true }, withEngine],
  ['real MediaMTX, go2rtc missing', { engine: true, go2rtc: 'missing' }, goToMissing],
];

/** `ONLY=<part of a test name>[|<another>…]` runs just the tests whose names contain one. */
const only = process.env.ONLY?.split('|');
const browser = await launchBrowser();
let failed = 0;
try {
  for (const [group, options, tests] of groups) {
    if (options.engine && !realParts) {
      console.log(`skip - ${group}: set TOPOSYNC_STREAMING_ENGINE_PATH and TOPOSYNC_STREAMING_GO2RTC_PATH`);
      continue;
    }
    const selected = Object.entries(tests).filter(([name]) => !only || only.some((part) => name.includes(part)));
    if (selected.length === 0) continue;
    const service = await startService(options);
    const camera = options.camera ? await startCamera() : undefined;
    try {
      for (const [name, test] of selected) {
        try {
          await test({ service, browser, camera });
          console.log(`ok - ${group}: ${name}`);
        } catch (error) {
          failed++;
          console.log(`not ok - ${group}: ${name}\n${error.stack}`);
        }
      }
    } finally {
      camera?.stop();
      await service.stop();
    }
  }
} finally {
  await browser.close();
}
process.exitCode = failed ? 1 : 0;
