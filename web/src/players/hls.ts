import Hls from 'hls.js';
import type { Player, PlayerEvents } from './types';

/** HLS through the service's signed proxy: hls.js where MSE exists, else the browser's own. */
export function playHls(container: HTMLElement, url: string, events: PlayerEvents): Player {
  const video = document.createElement('video');
  video.className = 'picture';
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  container.append(video);
  const onFrame = () => {
    video.removeEventListener('loadeddata', onFrame);
    events.firstFrame();
  };
  video.addEventListener('loadeddata', onFrame);
  video.addEventListener('waiting', () => events.stalled());
  let hls: Hls | undefined;
  if (Hls.isSupported()) {
    hls = new Hls({ lowLatencyMode: true, manifestLoadingMaxRetry: 2, levelLoadingMaxRetry: 2 });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) events.failed(`hls.js: ${data.details}`);
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
