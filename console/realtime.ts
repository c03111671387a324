// The agent stream (docs/realtime.md), opened with the session cookie: events as they commit, resumed
// from the last position after a drop, `resync_required` → reload through the REST API.

export type StreamEvent = { event: string; position?: string | null; conversation_id?: string; [key: string]: unknown };

export function openAgentStream(accountId: string, handlers: { onEvent: (event: StreamEvent) => void; onResync: () => void; onStatus: (live: boolean) => void }) {
  let position: string | null = null;
  let socket: WebSocket | null = null;
  let stopped = false;
  let retry = 500;
  let ping: ReturnType<typeof setInterval> | undefined;

  const connect = () => {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const after = position ? `?after=${encodeURIComponent(position)}` : "";
    socket = new WebSocket(`${scheme}://${location.host}/v1/accounts/${encodeURIComponent(accountId)}/realtime${after}`);
    socket.onopen = () => {
      retry = 500;
      ping = setInterval(() => socket?.readyState === WebSocket.OPEN && socket.send("ping"), 30_000);
    };
    socket.onmessage = (message) => {
      if (message.data === "pong") return;
      let frame: StreamEvent;
      try {
        frame = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (frame.event === "ready") {
        if (frame.position) position = frame.position;
        handlers.onStatus(true);
        return;
      }
      if (frame.event === "resync_required") {
        if (frame.position) position = frame.position;
        handlers.onResync();
        return;
      }
      if (frame.position) {
        position = frame.position;
        socket?.send(JSON.stringify({ type: "ack", position }));
      }
      handlers.onEvent(frame);
    };
    socket.onclose = () => {
      clearInterval(ping);
      handlers.onStatus(false);
      if (stopped) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15_000);
    };
  };
  connect();
  return () => {
    stopped = true;
    clearInterval(ping);
    socket?.close();
  };
}
