import JSMpeg from '@cycjimmy/jsmpeg-player';
import { type Player, type PlayerEvents, socketUrl, withoutQuery } from './types';

/** MPEG-1 over the service's own WebSocket: needs no engine, the last resort. */
export function playJsmpeg(container: HTMLElement, url: string, events: PlayerEvents): Player {
  const canvas = document.createElement('canvas');
  canvas.className = 'picture';
  container.append(canvas);
  let decoded = false;
  let stalled = false;
  events.step(`connecting to ${withoutQuery(socketUrl(url))}`);
  const player = new JSMpeg.Player(socketUrl(url), {
    canvas,
    audio: false,
    // Kept so the picture can be read back (snapshots, the browser tests).
    preserveDrawingBuffer: true,
    reconnectInterval: 0,
    onVideoDecode: () => {
      if (!decoded) {
        decoded = true;
        events.step(`first frame decoded (${canvas.width}x${canvas.height})`);
        events.firstFrame();
      } else if (stalled) {
        stalled = false;
        events.resumed();
      }
    },
    onStalled: () => {
      stalled = true;
      events.stalled();
    },
    onSourceCompleted: () => {
      events.step('error: the JSMpeg socket closed');
      events.failed('the JSMpeg socket closed');
    },
  });
  return {
    transport: 'jsmpeg',
    stop() {
      player.destroy();
      canvas.remove();
    },
  };
}
