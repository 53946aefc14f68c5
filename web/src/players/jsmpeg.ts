import JSMpeg from '@cycjimmy/jsmpeg-player';
import type { Player, PlayerEvents } from './types';

/** MPEG-1 over the service's own WebSocket: needs no engine, the last resort. */
export function playJsmpeg(container: HTMLElement, url: string, events: PlayerEvents): Player {
  const canvas = document.createElement('canvas');
  canvas.className = 'picture';
  container.append(canvas);
  const socketUrl = new URL(url, location.href);
  socketUrl.protocol = socketUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  let decoded = false;
  const player = new JSMpeg.Player(socketUrl.href, {
    canvas,
    audio: false,
    // Kept so the picture can be read back (snapshots, the browser tests).
    preserveDrawingBuffer: true,
    reconnectInterval: 0,
    onVideoDecode: () => {
      if (!decoded) {
        decoded = true;
        events.firstFrame();
      }
    },
    onStalled: () => events.stalled(),
    onSourceCompleted: () => events.failed('the JSMpeg socket closed'),
  });
  return {
    transport: 'jsmpeg',
    stop() {
      player.destroy();
      canvas.remove();
    },
  };
}
