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
}
