import * as api from './api';
import { playHls } from './players/hls';
import { playJsmpeg } from './players/jsmpeg';
import type { Player, PlayerEvents } from './players/types';

/** How long a transport may take to show its first frame before the next one is tried. */
const FIRST_FRAME_BOUND_MS: Record<string, number> = { jsmpeg: 8000, hls: 15000 };
/** Renew signed URLs this long before they expire. */
const RENEW_MARGIN_S = 30;
const NO_WRITER = 'Nenhum fluxo está alimentando esta transmissão.';

type Start = (container: HTMLElement, url: string, events: PlayerEvents) => Player;
const PLAYERS: Record<string, Start> = { hls: playHls, jsmpeg: playJsmpeg };

/** The `exp` of a signed media URL's token, in unix seconds. */
function expiresAt(url: string): number | undefined {
  const token = new URL(url, location.href).searchParams.get('media_token');
  try {
    const payload = token?.split('.')[0];
    if (!payload) return undefined;
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    return (JSON.parse(json) as { exp?: number }).exp;
  } catch {
    return undefined;
  }
}

/**
 * One live view in the grid, played as the spec's five steps: the live view's playback for the
 * context, its plan, demand for the chosen output (prime, then heartbeats while visible), the
 * first available transport, and monitoring that moves on to the next candidate.
 */
export class Tile {
  readonly element: HTMLElement;
  private readonly stage: HTMLElement;
  private readonly status: HTMLElement;
  private readonly transportLabel: HTMLElement;
  private readonly selector: HTMLSelectElement;
  private readonly sessionId = crypto.randomUUID();
  private variantId: string | undefined;
  private player: Player | undefined;
  private timers: number[] = [];
  private generation = 0;

  constructor(
    private readonly view: api.LiveView,
    private readonly context: () => string,
  ) {
    this.element = document.createElement('article');
    this.element.className = 'tile';
    this.element.tabIndex = 0;
    this.element.setAttribute('aria-label', view.name);
    this.stage = document.createElement('div');
    this.stage.className = 'stage';
    const overlay = document.createElement('div');
    overlay.className = 'overlay';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = view.name;
    this.selector = document.createElement('select');
    this.selector.setAttribute('aria-label', `Source of ${view.name}`);
    for (const variant of view.variants.filter((v) => v.enabled)) {
      this.selector.append(new Option(variant.label, variant.id));
    }
    this.selector.addEventListener('change', () => {
      this.variantId = this.selector.value;
      void this.start();
    });
    this.transportLabel = document.createElement('span');
    this.transportLabel.className = 'transport';
    this.status = document.createElement('span');
    this.status.className = 'status';
    this.status.setAttribute('role', 'status');
    const fullscreen = document.createElement('button');
    fullscreen.type = 'button';
    fullscreen.textContent = '⛶';
    fullscreen.setAttribute('aria-label', `Fullscreen ${view.name}`);
    fullscreen.addEventListener('click', () => void this.element.requestFullscreen?.());
    overlay.append(name, this.selector, this.transportLabel, this.status, fullscreen);
    this.element.append(this.stage, overlay);
  }

  /** Steps 1 to 4: playback for the context, the plan, demand, the first available transport. */
  async start(): Promise<void> {
    this.stop();
    const generation = ++this.generation;
    this.show('connecting', 'Connecting…');
    let playback: api.Playback;
    try {
      playback = await api.playback(this.view.id, this.context(), this.variantId);
    } catch (error) {
      this.show('offline', error instanceof Error ? error.message : String(error));
      return;
    }
    if (generation !== this.generation) return;
    this.selector.value = playback.variant.id;
    const plan = playback.playback_plan;
    const candidates = plan.transports
      .filter((c) => c.available && c.url && PLAYERS[c.transport])
      .sort((a, b) => a.rank - b.rank);
    if (candidates.length === 0) {
      this.show('offline', [...playback.blocking_errors, ...plan.blocking_errors][0] ?? 'No transport');
      return;
    }
    this.demand(plan, candidates[0].output_id, generation);
    this.tryFrom(candidates, 0, playback, generation);
  }

  /** Prime now, then heartbeat at the plan's interval while the page is visible. */
  private demand(plan: api.Plan, outputId: string | null, generation: number): void {
    const beat = () => {
      if (generation !== this.generation || document.hidden) return;
      api.heartbeat(plan.transmission_id, this.sessionId, outputId).catch(() => {});
    };
    api.prime(plan.transmission_id, outputId).catch(() => {});
    beat();
    const interval = Math.max(1, plan.heartbeat_interval_seconds) * 1000;
    this.timers.push(window.setInterval(beat, interval));
  }

  /** Step 5: plays a candidate and moves on to the next when it fails or shows nothing. */
  private tryFrom(
    candidates: api.Candidate[],
    index: number,
    playback: api.Playback,
    generation: number,
  ): void {
    const candidate = candidates[index];
    if (!candidate?.url) {
      const idle = playback.runtime_health?.fallback_reason === 'no_frame';
      this.show('offline', idle ? NO_WRITER : 'No transport played');
      return;
    }
    const transport = candidate.transport;
    const began = performance.now();
    const report = (event: api.PlaybackEvent) =>
      api.report(this.sessionId, playback.transmission_id, candidate.output_id, {
        ...event,
        data: { transport, ...event.data },
      });
    let settled = false;
    const next = (reason: string) => {
      if (settled || generation !== this.generation) return;
      settled = true;
      this.player?.stop();
      this.player = undefined;
      const following = candidates[index + 1];
      report({
        type: 'transport_fallback',
        severity: 'warn',
        message: reason,
        data: { from: transport, to: following?.transport ?? null },
      });
      this.tryFrom(candidates, index + 1, playback, generation);
    };
    this.transportLabel.textContent = transport.toUpperCase();
    this.element.dataset.transport = transport;
    this.show('connecting', `Starting ${transport.toUpperCase()}…`);
    const bound = window.setTimeout(
      () => next(`no first frame within ${FIRST_FRAME_BOUND_MS[transport] / 1000} s`),
      FIRST_FRAME_BOUND_MS[transport],
    );
    this.timers.push(bound);
    this.player = PLAYERS[transport](this.stage, candidate.url, {
      firstFrame: () => {
        if (generation !== this.generation) return;
        window.clearTimeout(bound);
        settled = true;
        this.show('live', 'Live');
        report({
          type: 'first_frame',
          data: { time_to_first_frame_ms: Math.round(performance.now() - began) },
        });
      },
      failed: (reason) => {
        report({ type: 'player_error', severity: 'error', message: reason });
        if (!settled) next(reason);
        else this.show('offline', reason);
      },
      stalled: () => {
        if (settled) this.show('stale', 'Stalled');
      },
    });
    // HLS fetches with its signed URL all along: fetch a fresh plan shortly before it expires
    // (the player restarts on it). A socket, once open, needs no renewal.
    const expiry = transport === 'hls' ? expiresAt(candidate.url) : undefined;
    if (expiry) {
      const renewIn = Math.max(5, expiry - Date.now() / 1000 - RENEW_MARGIN_S) * 1000;
      this.timers.push(window.setTimeout(() => void this.start(), renewIn));
    }
  }

  private show(state: string, text: string): void {
    this.element.dataset.state = state;
    this.status.textContent = text;
  }

  stop(): void {
    this.generation++;
    // Timeouts and intervals share one list of timers: clearTimeout ends either.
    for (const timer of this.timers) window.clearTimeout(timer);
    this.timers = [];
    this.player?.stop();
    this.player = undefined;
  }
}
