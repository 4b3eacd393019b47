/** One server-sent event (HTML Living Standard §9.2, "Server-sent events"). */
export type ServerSentEvent = { id: string | undefined; event: string; data: string };

/**
 * The events of a `text/event-stream` body, parsed as the standard's EventSource does: lines end in
 * CRLF, LF or CR; `data` lines join with LF; `id` sticks until changed; comments and unknown fields
 * are skipped; an event with no data is not dispatched. `onRetry` hears the server's `retry` advice.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>, onRetry?: (ms: number) => void): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let lastId: string | undefined;
  let event = '';
  let data: string[] = [];
  // A CR that ended the last chunk may be the first half of a CRLF: then the LF is no new line.
  let afterCr = false;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    if (afterCr && buffer.length > 0) {
      if (buffer.startsWith('\n')) buffer = buffer.slice(1);
      afterCr = false;
    }
    for (;;) {
      const end = buffer.search(/\r\n|\r|\n/);
      if (end === -1) break;
      const line = buffer.slice(0, end);
      const terminator = buffer.startsWith('\r\n', end) ? 2 : 1;
      if (terminator === 1 && buffer[end] === '\r' && end === buffer.length - 1) afterCr = true;
      buffer = buffer.slice(end + terminator);
      if (line === '') {
        if (data.length) yield { id: lastId, event: event || 'message', data: data.join('\n') };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id' && !value.includes('\u0000')) lastId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) onRetry?.(Number(value));
    }
  }
}
