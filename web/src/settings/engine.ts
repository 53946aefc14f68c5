// The Settings page's engine section: MediaMTX's and the go2rtc sidecar's status, refreshed
// while the page is visible, their start / stop / restart / download actions, and the network
// settings (LAN exposure, ICE servers).
import * as api from '../api';
import { clearErrors, showErrors } from './form';
import { showServers } from './servers';

type Status = Record<string, unknown>;

const engineStatus = document.querySelector<HTMLElement>('#engine-status')!;
const sidecarStatus = document.querySelector<HTMLElement>('#sidecar-status')!;
const message = document.querySelector<HTMLElement>('#engine-message')!;

function ports(status: Status): string {
  const actual = (status.ports ?? {}) as Record<string, number>;
  const preferred = (status.preferred_ports ?? {}) as Record<string, number>;
  return Object.entries(actual)
    .map(([name, port]) =>
      preferred[name] !== undefined && preferred[name] !== port
        ? `${name} ${port} (preferred ${preferred[name]})`
        : `${name} ${port}`,
    )
    .join(', ');
}

function download(status: Status): string {
  const progress = status.download as { active?: boolean; bytes?: number; total?: number | null };
  if (!progress?.active) return 'idle';
  const total = progress.total ? ` of ${Math.round(progress.total / 1e6)} MB` : '';
  return `${Math.round((progress.bytes ?? 0) / 1e6)} MB${total}`;
}

function show(list: HTMLElement, rows: [string, string][]): void {
  list.replaceChildren(
    ...rows.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.field = term;
      return [dt, dd];
    }),
  );
}

const warnings = (status: Status) =>
  ((status.warnings as string[] | undefined) ?? []).join(' ') || 'none';
const state = (status: Status) =>
  status.running ? (status.ready === false ? 'starting' : 'running') : 'stopped';

export async function refreshEngine(): Promise<void> {
  const [engine, sidecar] = await Promise.all([
    api.call<Status>('GET', 'engine/status'),
    api.call<Status>('GET', 'mse/status'),
  ]);
  show(engineStatus, [
    ['State', state(engine)],
    ['Enabled', engine.enabled ? 'yes' : 'no'],
    ['PID', String(engine.pid ?? '—')],
    ['Version', String(engine.mediamtx_version ?? '—')],
    ['Ports', ports(engine) || '—'],
    ['Restarts', String(engine.restart_count ?? 0)],
    ['Last error', String(engine.last_error ?? 'none')],
    ['Warnings', warnings(engine)],
    ['Download', download(engine)],
  ]);
  show(sidecarStatus, [
    ['State', state(sidecar)],
    ['Enabled', sidecar.enabled ? 'yes' : 'no'],
    ['PID', String(sidecar.pid ?? '—')],
    ['Version', String(sidecar.go2rtc_version ?? '—')],
    ['MSE sessions', String(sidecar.mse_sessions ?? 0)],
    ['Last error', String(sidecar.last_error ?? 'none')],
    ['Warnings', warnings(sidecar)],
    ['Download', download(sidecar)],
  ]);
}

/** Runs one action; the buttons stay disabled until the service answers. */
async function act(path: string, label: string, buttons: HTMLButtonElement[]): Promise<void> {
  for (const button of buttons) button.disabled = true;
  message.textContent = `${label}…`;
  try {
    await api.call('POST', path);
    message.textContent = `${label}: done.`;
  } catch (error) {
    message.textContent = `${label} failed: ${api.messageOf(error)}`;
  } finally {
    for (const button of buttons) button.disabled = false;
    await refreshEngine().catch(() => {});
  }
}

export function wireEngine(): void {
  for (const [attribute, base] of [
    ['engine', 'engine'],
    ['sidecar', 'mse'],
  ] as const) {
    const buttons = [...document.querySelectorAll<HTMLButtonElement>(`[data-${attribute}]`)];
    for (const button of buttons) {
      const action = button.dataset[attribute]!;
      button.addEventListener('click', () =>
        void act(`${base}/${action}`, button.textContent ?? action, buttons),
      );
    }
  }
}

interface NetworkSettings {
  expose_to_lan: boolean;
  webrtc_ice_servers: string[];
  webrtc_additional_hosts: string[];
}

const networkForm = document.querySelector<HTMLFormElement>('#network-form')!;
const lines = (name: string) =>
  networkForm
    .querySelector<HTMLTextAreaElement>(`[name="${name}"]`)!
    .value.split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');

function showNetwork(engine: NetworkSettings): void {
  networkForm.querySelector<HTMLInputElement>('[name="expose_to_lan"]')!.checked =
    engine.expose_to_lan;
  for (const name of ['webrtc_ice_servers', 'webrtc_additional_hosts'] as const) {
    networkForm.querySelector<HTMLTextAreaElement>(`[name="${name}"]`)!.value =
      engine[name].join('\n');
  }
}

/** Saves LAN exposure and the WebRTC hosts; the engine restarts itself when they change its config. */
async function saveNetwork(): Promise<void> {
  const status = networkForm.querySelector<HTMLElement>('.saved')!;
  status.textContent = '';
  const wanted: NetworkSettings = {
    expose_to_lan: networkForm.querySelector<HTMLInputElement>('[name="expose_to_lan"]')!.checked,
    webrtc_ice_servers: lines('webrtc_ice_servers'),
    webrtc_additional_hosts: lines('webrtc_additional_hosts'),
  };
  let saved: { engine: NetworkSettings };
  try {
    saved = await api.call('PATCH', 'settings', { engine: wanted });
  } catch (error) {
    showErrors(networkForm, error, 'body.engine.');
    return;
  }
  clearErrors(networkForm);
  showNetwork(saved.engine);
  // The API keeps only what a browser can use as an ICE server; say what it left out.
  const kept = new Set(saved.engine.webrtc_ice_servers.map((url) => url.toLowerCase()));
  const ignored = wanted.webrtc_ice_servers.filter((url) => !kept.has(url.toLowerCase()));
  status.textContent = ignored.length
    ? `Saved. Not ICE servers (they need stun:, turn: or turns:), so left out: ${ignored.join(', ')}.`
    : 'Saved.';
  await refreshEngine().catch(() => {});
}

/** The network form and the processing servers, from one read of the settings. */
export async function loadNetwork(): Promise<void> {
  const settings = await api.call<{
    engine: NetworkSettings;
    processing_servers: Parameters<typeof showServers>[0];
  }>('GET', 'settings');
  showNetwork(settings.engine);
  showServers(settings.processing_servers);
  networkForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void saveNetwork();
  });
}
