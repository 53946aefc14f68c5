// The transport debug page: one live view, one variant, one fixed transport, never a fallback;
// every step in a log a user can copy into a bug report (signed tokens left out).
import * as api from './api';
import { holdDemand } from './demand';
import { PLAYERS, unplayable } from './players';
import { withoutQuery } from './players/types';
import './style.css';

const form = document.querySelector<HTMLFormElement>('#choice')!;
const viewSelect = form.elements.namedItem('live_view_id') as HTMLSelectElement;
const variantSelect = form.elements.namedItem('variant_id') as HTMLSelectElement;
const transportSelect = form.elements.namedItem('transport') as HTMLSelectElement;
const stage = document.querySelector<HTMLElement>('#stage .stage')!;
const logList = document.querySelector<HTMLOListElement>('#log')!;
const outcome = document.querySelector<HTMLElement>('#outcome')!;
const copyButton = document.querySelector<HTMLButtonElement>('#copy')!;

const params = new URLSearchParams(location.search);
const sessionId = crypto.randomUUID();

/** One step of the log, timed from when the page was opened (performance's time origin). */
function log(message: string): void {
  const line = document.createElement('li');
  line.textContent = `+${Math.round(performance.now())} ms  ${message}`;
  if (message.startsWith('error')) line.className = 'error';
  logList.append(line);
}

function settle(state: 'connecting' | 'live' | 'failed', text: string): void {
  document.body.dataset.state = state;
  outcome.textContent = text;
}

copyButton.addEventListener('click', () => {
  const text = [`${location.pathname}${location.search}`, navigator.userAgent]
    .concat([...logList.children].map((line) => line.textContent ?? ''))
    .join('\n');
  navigator.clipboard.writeText(text).then(
    () => (copyButton.textContent = 'Copied'),
    () => (copyButton.textContent = 'Copy failed: select the log instead'),
  );
});

function fillViews(views: api.LiveView[], chosen: api.LiveView | undefined): void {
  viewSelect.replaceChildren(...views.map((view) => new Option(view.name, view.id)));
  if (chosen) viewSelect.value = chosen.id;
  const fillVariants = () => {
    const view = views.find((v) => v.id === viewSelect.value);
    variantSelect.replaceChildren(
      new Option('Default for the context', ''),
      ...(view?.variants ?? []).filter((v) => v.enabled).map((v) => new Option(v.label, v.id)),
    );
  };
  fillVariants();
  viewSelect.addEventListener('change', fillVariants);
  variantSelect.value = params.get('variant_id') ?? '';
  transportSelect.value = params.get('transport') ?? 'mse';
}

async function main(): Promise<void> {
  await api.signIn();
  const views = await api.liveViews();
  const chosen = views.find((v) => v.id === params.get('live_view_id')) ?? views[0];
  fillViews(views, chosen);
  const transport = params.get('transport') ?? '';
  if (!chosen || !params.get('transport')) {
    settle('connecting', chosen ? 'Choose a transport and play.' : 'No live view to play.');
    return;
  }
  if (!PLAYERS[transport]) throw new Error(`unknown transport "${transport}"`);
  const context = params.get('context') ?? (transport === 'webrtc' ? 'ptz' : 'large');
  settle('connecting', `Starting ${transport.toUpperCase()}…`);
  log(`live view ${chosen.id}, context ${context}, transport ${transport}`);
  const playback = await api.playback(
    chosen.id,
    context,
    params.get('variant_id') || undefined,
    transport === 'webrtc',
  );
  const plan = playback.playback_plan;
  log(
    `variant "${playback.variant.label}" (${playback.variant.id}), transmission ` +
      `${plan.transmission_id}; the plan selects ${plan.selected_transport ?? 'nothing'}`,
  );
  for (const warning of [...playback.warnings, ...plan.warnings]) log(`warning: ${warning}`);
  const candidate = plan.transports.find((c) => c.transport === transport);
  const refusal = candidate ? unplayable(candidate) : 'the plan has no such candidate';
  if (!candidate?.url || refusal) {
    const reasons = candidate
      ? [...new Set([refusal, ...candidate.blocking_errors])].join('; ')
      : refusal;
    throw new Error(`${transport} is not available: ${reasons}`);
  }
  log(`output ${candidate.output_id}, ${withoutQuery(candidate.url)}`);
  holdDemand(plan, candidate.output_id, sessionId, log);
  const report = (event: api.PlaybackEvent) =>
    api.report(sessionId, plan.transmission_id, candidate.output_id, {
      ...event,
      data: { transport, page: 'debug', ...event.data },
    });
  const started = performance.now();
  const { start, firstFrameBoundMs } = PLAYERS[transport];
  // No fallback here: a missing first frame is reported, and the player keeps trying.
  const bound = window.setTimeout(
    () => log(`error: no first frame within ${firstFrameBoundMs / 1000} s (still waiting)`),
    firstFrameBoundMs,
  );
  start(stage, candidate.url, {
    step: log,
    firstFrame: () => {
      window.clearTimeout(bound);
      const ms = Math.round(performance.now() - started);
      log(`first frame after ${ms} ms`);
      // Time to first frame as the user saw it, from opening the page (read by the benchmark).
      document.body.dataset.firstFrameMs = String(Math.round(performance.now()));
      settle('live', `${transport.toUpperCase()} live`);
      report({ type: 'first_frame', data: { time_to_first_frame_ms: ms } });
    },
    failed: (reason) => {
      window.clearTimeout(bound);
      settle('failed', `${transport.toUpperCase()} failed: ${reason}`);
      report({ type: 'player_error', severity: 'error', message: reason });
    },
    stalled: () => log('stalled'),
    resumed: () => log('resumed'),
  });
}

main().catch((error: unknown) => {
  const reason = api.messageOf(error);
  log(`error: ${reason}`);
  settle('failed', reason);
});
