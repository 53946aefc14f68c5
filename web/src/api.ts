// The service's API as the pages use it: the session cookie rides along (same origin), and
// every change carries the session's CSRF token. No credential is ever stored by the page.
// Every URL is relative to the page's <base> (the server writes it: `/`, or a reverse proxy's
// or Home Assistant ingress's prefix), so the pages work under any prefix.

const API = 'api/streams';

let csrfToken: string | undefined;

/** One refused field of a 4xx answer: where (`loc`, e.g. `body.sources.0.origin.rtsp_url`) and why. */
export interface FieldError {
  loc: string;
  msg: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

/** What went wrong, as one line for a person. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fieldsOf(body: unknown): FieldError[] {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (!Array.isArray(detail)) return [];
  return detail.map((e: { loc?: unknown[]; msg?: string }) => ({
    loc: (e.loc ?? []).join('.'),
    msg: e.msg ?? '',
  }));
}

/** The `detail` of an error answer as one line: a message, or the fields it names. */
function detailOf(body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return fieldsOf(body).map((f) => `${f.loc}: ${f.msg}`).join('; ');
  return 'unexpected answer';
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  // A path from the service's root (`/api/cameras`) is taken from the page's base instead.
  const response = await fetch(path.startsWith('/') ? path.slice(1) : `${API}/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, detailOf(parsed), fieldsOf(parsed));
  return parsed as T;
}

/** Signs the page in: with no session, off to the sign-in form, which returns here. */
export async function signIn(): Promise<{ role: string }> {
  try {
    const session = await call<{ role: string; csrf_token?: string }>('GET', 'auth/session');
    csrfToken = session.csrf_token;
    return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      location.assign(`login?next=${encodeURIComponent(location.pathname + location.search)}`);
      await new Promise(() => {}); // The page is leaving.
    }
    throw error;
  }
}

export interface Variant {
  id: string;
  label: string;
  role: string;
  transmission_id: string;
  output_id: string | null;
  enabled: boolean;
}

export interface LiveView {
  id: string;
  name: string;
  enabled: boolean;
  camera_id: string | null;
  variants: Variant[];
}

export interface Candidate {
  transport: string;
  protocol: string;
  available: boolean;
  url: string | null;
  media_auth_type: string;
  output_id: string | null;
  rank: number;
  warnings: string[];
  blocking_errors: string[];
  resolution: { width: number; height: number } | null;
  requires_auth: boolean;
}

export interface Plan {
  transmission_id: string;
  selected_transport: string | null;
  heartbeat_interval_seconds: number;
  lease_seconds: number;
  transports: Candidate[];
  warnings: string[];
  blocking_errors: string[];
  media_url_expires_at_unix?: number | null;
}

export interface Playback {
  live_view_id: string;
  camera_name: string | null;
  variant: Variant;
  transmission_id: string;
  runtime_health: { status: string; fallback_reason: string | null } | null;
  playback_plan: Plan;
  warnings: string[];
  blocking_errors: string[];
}

export const liveViews = () => call<LiveView[]>('GET', 'camera-live-views');

export function playback(
  liveViewId: string,
  context: string,
  variantId?: string,
  lowLatency = false,
) {
  const query = new URLSearchParams({ client: 'web', context });
  if (variantId) query.set('variant_id', variantId);
  if (lowLatency) query.set('low_latency', 'true');
  return call<Playback>(
    'GET',
    `camera-live-views/${encodeURIComponent(liveViewId)}/playback?${query}`,
  );
}

export function prime(transmissionId: string, outputId: string | null) {
  const query = outputId ? `?output_id=${encodeURIComponent(outputId)}` : '';
  return call('POST', `transmissions/${encodeURIComponent(transmissionId)}/demand/prime${query}`);
}

export function heartbeat(transmissionId: string, sessionId: string, outputId: string | null) {
  return call('POST', `transmissions/${encodeURIComponent(transmissionId)}/demand/heartbeat`, {
    playback_session_id: sessionId,
    client: 'web',
    output_id: outputId,
  });
}

export interface PlaybackEvent {
  type: string;
  severity?: 'debug' | 'info' | 'warn' | 'error';
  message?: string;
  data?: Record<string, unknown>;
}

/** The browser family, as the events' `platform` (the order matters: Chrome's agent names Safari). */
function browserName(): string {
  const agent = navigator.userAgent;
  if (agent.includes('Firefox/')) return 'firefox';
  if (agent.includes('Chrome/') || agent.includes('Chromium/')) return 'chromium';
  if (agent.includes('Safari/')) return 'safari';
  return 'other';
}

/** Reports what the player saw; a lost report must never break playback. */
export function report(
  sessionId: string,
  transmissionId: string,
  outputId: string | null,
  event: PlaybackEvent,
): void {
  call('POST', 'runtime/playback-events', {
    playback_session_id: sessionId,
    transmission_id: transmissionId,
    output_id: outputId,
    client_kind: 'web',
    platform: browserName(),
    events: [{ ...event, at_unix: Date.now() / 1000 }],
  }).catch(() => {});
}
