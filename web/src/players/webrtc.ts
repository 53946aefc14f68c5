import { type Player, type PlayerEvents, videoIn, withoutQuery } from './types';

/** Candidates gathered by then are enough on a LAN; waiting longer only delays the first frame. */
const ICE_GATHERING_TIMEOUT_MS = 2000;

/** MediaMTX parses an offer only with CRLF line ends and a final CRLF. */
function crlf(sdp: string): string {
  const lines = sdp.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  return `${lines.join('\r\n')}\r\n`;
}

/** The engine answers 404 until the publisher is up (~4 s cold): ask again this often meanwhile. */
const WARM_UP_RETRY_MS = 500;
/** Long enough for a cold publisher; the tile's first-frame bound usually ends it sooner. */
const WARM_UP_MAX_ATTEMPTS = 30;

function iceGathered(peer: RTCPeerConnection): Promise<boolean> {
  if (peer.iceGatheringState === 'complete') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = window.setTimeout(() => resolve(false), ICE_GATHERING_TIMEOUT_MS);
    peer.addEventListener('icegatheringstatechange', () => {
      if (peer.iceGatheringState === 'complete') {
        window.clearTimeout(timer);
        resolve(true);
      }
    });
  });
}

/**
 * WebRTC from the engine's WHEP endpoint, as the spec's handshake: recvonly video and audio
 * transceivers, the offer after ICE gathering (or its timeout), the answer from the POST, and a
 * DELETE on the session's Location when the player stops.
 */
export function playWebrtc(container: HTMLElement, url: string, events: PlayerEvents): Player {
  const video = videoIn(container, events);
  const peer = new RTCPeerConnection();
  const stream = new MediaStream();
  video.srcObject = stream;
  let stopped = false;
  let session: string | undefined;
  const fail = (reason: string) => {
    if (stopped) return;
    events.step(`error: ${reason}`);
    events.failed(reason);
  };
  peer.addTransceiver('video', { direction: 'recvonly' });
  peer.addTransceiver('audio', { direction: 'recvonly' });
  peer.addEventListener('track', (event) => {
    events.step(`${event.track.kind} track received`);
    stream.addTrack(event.track);
  });
  peer.addEventListener('connectionstatechange', () => {
    events.step(`connection ${peer.connectionState}`);
    if (peer.connectionState === 'failed') fail('the WebRTC connection failed');
    if (peer.connectionState === 'disconnected') events.stalled();
  });

  const negotiate = async () => {
    await peer.setLocalDescription(await peer.createOffer());
    const complete = await iceGathered(peer);
    events.step(complete ? 'ICE gathering complete' : 'ICE gathering timed out; sending what was gathered');
    const offer = crlf(peer.localDescription?.sdp ?? '');
    events.step(`POST offer to ${withoutQuery(url)}`);
    let response: Response;
    let body: string;
    let attempt = 1;
    for (; ; attempt++) {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', accept: 'application/sdp' },
        body: offer,
      });
      body = await response.text();
      if (response.ok) break;
      if (response.status !== 404 || attempt >= WARM_UP_MAX_ATTEMPTS) {
        throw new Error(`the WHEP endpoint answered ${response.status}: ${body.trim().slice(0, 200)}`);
      }
      if (attempt === 1) events.step('no stream on the engine path yet (404): retrying while the publisher starts');
      await new Promise((resolve) => window.setTimeout(resolve, WARM_UP_RETRY_MS));
      if (stopped) return;
    }
    if (attempt > 1) events.step(`the engine answered after ${attempt} attempts`);
    const location = response.headers.get('location');
    if (location) session = new URL(location, url).href;
    if (stopped) return;
    await peer.setRemoteDescription({ type: 'answer', sdp: body });
    events.step('answer applied; waiting for media');
  };
  negotiate().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));

  return {
    transport: 'webrtc',
    stop() {
      stopped = true;
      peer.close();
      // The engine frees the session at once rather than on its own timeout.
      if (session) void fetch(session, { method: 'DELETE' }).catch(() => {});
      video.srcObject = null;
      video.remove();
    },
  };
}
