import * as api from './api';
import { Tile } from './tile';
import './style.css';

const OVERLAY_HIDE_MS = 3000;

const grid = document.querySelector<HTMLElement>('#grid')!;
const pageLabel = document.querySelector<HTMLElement>('#page')!;
const previous = document.querySelector<HTMLButtonElement>('#previous')!;
const following = document.querySelector<HTMLButtonElement>('#next')!;
const layoutButtons = document.querySelectorAll<HTMLButtonElement>('[data-layout]');
const message = document.querySelector<HTMLElement>('#message')!;

const params = new URLSearchParams(location.search);
let layout = params.get('layout') === '1x1' ? 1 : 4;
/** `?transport=hls` (or mse, webrtc, jsmpeg) tries that transport first; the others still follow. */
const preferredTransport = params.get('transport') ?? undefined;
let page = 0;
let views: api.LiveView[] = [];
let tiles: Tile[] = [];

/** 1x1 shows the main picture, 2x2 the light one (the live view's defaults decide which). */
const context = () => (layout === 1 ? 'fullscreen' : 'thumbnail');

function render(): void {
  for (const tile of tiles) tile.stop();
  const pages = Math.max(1, Math.ceil(views.length / layout));
  page = Math.min(page, pages - 1);
  grid.dataset.layout = layout === 1 ? '1x1' : '2x2';
  tiles = views.slice(page * layout, page * layout + layout).map((view) => new Tile(view, context, preferredTransport));
  grid.replaceChildren(...tiles.map((tile) => tile.element));
  pageLabel.textContent = `Page ${page + 1} of ${pages}`;
  previous.disabled = page === 0;
  following.disabled = page >= pages - 1;
  for (const button of layoutButtons) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.layout) === layout));
  }
  if (!document.hidden) for (const tile of tiles) void tile.start();
}

for (const button of layoutButtons) {
  button.addEventListener('click', () => {
    layout = Number(button.dataset.layout);
    render();
  });
}
previous.addEventListener('click', () => {
  page--;
  render();
});
following.addEventListener('click', () => {
  page++;
  render();
});

// Hidden page: no heartbeats, no players; the outputs' encoders stop after their leases.
document.addEventListener('visibilitychange', () => {
  for (const tile of tiles) {
    if (document.hidden) tile.stop();
    else void tile.start();
  }
});
window.addEventListener('pagehide', () => {
  for (const tile of tiles) tile.stop();
});

// The overlays hide after a few seconds without the pointer moving.
let idle: number | undefined;
function wake(): void {
  document.body.classList.remove('idle');
  window.clearTimeout(idle);
  idle = window.setTimeout(() => document.body.classList.add('idle'), OVERLAY_HIDE_MS);
}
for (const type of ['pointermove', 'keydown', 'focusin']) document.addEventListener(type, wake);
wake();

async function main(): Promise<void> {
  await api.signIn();
  views = (await api.liveViews()).filter((view) => view.enabled);
  message.textContent = views.length === 0 ? 'No camera publishes a live view yet.' : '';
  render();
}

main().catch((error: unknown) => {
  message.textContent = error instanceof Error ? error.message : String(error);
});
