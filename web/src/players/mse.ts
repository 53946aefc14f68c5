import { type Player, type PlayerEvents, socketUrl, videoIn, withoutQuery } from './types';

/** What go2rtc can send, offered as far as this browser's MSE plays it (go2rtc picks from these). */
const CODECS = [
  'avc1.640029',
  'avc1.64002A',
  'avc1.640033',
  'hvc1.1.6.L153.B0',
  'mp4a.40.2',
  'mp4a.40.5',
  'flac',
  'opus',
];
/** Seconds of media kept behind the playhead; older media is removed so memory stays bounded. */
const KEEP_BEHIND_S = 10;
/** How far the playhead may fall behind the newest media before it jumps to the live edge. */
const MAX_LAG_S = 3;
/** Fragments waiting for the SourceBuffer beyond this mean the page cannot keep up. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

type MediaSourceClass = typeof MediaSource;

/** Safari on iOS has only the managed variant (which also needs remote playback off). */
function mediaSourceClass(): { Source: MediaSourceClass; managed: boolean } | undefined {
  const managed = (window as { ManagedMediaSource?: MediaSourceClass }).ManagedMediaSource;
  if (managed) return { Source: managed, managed: true };
  return window.MediaSource ? { Source: window.MediaSource, managed: false } : undefined;
}

interface Control {
  type: string;
  value?: string;
  message?: string;
}

/**
 * fMP4 over the service's signed WebSocket, which relays go2rtc's MSE protocol: the page asks
 * with the codecs it plays, go2rtc answers the MIME type as text, then sends the init segment
 * and one fragment per binary message. The service's own status and error messages come as text
 * on the same socket.
 */
export function playMse(container: HTMLElement, url: string, events: PlayerEvents): Player {
  const video = videoIn(container, events);
  let stopped = false;
  let socket: WebSocket | undefined;
  const fail = (reason: string) => {
    if (stopped) return;
    stopped = true;
    socket?.close();
    events.step(`error: ${reason}`);
    events.failed(reason);
  };
  const stop = () => {
    stopped = true;
    socket?.close();
    video.removeAttribute('src');
    video.load();
    video.remove();
  };
  const kind = mediaSourceClass();
  if (!kind) {
    queueMicrotask(() => fail('this browser has no Media Source Extensions'));
    return { transport: 'mse', stop };
  }
  const { Source, managed } = kind;
  const source = new Source();
  if (managed) video.disableRemotePlayback = true;
  const objectUrl = URL.createObjectURL(source);
  video.src = objectUrl;
  const began = performance.now();
  const after = () => `${Math.round(performance.now() - began)} ms`;
  let buffer: SourceBuffer | undefined;
  const pending: ArrayBuffer[] = [];
  let pendingBytes = 0;
  let binaryMessages = 0;

  /** Keeps the playhead near the live edge and the buffer short. */
  const trim = (target: SourceBuffer) => {
    const ranges = target.buffered;
    if (ranges.length === 0) return;
    const start = ranges.start(0);
    const end = ranges.end(ranges.length - 1);
    if (video.currentTime < start || end - video.currentTime > MAX_LAG_S) {
      video.currentTime = Math.max(start, end - 0.5);
    }
    const keepFrom = video.currentTime - KEEP_BEHIND_S;
    if (keepFrom > start) target.remove(start, keepFrom);
  };
  // One operation at a time: the next fragment, or else a trim, after each finishes.
  const pump = () => {
    if (stopped || !buffer || buffer.updating) return;
    const next = pending.shift();
    try {
      if (next) {
        pendingBytes -= next.byteLength;
        buffer.appendBuffer(next);
      } else {
        trim(buffer);
      }
    } catch (error) {
      fail(`the SourceBuffer refused media: ${error instanceof Error ? error.message : error}`);
    }
  };

  const control = (text: string) => {
    let message: Control;
    try {
      message = JSON.parse(text) as Control;
    } catch {
      return fail(`unexpected text from the MSE socket: ${text.slice(0, 120)}`);
    }
    const said = message.message ?? message.value ?? '';
    if (message.type === 'error') return fail(said || 'the MSE session failed');
    if (message.type === 'status') return events.step(said);
    if (message.type !== 'mse' || !message.value) return events.step(`${message.type}: ${said}`);
    const mime = message.value;
    events.step(`MIME after ${after()}: ${mime}`);
    if (!Source.isTypeSupported(mime)) return fail(`this browser cannot play ${mime}`);
    try {
      buffer = source.addSourceBuffer(mime);
    } catch (error) {
      return fail(`no SourceBuffer for ${mime}: ${error instanceof Error ? error.message : error}`);
    }
    buffer.mode = 'segments';
    buffer.addEventListener('updateend', pump);
    buffer.addEventListener('error', () => fail('the SourceBuffer failed'));
  };

  source.addEventListener(
    'sourceopen',
    () => {
      if (stopped) return;
      URL.revokeObjectURL(objectUrl);
      events.step(`connecting to ${withoutQuery(socketUrl(url))}`);
      const opened = new WebSocket(socketUrl(url));
      socket = opened;
      opened.binaryType = 'arraybuffer';
      opened.onopen = () => {
        const offered = CODECS.filter((c) => Source.isTypeSupported(`video/mp4; codecs="${c}"`));
        events.step(`socket open after ${after()}; offering ${offered.join(',')}`);
        opened.send(JSON.stringify({ type: 'mse', value: offered.join(',') }));
      };
      opened.onmessage = (message: MessageEvent<string | ArrayBuffer>) => {
        if (stopped) return;
        if (typeof message.data === 'string') return control(message.data);
        if (!buffer) return fail('a binary fragment came before the MIME type');
        binaryMessages++;
        if (binaryMessages === 1) {
          events.step(`init segment after ${after()} (${message.data.byteLength} bytes)`);
        } else if (binaryMessages === 2) {
          events.step(`first binary fragment after ${after()} (${message.data.byteLength} bytes)`);
        }
        pending.push(message.data);
        pendingBytes += message.data.byteLength;
        if (pendingBytes > MAX_PENDING_BYTES) return fail('the page cannot keep up with the stream');
        pump();
      };
      opened.onclose = (event) =>
        fail(`the MSE socket closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
    },
    { once: true },
  );
  return { transport: 'mse', stop };
}
