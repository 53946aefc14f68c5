import Hls, { type LoaderConfig } from 'hls.js';
import { type Player, type PlayerEvents, videoIn, withoutQuery } from './types';

/**
 * The engine answers 404 until the output's publisher is up (a prime starts it, ~4 s cold): the
 * playlists are asked for again every half second meanwhile, within the tile's first-frame bound.
 * hls.js alone gives up on a 4xx at once.
 */
const WARMING_UP: LoaderConfig = {
  maxTimeToFirstByteMs: 10000,
  maxLoadTimeMs: 20000,
  timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
  errorRetry: {
    maxNumRetry: 30,
    retryDelayMs: 500,
    maxRetryDelayMs: 500,
    shouldRetry: (config, count, _timeout, response, retry) =>
      retry || (response?.code === 404 && count < (config?.maxNumRetry ?? 0)),
  },
};

/** HLS through the service's signed proxy: hls.js where MSE exists, else the browser's own. */
export function playHls(container: HTMLElement, url: string, events: PlayerEvents): Player {
  const video = videoIn(container, events);
  let hls: Hls | undefined;
  events.step(`loading ${withoutQuery(url)}`);
  if (Hls.isSupported()) {
    hls = new Hls({
      lowLatencyMode: true,
      manifestLoadPolicy: { default: WARMING_UP },
      playlistLoadPolicy: { default: WARMING_UP },
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) =>
      events.step(`playlist parsed: ${data.levels.length} level(s)`),
    );
    let segments = 0;
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
      if (++segments === 1) events.step(`first segment loaded (${data.frag.url.split('?')[0]})`);
    });
    let warmingUp = false;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal && data.response?.code === 404 && !warmingUp) {
        warmingUp = true;
        events.step('no stream on the engine path yet (404): retrying while the publisher starts');
      }
      if (data.fatal) {
        events.step(`error: hls.js ${data.details}`);
        events.failed(`hls.js: ${data.details}`);
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url;
    video.addEventListener('error', () => events.failed('native HLS failed'));
  } else {
    queueMicrotask(() => events.failed('this browser plays no HLS'));
  }
  void video.play().catch(() => {});
  return {
    transport: 'hls',
    stop() {
      hls?.destroy();
      video.removeAttribute('src');
      video.load();
      video.remove();
    },
  };
}
