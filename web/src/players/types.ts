/** A running player in a tile: it reports its first frame and its failures, and stops cleanly. */
export interface Player {
  readonly transport: string;
  stop(): void;
}

export interface PlayerEvents {
  firstFrame(): void;
  failed(reason: string): void;
  /** Frames stopped arriving for a while (the player keeps trying). */
  stalled(): void;
  /** Frames arrive again after a stall. */
  resumed(): void;
  /** A step worth a line in the debug page's log (the Streams page ignores them). */
  step(message: string): void;
}

/** Starts a transport's player on a signed URL from the plan, inside `container`. */
export type StartPlayer = (container: HTMLElement, url: string, events: PlayerEvents) => Player;

/** A `<video>` that may play by itself: muted, inline, autoplaying. */
export function videoIn(container: HTMLElement, events: PlayerEvents): HTMLVideoElement {
  const video = document.createElement('video');
  video.className = 'picture';
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  container.append(video);
  const onFrame = () => {
    video.removeEventListener('loadeddata', onFrame);
    events.step(`first frame decoded (${video.videoWidth}x${video.videoHeight})`);
    events.firstFrame();
  };
  video.addEventListener('loadeddata', onFrame);
  video.addEventListener('waiting', () => events.stalled());
  video.addEventListener('playing', () => events.resumed());
  return video;
}

/** A WebSocket URL for a path the plan gave relative to this page. */
export function socketUrl(url: string): string {
  const socket = new URL(url, location.href);
  socket.protocol = socket.protocol === 'https:' ? 'wss:' : 'ws:';
  return socket.href;
}

/** The URL without its query, for logs: a signed token is a credential while it lasts. */
export function withoutQuery(url: string): string {
  const parsed = new URL(url, location.href);
  return parsed.search ? `${parsed.origin}${parsed.pathname}?…` : parsed.href;
}
