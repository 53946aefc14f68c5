// Browser tests of the Settings page (imported by browser.mjs, which runs them in its groups):
// cameras, the engine's network settings, manual transmissions, the wizard and the runtime view,
// each driven through the page's own forms and checked against the API.
import assert from 'node:assert/strict';
import { sample, signedInPage, until } from './harness.mjs';

/** Fills the Settings page's camera form: a camera with its sources, as a user types them. */
async function fillCamera(page, { id, name, sources }) {
  await page.getByRole('button', { name: 'Add camera' }).click();
  const form = page.locator('#camera-form');
  await form.getByLabel('Id', { exact: true }).first().fill(id);
  await form.getByLabel('Name', { exact: true }).fill(name);
  for (const [index, source] of sources.entries()) {
    if (index > 0) await page.getByRole('button', { name: 'Add video source' }).click();
    const box = page.locator('fieldset.source').nth(index);
    await box.getByLabel('Id').fill(source.id);
    await box.getByLabel('Label').fill(source.label);
    await box.getByLabel('Role').selectOption(source.role);
    await box.getByLabel('RTSP URL').fill(source.url);
    if (source.password) {
      await box.getByLabel('Username').fill('admin');
      await box.getByLabel('Password').fill(source.password);
    }
    await box.getByLabel('Enabled').check();
  }
}

export const settings = {
  async 'a camera added through the form plays on the Streams page; unticking its sub source hides it'({ service, browser, camera }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    await fillCamera(page, { id: 'garden', name: 'Garden', sources: [
      { id: 'main', label: 'Garden main', role: 'main', url: camera.url },
      { id: 'sub', label: 'Garden sub', role: 'sub', url: camera.url },
    ] });
    await page.getByRole('button', { name: 'Save camera' }).click();
    await until('saved', async () => (await page.locator('#saved').textContent()) === 'Saved Garden.');
    await page.goto(`${service.root}/`);
    const garden = page.locator('.tile[aria-label="Garden"]');
    await until('the Garden tile is live', async () =>
      (await garden.getAttribute('data-state')) === 'live', 45);
    // The test camera's ball moves: the picture changes (it has few colours, unlike the demo's).
    const first = await until('a picture', () => sample(page, '.tile[aria-label="Garden"] canvas'));
    await until('the ball moves', async () =>
      (await sample(page, '.tile[aria-label="Garden"] canvas'))?.digest !== first.digest);
    // The reconciler's labels: the role's, then the source's own.
    assert.deepEqual(await garden.locator('select option').allTextContents(),
      ['Principal · Garden main', 'Baixa resolução · Garden sub']);

    await page.goto(`${service.root}/settings`);
    await page.getByRole('button', { name: 'Edit Garden' }).click();
    await page.locator('fieldset.source').nth(1).getByLabel('Transmitir esta fonte').uncheck();
    await page.getByRole('button', { name: 'Save camera' }).click();
    await until('saved', async () => (await page.locator('#saved').textContent()) === 'Saved Garden.');
    await page.goto(`${service.root}/`);
    await until('only the main source is offered', async () =>
      JSON.stringify(await garden.locator('select option').allTextContents()) ===
      '["Principal · Garden main"]');
    await page.context().close();
  },

  async 'an invalid RTSP URL is refused next to its field and nothing is saved'({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const before = await service.call('GET', '/api/cameras');
    await fillCamera(page, { id: 'porch', name: 'Porch', sources: [
      { id: 'main', label: 'Porch main', role: 'main', url: 'http://192.168.1.20/stream' },
    ] });
    await page.getByRole('button', { name: 'Save camera' }).click();
    const field = page.locator('fieldset.source').first().locator('.field.wide');
    await until('the field shows the refusal', async () =>
      (await field.locator('.field-error').textContent()).includes('rtsp://'));
    assert.equal(await field.locator('input').getAttribute('aria-invalid'), 'true');
    assert.deepEqual(await service.call('GET', '/api/cameras'), before);
    await page.context().close();
  },

  async "a camera's password never reaches the page"({ service, browser, camera }) {
    const secret = `pw-${Date.now()}-not-for-eyes`;
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const answers = [];
    page.on('response', (response) => answers.push(response.text().catch(() => '')));
    await fillCamera(page, { id: 'shed', name: 'Shed', sources: [
      { id: 'main', label: 'Shed main', role: 'main', url: camera.url, password: secret },
    ] });
    await page.getByRole('button', { name: 'Save camera' }).click();
    await until('saved', async () => (await page.locator('#saved').textContent()) === 'Saved Shed.');
    await page.getByRole('button', { name: 'Edit Shed' }).click();
    const password = page.locator('fieldset.source').first().getByLabel('Password');
    assert.equal(await password.inputValue(), '', 'the stored password is not put back');
    assert.match(await password.getAttribute('placeholder'), /stored/);
    // Saving again with the field blank keeps the stored password (the API still has one).
    await page.getByRole('button', { name: 'Save camera' }).click();
    await until('saved', async () => (await page.locator('#saved').textContent()) === 'Saved Shed.');
    assert.ok(!(await page.content()).includes(secret), 'not in the DOM');
    for (const body of await Promise.all(answers)) assert.ok(!body.includes(secret), 'not in a response');
    const stored = await service.call('GET', '/api/cameras/shed?include_secrets=true');
    assert.equal(stored.sources[0].origin.stream_password, secret, 'kept by a blank field');
    await page.context().close();
  },
};

Object.assign(settings, {
  async 'Resolve URLs lists each output with a copy button and primes its demand'({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: service.root });
    await page.getByRole('button', { name: 'Resolve URLs of tx-camera-demo-sub-sub' }).click();
    const field = page.getByLabel('hls URL of hls_quad_grid', { exact: true });
    await until('the URL is shown', async () => (await field.count()) === 1 && (await field.inputValue()) !== '');
    const url = await field.inputValue();
    assert.match(url, /hls_quad_grid/);
    assert.ok(!url.includes('@'), 'no credential in a URL');
    await page.getByRole('button', { name: 'Copy the hls URL of hls_quad_grid' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
    const { outputs } = await service.call('GET', 'runtime/outputs');
    const primed = outputs.find((o) => o.output_key === 'tx-camera-demo-sub-sub:hls_quad_grid');
    assert.equal(primed.demand.primed, true, 'resolving primed the output');
    await page.context().close();
  },

  async "a generated transmission cannot be edited or deleted and links to its camera source"({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const item = page.locator('#transmissions li[data-transmission="tx-camera-demo-main-main"]');
    await until('the transmission is listed', async () => (await item.count()) === 1);
    assert.equal(await item.getByRole('button', { name: /^Delete/ }).isDisabled(), true);
    assert.equal(await item.getByRole('button', { name: /^Edit/ }).isDisabled(), true);
    const link = item.getByRole('link', { name: 'camera demo, source main' });
    await link.click();
    // Still the Settings page (the page's <base> must not turn the link into another page's).
    assert.equal(await page.evaluate(() => location.pathname + location.hash), '/settings#camera-demo');
    assert.equal(await page.locator('#camera-demo').count(), 1, 'the camera it points at');
    // The live view and the implicit pipeline the reconciler made for it say so too.
    for (const artifact of ['Live view:live-demo-camera-demo', 'Pipeline:implicit__tx-camera-demo-main-main']) {
      const entry = page.locator(`#generated li[data-artifact="${artifact}"]`);
      assert.match(await entry.textContent(), /Generated \((camera_source|stream_publication)\)/, artifact);
      assert.equal(await entry.getByRole('link').getAttribute('href'), '/settings#camera-demo', artifact);
    }
    await page.context().close();
  },
});


Object.assign(settings, {
  async 'LAN exposure and ICE servers are saved from the page; a line that is no ICE server is said to be left out'({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const form = page.locator('#network-form');
    await form.getByLabel('Expose the engine to the LAN').check();
    await form.getByLabel(/ICE servers/).fill('stun:stun.example.org:3478\nhttp://not-an-ice-server');
    await form.getByLabel(/Extra WebRTC hosts/).fill('192.168.1.10');
    await form.getByRole('button', { name: 'Save network settings' }).click();
    await until('saved', async () => (await form.locator('.saved').textContent()).startsWith('Saved.'));
    assert.match(await form.locator('.saved').textContent(), /left out: http:\/\/not-an-ice-server/);
    // The field shows what was stored.
    assert.equal(await form.getByLabel(/ICE servers/).inputValue(), 'stun:stun.example.org:3478');
    const { engine } = await service.call('GET', 'settings');
    assert.equal(engine.expose_to_lan, true);
    assert.deepEqual(engine.webrtc_ice_servers, ['stun:stun.example.org:3478']);
    assert.deepEqual(engine.webrtc_additional_hosts, ['192.168.1.10']);
    // Reloaded, the page shows the stored settings.
    await page.reload();
    await until('the stored settings', async () =>
      (await form.getByLabel(/ICE servers/).inputValue()) === 'stun:stun.example.org:3478');
    assert.equal(await form.getByLabel('Expose the engine to the LAN').isChecked(), true);
    await service.call('PATCH', 'settings', { engine: { expose_to_lan: false, webrtc_ice_servers: [],
      webrtc_additional_hosts: [] } });
    await page.context().close();
  },

  async 'a manual transmission is refused with the field named, then created, edited and deleted through the form'({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    page.on('dialog', (dialog) => dialog.accept());
    const before = await service.call('GET', 'transmissions');
    await page.getByRole('button', { name: 'Add transmission' }).click();
    const form = page.locator('#transmission-form');
    await form.getByLabel('Name', { exact: true }).fill('Driveway manual');
    await form.getByLabel('Path', { exact: true }).fill('driveway');
    const output = form.locator('fieldset.output').first();
    await output.getByLabel('Id', { exact: true }).fill('hls_low');
    await output.getByLabel('fps limit').fill('500');
    await output.getByLabel('Width').fill('640');
    await output.getByLabel('Height').fill('360');
    await output.getByLabel('Needs auth').check();
    await output.getByLabel('Auth username').fill('viewer1');
    await output.getByLabel('Auth password').fill('out-secret-1');
    await form.getByRole('button', { name: 'Save transmission' }).click();
    const fps = output.locator('.field', { has: page.getByLabel('fps limit') });
    await until('the refusal next to fps limit', async () =>
      (await fps.locator('.field-error').textContent()).includes('between 1 and 120'));
    assert.equal(await output.getByLabel('fps limit').getAttribute('aria-invalid'), 'true');
    assert.deepEqual(await service.call('GET', 'transmissions'), before, 'nothing saved');

    await output.getByLabel('fps limit').fill('10');
    await form.getByRole('button', { name: 'Save transmission' }).click();
    await until('saved', async () =>
      (await page.locator('#transmission-saved').textContent()) === 'Saved transmission Driveway manual.');
    const created = (await service.call('GET', 'transmissions')).find((t) => t.path === 'driveway');
    assert.equal(created.outputs[0].fps_limit, 10);
    assert.deepEqual(created.outputs[0].resolution, { width: 640, height: 360 });
    const item = page.locator(`#transmissions li[data-transmission="${created.id}"]`);
    await until('listed', async () => (await item.count()) === 1);

    // Edit: the password is not shown back, and a blank field keeps it.
    await item.getByRole('button', { name: /^Edit/ }).click();
    assert.equal(await output.getByLabel('Auth password').inputValue(), '');
    assert.match(await output.getByLabel('Auth password').getAttribute('placeholder'), /stored/);
    await output.getByLabel('fps limit').fill('12');
    await form.getByRole('button', { name: 'Save transmission' }).click();
    await until('saved again', () => form.isHidden());
    const edited = (await service.call('GET', 'transmissions?include_secrets=true'))
      .find((t) => t.id === created.id);
    assert.equal(edited.outputs[0].fps_limit, 12);
    assert.equal(edited.outputs[0].authentication.password, 'out-secret-1', 'kept by a blank field');
    assert.ok(!(await page.content()).includes('out-secret-1'), 'not in the DOM');

    await item.getByRole('button', { name: /^Delete/ }).click();
    await until('gone from the page', async () => (await item.count()) === 0);
    assert.deepEqual(await service.call('GET', 'transmissions'), before);
    await page.context().close();
  },

  async 'the wizard creates a motion-gated pipeline and shows the warnings the API returns'({ service, browser }) {
    const manual = await service.call('POST', 'transmissions', { name: 'Porch motion', path: 'porch-motion',
      outputs: [{ id: 'hls', protocol: 'hls' }] });
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const form = page.locator('#wizard-form');
    await form.getByLabel('Transmission').selectOption(manual.id);
    await form.getByLabel('Camera', { exact: true }).selectOption('demo');
    await form.getByLabel('Camera source').selectOption('main');
    await form.getByLabel('Preset').selectOption('motion_gate_stream');
    await form.getByLabel('Stream behaviour').selectOption('event_gated');
    await form.getByLabel(/Pipeline name/).fill('porch_motion');
    await form.getByRole('button', { name: 'Create pipeline' }).click();
    const result = form.locator('.wizard-result');
    await until('created', async () => (await result.textContent()).includes('Created the pipeline porch_motion'));
    const warnings = await result.getByRole('list', { name: 'Wizard warnings' }).locator('li').allTextContents();
    assert.ok(warnings.some((w) => w.includes('event-gated')), `warnings: ${warnings}`);
    assert.ok(warnings.some((w) => w.includes('engine is not running')), `warnings: ${warnings}`);
    // The runtime view lists the new pipeline against its transmission.
    const row = page.locator(`#pipelines tr[data-key="porch_motion:${manual.id}"]`);
    await until('the pipeline in the runtime view', async () => (await row.count()) === 1, 10);
    assert.match(await row.textContent(), /event_gated/);
    const made = page.locator('#generated li[data-artifact="Pipeline:porch_motion"]');
    await until('listed with the pipelines', async () => (await made.count()) === 1);
    // The same name again is the API's refusal, shown on the form.
    await form.getByRole('button', { name: 'Create pipeline' }).click();
    await until('refused', async () =>
      (await form.locator('.form-error').textContent()).includes('already exists'));
    await service.call('DELETE', `transmissions/${manual.id}`);
    await page.context().close();
  },
});

export const settingsWithEngine = {
  async "the runtime view shows each transmission's health and each output's publisher, PID and why it runs"({ service, browser }) {
    const key = 'tx-camera-demo-main-main:hls_quad_grid';
    await service.call('POST', 'transmissions/tx-camera-demo-main-main/demand/prime?output_id=hls_quad_grid');
    const running = await until('the publisher runs', async () => {
      const { outputs } = await service.call('GET', 'runtime/outputs');
      const output = outputs.find((o) => o.output_key === key);
      return output.publisher_state === 'running' && output.pid && output;
    }, 30);
    const page = await signedInPage(browser, service, '/settings', 'admin');
    const row = page.locator(`#outputs tr[data-key="${key}"]`);
    await until('the output row', async () => (await row.count()) === 1);
    const cells = await row.locator('th, td').allTextContents();
    assert.equal(cells[2], 'running', `cells: ${cells}`);
    assert.equal(cells[3], String(running.pid), `cells: ${cells}`);
    assert.match(cells[6], /primed/, `cells: ${cells}`);
    // The health row says what the API says (both settle while the publisher runs).
    const health = page.locator('#health tr[data-key="tx-camera-demo-main-main"]');
    await until('the health row agrees with /runtime/health', async () => {
      const { transmissions } = await service.call('GET', 'runtime/health');
      const expected = transmissions.find((t) => t.transmission_id === 'tx-camera-demo-main-main');
      const cells = await health.locator('th, td').allTextContents();
      return cells[1] === expected.status && cells[2] === expected.classification &&
        cells[6] === expected.summary_message && cells;
    }, 20);
    await page.context().close();
  },
};

Object.assign(settings, {
  async 'a processing server is added, refused as a duplicate, offered as a host, edited with its password kept, and deleted'({ service, browser }) {
    const page = await signedInPage(browser, service, '/settings', 'admin');
    page.on('dialog', (dialog) => dialog.accept());
    const secret = `server-pw-${Date.now()}`;
    const form = page.locator('#server-form');
    const add = async (id) => {
      await page.getByRole('button', { name: 'Add processing server' }).click();
      await form.getByLabel('Server id').fill(id);
      await form.getByLabel('Server name').fill('GPU box');
      await form.getByLabel('Server URL').fill('http://127.0.0.1:9');
      await form.getByLabel('Server username').fill('viewer');
      await form.getByLabel('Server password').fill(secret);
      await form.getByRole('button', { name: 'Save processing server' }).click();
    };
    await add('gpu');
    await until('saved', async () =>
      (await page.locator('#server-saved').textContent()) === 'Saved processing server GPU box.');
    const stored = await service.call('GET', 'settings?include_secrets=true');
    assert.deepEqual(stored.processing_servers.map((s) => [s.id, s.url, s.username, s.password]),
      [['gpu', 'http://127.0.0.1:9', 'viewer', secret]]);
    // The same id again: the API's refusal next to the id, nothing saved.
    await add('gpu');
    const idField = form.locator('.field', { has: page.getByLabel('Server id') });
    await until('refused next to the id', async () =>
      (await idField.locator('.field-error').textContent()).includes('Duplicate processing server id'));
    assert.equal((await service.call('GET', 'settings')).processing_servers.length, 1);
    await form.getByRole('button', { name: 'Cancel' }).click();
    // A manual transmission may run there.
    await page.getByRole('button', { name: 'Add transmission' }).click();
    const hosts = await page.locator('#transmission-form').getByLabel('Runs on').locator('option').allTextContents();
    assert.deepEqual(hosts, ['this server', 'GPU box (gpu)']);
    await page.locator('#transmission-form').getByRole('button', { name: 'Cancel' }).click();
    // Edit: the password is not shown back and a blank field keeps it.
    await page.getByRole('button', { name: 'Edit processing server gpu' }).click();
    assert.equal(await form.getByLabel('Server password').inputValue(), '');
    await form.getByLabel('Server name').fill('GPU box 2');
    await form.getByRole('button', { name: 'Save processing server' }).click();
    await until('saved again', async () =>
      (await page.locator('#server-saved').textContent()) === 'Saved processing server GPU box 2.');
    const edited = await service.call('GET', 'settings?include_secrets=true');
    assert.equal(edited.processing_servers[0].password, secret, 'kept by a blank field');
    assert.ok(!(await page.content()).includes(secret), 'not in the DOM');
    await page.getByRole('button', { name: 'Delete processing server gpu' }).click();
    await until('deleted', async () => (await service.call('GET', 'settings')).processing_servers.length === 0);
    await until('gone from the page', async () => (await page.locator('#servers li').count()) === 0);
    await page.context().close();
  },
});
