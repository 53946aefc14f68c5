// What the browser tests and the time-to-first-frame benchmark share: the release service with
// the demo camera, Debian's Chromium, sign-in, polling with a deadline, and reading pixels back.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { request as httpRequest, createServer as createHttpServer } from 'node:http';
import { connect, createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const BINARY = new URL('../../target/release/toposync-streaming', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const DEMO_VIEW = 'live-demo-camera-demo';
// A signal ends the run through process.exit, so each service's 'exit' guard stops it.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(1));

export async function until(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: not within ${seconds} s (last: ${JSON.stringify(last)})`);
}

/** A TCP port nobody uses now (for the RTSP test camera). */
function freeTcpPort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The real RTSP test camera (tests/cameras/rtsp_test_camera.py: GStreamer, a moving ball) at
 * `url`; `stop()` takes it offline.
 */
export async function startCamera(size = '640x360') {
  const port = await freeTcpPort();
  const script = new URL('../../tests/cameras/rtsp_test_camera.py', import.meta.url).pathname;
  const child = spawn('/usr/bin/python3', [script, String(port), size, '10'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const guard = () => child.kill('SIGTERM');
  process.once('exit', guard);
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => String(chunk).includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`the RTSP test camera exited (${code})`)));
  });
  return {
    url: `rtsp://127.0.0.1:${port}/cam`,
    stop() {
      process.off('exit', guard);
      child.kill('SIGTERM');
    },
  };
}

/** A UDP port nobody uses now (for the engine's WebRTC ICE on loopback). */
function freeUdpPort() {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/**
 * The release service serving the demo camera with fresh tokens. `engine`: run the real MediaMTX
 * (TOPOSYNC_STREAMING_ENGINE_PATH) with WebRTC on the main variant; `go2rtc`: 'real' (the
 * TOPOSYNC_STREAMING_GO2RTC_PATH binary) or 'missing' (a path with nothing there).
 */
export async function startService({ engine = false, go2rtc = 'real' } = {}) {
  const data = mkdtempSync(join(tmpdir(), 'toposync-browser-'));
  const viewer = randomBytes(16).toString('hex');
  const admin = randomBytes(16).toString('hex');
  const env = { ...process.env, TOPOSYNC_ADMIN_TOKEN: admin, TOPOSYNC_VIEWER_TOKEN: viewer,
    TOPOSYNC_LOG: 'warn' };
  if (engine) {
    env.TOPOSYNC_STREAMING_WEBRTC_LOCAL_UDP_ADDRESS = `127.0.0.1:${await freeUdpPort()}`;
    if (go2rtc === 'missing') env.TOPOSYNC_STREAMING_GO2RTC_PATH = join(data, 'no-go2rtc-here');
  } else {
    delete env.TOPOSYNC_STREAMING_ENGINE_PATH;
    delete env.TOPOSYNC_STREAMING_GO2RTC_PATH;
  }
  const child = spawn(BINARY, ['serve', '--demo', '--port', '0', '--data-dir', data], {
    env, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  // A test run that dies (a timeout's SIGTERM, an uncaught error) leaves no service behind.
  const orphanGuard = () => child.kill('SIGTERM');
  process.once('exit', orphanGuard);
  const root = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) resolve(found[1]);
    });
    child.on('exit', (code) => reject(new Error(`the service exited (${code})`)));
  });
  const call = async (method, path, body) => {
    // A path from the root (`/api/cameras`) as it is; any other under `/api/streams/`.
    const response = await fetch(path.startsWith('/') ? `${root}${path}` : `${root}/api/streams/${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const service = {
    root, viewer, admin, call,
    async stop() {
      process.off('exit', orphanGuard);
      child.kill('SIGTERM');
      await exited;
      rmSync(data, { recursive: true, force: true });
    },
  };
  if (engine) {
    await call('PUT', 'publications/camera-sources/demo/main', {
      id: 'camera:demo:main', camera_id: 'demo', camera_source_id: 'main', role: 'main',
      label: 'Principal', live_view_id: DEMO_VIEW, transport_policy: { enable_webrtc: true },
    });
    await call('POST', 'engine/start');
    await until('the engine is ready', async () => (await call('GET', 'engine/status')).ready);
  }
  return service;
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--autoplay-policy=no-user-gesture-required'],
  });
}

/** A new browser context signed in (as the viewer unless told) through the page's own form. */
export async function signedInPage(browser, service, path = '/', role = 'viewer') {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${service.root}${path}`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name=password]', role === 'admin' ? service.admin : service.viewer);
  await page.selectOption('select[name=username]', role);
  await page.click('button[type=submit]');
  await page.waitForURL(`${service.root}${path}`);
  return page;
}

/**
 * Reads a `<video>` or `<canvas>` back: its size, how many distinct colours a 64x36 copy has, and
 * a digest that changes with the picture (null while it has no picture).
 */
export function sample(page, selector) {
  return page.evaluate((css) => {
    const picture = document.querySelector(css);
    const width = picture?.videoWidth ?? picture?.width;
    const height = picture?.videoHeight ?? picture?.height;
    if (!width || !height) return null;
    const copy = document.createElement('canvas');
    copy.width = 64;
    copy.height = 36;
    const context = copy.getContext('2d');
    context.drawImage(picture, 0, 0, 64, 36);
    const pixels = context.getImageData(0, 0, 64, 36).data;
    const colours = new Set();
    let digest = 0;
    for (let p = 0; p < pixels.length; p += 4) {
      colours.add((pixels[p] >> 4) * 256 + (pixels[p + 1] >> 4) * 16 + (pixels[p + 2] >> 4));
      digest = (digest * 31 + pixels[p] + pixels[p + 1] + pixels[p + 2]) >>> 0;
    }
    return { width, height, colours: colours.size, digest };
  }, selector);
}

/** Waits for a moving test pattern (many colours, a picture that changes) in `selector`. */
export async function seesMovingPicture(page, selector, seconds = 30) {
  const first = await until(`a picture with many colours in ${selector}`, async () => {
    const seen = await sample(page, selector);
    return seen && seen.colours > 20 ? seen : null;
  }, seconds);
  await until(`the picture in ${selector} changes`, async () => {
    const seen = await sample(page, selector);
    return seen && seen.digest !== first.digest;
  }, seconds);
  return first;
}

/**
 * A reverse proxy in front of `service` that serves it under `prefix`, as Home Assistant ingress
 * does: it strips the prefix, says it in `X-Ingress-Path`, and relays WebSockets. `outside` lists
 * every request that missed the prefix (a page URL that ignored its base).
 */
export async function startPrefixProxy(service, prefix) {
  const upstream = new URL(service.root);
  const outside = [];
  const relayed = new Set();
  const inner = (url) => (url === prefix ? '/' : url.slice(prefix.length));
  const under = (url) => url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`);
  // As Home Assistant's ingress proxy: the upstream's Host, the browser's in X-Forwarded-Host.
  const headersFor = (req) => ({ ...req.headers, host: upstream.host, 'x-ingress-path': prefix,
    'x-forwarded-host': req.headers.host, 'x-forwarded-proto': 'http' });
  const server = createHttpServer((req, res) => {
    if (!under(req.url)) {
      outside.push(req.url);
      res.writeHead(404).end();
      return;
    }
    const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method,
      path: inner(req.url), headers: headersFor(req) }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  server.on('upgrade', (req, socket, head) => {
    if (!under(req.url)) {
      outside.push(req.url);
      socket.destroy();
      return;
    }
    const target = connect(Number(upstream.port), upstream.hostname, () => {
      const lines = Object.entries(headersFor(req)).map(([name, value]) => `${name}: ${value}`);
      target.write(`${req.method} ${inner(req.url)} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
      target.write(head);
      target.pipe(socket);
      socket.pipe(target);
    });
    relayed.add(target).add(socket);
    const close = () => { target.destroy(); socket.destroy(); };
    target.on('error', close);
    socket.on('error', close);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    ...service,
    root: `http://127.0.0.1:${server.address().port}${prefix}`,
    outside,
    stop: () => new Promise((resolve) => {
      for (const socket of relayed) socket.destroy();
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}
