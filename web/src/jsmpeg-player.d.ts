// The npm player ships no types; this is the part the dashboard uses.
declare module '@cycjimmy/jsmpeg-player' {
  interface PlayerOptions {
    canvas?: HTMLCanvasElement;
    audio?: boolean;
    preserveDrawingBuffer?: boolean;
    reconnectInterval?: number;
    onVideoDecode?: () => void;
    onStalled?: () => void;
    onSourceCompleted?: () => void;
  }
  class Player {
    constructor(url: string, options: PlayerOptions);
    destroy(): void;
  }
  const JSMpeg: { Player: typeof Player };
  export default JSMpeg;
}
