import * as api from './api';

/**
 * Demand for the output a player watches (spec step 3): a prime now, then a heartbeat at the
 * plan's interval while the page is visible. A hidden page sends none, so the output's encoder
 * stops once the last lease runs out. Returns what stops it.
 */
export function holdDemand(
  plan: api.Plan,
  outputId: string | null,
  sessionId: string,
  log: (message: string) => void = () => {},
): () => void {
  const beat = () => {
    if (document.hidden) return;
    api
      .heartbeat(plan.transmission_id, sessionId, outputId)
      .catch((error: unknown) => log(`heartbeat failed: ${api.messageOf(error)}`));
  };
  api
    .prime(plan.transmission_id, outputId)
    .then(() => log(`primed ${outputId ?? 'every output'}`))
    .catch((error: unknown) => log(`prime failed: ${api.messageOf(error)}`));
  beat();
  const interval = Math.max(1, plan.heartbeat_interval_seconds) * 1000;
  log(`heartbeat every ${interval / 1000} s while visible`);
  const timer = window.setInterval(beat, interval);
  return () => window.clearInterval(timer);
}

/** The `exp` of a signed media URL's token, in unix seconds. */
export function expiresAt(url: string): number | undefined {
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
