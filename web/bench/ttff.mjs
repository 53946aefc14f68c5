// Time to first frame in Chromium, per transport, cold and warm: `npm run bench:ttff` from web/
// (after `cargo build --release`; needs TOPOSYNC_STREAMING_ENGINE_PATH and
// TOPOSYNC_STREAMING_GO2RTC_PATH). Each sample opens /streams/debug with one fixed transport and
// reads when its first frame was decoded, counted from opening the page: the plan, the prime,
// the engine's warm-up and the player together, as a user waits for them.
//   cold: a fresh service with the engine ready and no encoder running (one per sample);
//   warm: the output already encoding because another page watches it.
// Prints a table of the median and the range of SAMPLES samples.
import { DEMO_VIEW, launchBrowser, signedInPage, startService, until } from '../tests/harness.mjs';

const SAMPLES = Number(process.env.SAMPLES ?? 5);
// WebRTC is only on the main variant (the harness enables it there); the others play the sub
// variant, as the grid does.
const TRANSPORTS = [
  ['mse', 'sub'],
  ['hls', 'sub'],
  ['webrtc', 'main'],
  ['jsmpeg', 'sub'],
];

if (!process.env.TOPOSYNC_STREAMING_ENGINE_PATH || !process.env.TOPOSYNC_STREAMING_GO2RTC_PATH) {
  console.log('skip: set TOPOSYNC_STREAMING_ENGINE_PATH and TOPOSYNC_STREAMING_GO2RTC_PATH');
  process.exit(0);
}

const debugPath = (transport, variant) =>
  `/streams/debug?live_view_id=${DEMO_VIEW}&variant_id=${variant}&transport=${transport}`;

/** Opens the debug page signed in and returns its time to first frame in ms. */
async function sampleOnce(browser, service, transport, variant) {
  const page = await signedInPage(browser, service, debugPath(transport, variant));
  try {
    const ms = await until(`${transport} first frame`, async () => {
      const state = await page.locator('body').getAttribute('data-state');
      if (state === 'failed') throw new Error(await page.locator('#outcome').textContent());
      return page.locator('body').getAttribute('data-first-frame-ms');
    }, 30);
    return Number(ms);
  } finally {
    await page.context().close();
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const row = (values) =>
  `${(median(values) / 1000).toFixed(2)} s (${(Math.min(...values) / 1000).toFixed(2)}–${(Math.max(...values) / 1000).toFixed(2)})`;

const browser = await launchBrowser();
const results = [];
try {
  for (const [transport, variant] of TRANSPORTS) {
    const cold = [];
    for (let i = 0; i < SAMPLES; i++) {
      const service = await startService({ engine: true });
      try {
        cold.push(await sampleOnce(browser, service, transport, variant));
      } finally {
        await service.stop();
      }
    }
    const service = await startService({ engine: true });
    const warm = [];
    try {
      // A page that keeps watching holds the output's demand: its encoder stays up.
      const holder = await signedInPage(browser, service, debugPath(transport, variant));
      await until('the holder plays', async () =>
        (await holder.locator('body').getAttribute('data-state')) === 'live', 30);
      for (let i = 0; i < SAMPLES; i++) warm.push(await sampleOnce(browser, service, transport, variant));
      await holder.context().close();
    } finally {
      await service.stop();
    }
    results.push([transport, variant, cold, warm]);
    console.error(`${transport}: cold ${cold.join(', ')} ms; warm ${warm.join(', ')} ms`);
  }
} finally {
  await browser.close();
}

console.log(`\ntime to first frame in Chromium, median (min–max) of ${SAMPLES}`);
console.log('| transport | variant | cold | warm |');
console.log('|---|---|---|---|');
for (const [transport, variant, cold, warm] of results) {
  console.log(`| ${transport} | ${variant} | ${row(cold)} | ${row(warm)} |`);
}
