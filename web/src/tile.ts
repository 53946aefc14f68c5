import * as api from './api';
import { expiresAt, holdDemand } from './demand';
import { PLAYERS, unplayable } from './players';
import type { Player } from './players/types';

/** Renew signed URLs this long before they expire. */
const RENEW_MARGIN_S = 30;
/** A stall this long counts as a failure: the next transport is tried. */
const STALL_BOUND_MS = 10000;
/** After every transport failed, the tile starts over this much later. */
const RETRY_MS = 10000;
export const NO_WRITER = 'Nenhum fluxo está alimentando esta transmissão.';

/** The plan's playable candidates in rank order, the preferred transport (if any) first. */
function ordered(plan: api.Plan, preferred: string | undefined): api.Candidate[] {
  const playable = plan.transports.filter((c) => !unplayable(c)).sort((a, b) => a.rank - b.rank);
  const first = playable.filter((c) => c.transport === preferred);
  return [...first, ...playable.filter((c) => c.transport !== preferred)];
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
  private releaseDemand: (() => void) | undefined;
  private demandedOutput: string | null = null;
  private generation = 0;

  constructor(
    private readonly view: api.LiveView,
    private readonly context: () => string,
    private readonly preferredTransport?: string,
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
      if (generation !== this.generation) return;
      this.show('offline', api.messageOf(error));
      this.retryLater(generation);
      return;
    }
    if (generation !== this.generation) return;
    this.selector.value = playback.variant.id;
    // Non-blocking warnings stay out of the status line: a tooltip, never an error.
    this.status.title = [...playback.warnings, ...playback.playback_plan.warnings].join('\n');
    const plan = playback.playback_plan;
    const candidates = ordered(plan, this.preferredTransport);
    if (candidates.length === 0) {
      const blocking = [...playback.blocking_errors, ...plan.blocking_errors][0];
      this.show('offline', blocking ?? 'No transport');
      this.retryLater(generation);
      return;
    }
    this.tryFrom(candidates, 0, playback, generation);
  }

  /** Step 5: plays a candidate and moves on to the next when it fails, stalls or shows nothing. */
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
      this.retryLater(generation);
      return;
    }
    this.demand(playback.playback_plan, candidate.output_id);
    const transport = candidate.transport;
    const { start, firstFrameBoundMs } = PLAYERS[transport];
    const began = performance.now();
    const report = (event: api.PlaybackEvent) =>
      api.report(this.sessionId, playback.transmission_id, candidate.output_id, {
        ...event,
        data: { transport, ...event.data },
      });
    let done = false;
    let live = false;
    let stall: number | undefined;
    const next = (reason: string) => {
      if (done || generation !== this.generation) return;
      done = true;
      window.clearTimeout(bound);
      window.clearTimeout(stall);
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
      () => next(`no first frame within ${firstFrameBoundMs / 1000} s`),
      firstFrameBoundMs,
    );
    this.timers.push(bound);
    this.player = start(this.stage, candidate.url, {
      firstFrame: () => {
        if (done || generation !== this.generation) return;
        window.clearTimeout(bound);
        live = true;
        this.show('live', 'Live');
        report({
          type: 'first_frame',
          data: { time_to_first_frame_ms: Math.round(performance.now() - began) },
        });
      },
      failed: (reason) => {
        if (done || generation !== this.generation) return;
        report({ type: 'player_error', severity: 'error', message: reason });
        next(reason);
      },
      stalled: () => {
        if (!live || done || stall !== undefined) return;
        this.show('stale', 'Stalled');
        report({ type: 'stall', severity: 'warn' });
        stall = window.setTimeout(
          () => next(`stalled for ${STALL_BOUND_MS / 1000} s`),
          STALL_BOUND_MS,
        );
        this.timers.push(stall);
      },
      resumed: () => {
        if (stall === undefined || done) return;
        window.clearTimeout(stall);
        stall = undefined;
        this.show('live', 'Live');
      },
      step: () => {},
    });
    // HLS fetches with its signed URL all along: fetch a fresh plan shortly before it expires
    // (the player restarts on it). A socket or a peer connection, once open, needs no renewal.
    const expiry = transport === 'hls' ? expiresAt(candidate.url) : undefined;
    if (expiry) {
      const renewIn = Math.max(5, expiry - Date.now() / 1000 - RENEW_MARGIN_S) * 1000;
      this.timers.push(window.setTimeout(() => void this.start(), renewIn));
    }
  }

  /** Demand follows the output being played (candidates may play different outputs). */
  private demand(plan: api.Plan, outputId: string | null): void {
    if (this.releaseDemand && this.demandedOutput === outputId) return;
    this.releaseDemand?.();
    this.demandedOutput = outputId;
    this.releaseDemand = holdDemand(plan, outputId, this.sessionId);
  }

  private retryLater(generation: number): void {
    if (generation !== this.generation) return;
    this.timers.push(window.setTimeout(() => void this.start(), RETRY_MS));
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
    this.releaseDemand?.();
    this.releaseDemand = undefined;
    this.player?.stop();
    this.player = undefined;
  }
}
