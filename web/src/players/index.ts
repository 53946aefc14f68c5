import { playHls } from './hls';
import { playJsmpeg } from './jsmpeg';
import { playMse } from './mse';
import type { StartPlayer } from './types';
import { playWebrtc } from './webrtc';
import type { Candidate } from '../api';

/** The transports this page plays, with how long each may take to show its first frame. */
export const PLAYERS: Record<string, { start: StartPlayer; firstFrameBoundMs: number }> = {
  webrtc: { start: playWebrtc, firstFrameBoundMs: 8000 },
  mse: { start: playMse, firstFrameBoundMs: 10000 },
  hls: { start: playHls, firstFrameBoundMs: 15000 },
  jsmpeg: { start: playJsmpeg, firstFrameBoundMs: 8000 },
};

/** Why the page cannot play a candidate of the plan, or `undefined` when it can. */
export function unplayable(candidate: Candidate): string | undefined {
  if (!candidate.available) {
    return [...candidate.blocking_errors, ...candidate.warnings][0] ?? 'not available';
  }
  if (!candidate.url) return 'the plan gives no URL';
  if (!PLAYERS[candidate.transport]) return 'this page has no player for it';
  // The page holds no engine credentials; signed URLs need none.
  if (candidate.requires_auth) return 'the output needs credentials this page does not hold';
  return undefined;
}
