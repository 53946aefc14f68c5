// The screenshots in docs/: `npm run screenshots` from web/ (after `cargo build --release`).
// The demo service with three more generated test-pattern cameras, so the 2x2 grid is full,
// and the Settings page's camera form and runtime view.
import { launchBrowser, seesMovingPicture, signedInPage, startService, until } from './harness.mjs';

const docs = new URL('../../docs/', import.meta.url).pathname;
const service = await startService();
const browser = await launchBrowser();
try {
  for (const [id, name, size] of [
    ['yard', 'Yard', '640x360'],
    ['garage', 'Garage', '640x360'],
    ['porch', 'Porch', '640x360'],
  ]) {
    await service.call('POST', '/api/cameras', {
      id, name, sources: [{ id: 'sub', name: 'Baixa resolução', role: 'sub', origin: { rtsp_url: `demo:${size}` } }],
    });
  }
  const page = await signedInPage(browser, service, '/');
  await page.setViewportSize({ width: 1280, height: 760 });
  await until('four live tiles', async () =>
    (await page.locator('.tile[data-state="live"]').count()) === 4, 60);
  await seesMovingPicture(page, '.tile canvas');
  // The overlays show while the pointer moves.
  await page.mouse.move(400, 300);
  await page.mouse.move(420, 320);
  await page.screenshot({ path: `${docs}dashboard-2x2.png` });

  const settings = await signedInPage(browser, service, '/settings', 'admin');
  await settings.setViewportSize({ width: 1280, height: 900 });
  await settings.getByRole('button', { name: 'Edit Demo camera' }).click();
  await settings.screenshot({ path: `${docs}settings-cameras.png`, fullPage: true });
  // The runtime view while the grid still plays (its players are the outputs' demand).
  await settings.getByRole('button', { name: 'Cancel', exact: true }).click();
  const runtime = settings.locator('section[aria-labelledby="runtime-title"]');
  await until('the health of each camera', async () =>
    (await runtime.locator('#health tbody tr').count()) >= 4, 30);
  await runtime.locator('h2').scrollIntoViewIfNeeded();
  await settings.screenshot({ path: `${docs}settings-runtime.png` });
  await settings.context().close();
  await page.context().close();
  console.log(`written: ${docs}dashboard-2x2.png, ${docs}settings-cameras.png, ${docs}settings-runtime.png`);
} finally {
  await browser.close();
  await service.stop();
}
