import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readServerSentEvents, type ServerSentEvent } from '../../src/cli/sse.ts';

/** The events of a body delivered in exactly these chunks. */
async function parse(chunks: string[], onRetry?: (ms: number) => void): Promise<ServerSentEvent[]> {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
  const events: ServerSentEvent[] = [];
  for await (const e of readServerSentEvents(body, onRetry)) events.push(e);
  return events;
}

describe('server-sent events parser (HTML Living Standard §9.2.6)', () => {
  it('joins data lines with LF, keeps the id until it changes, defaults the type to message', async () => {
    assert.deepEqual(await parse(['id: 1\nevent: audit\ndata: a\ndata: b\n\ndata: c\n\n']), [
      { id: '1', event: 'audit', data: 'a\nb' },
      { id: '1', event: 'message', data: 'c' },
    ]);
  });

  it('accepts CRLF, CR and LF line ends, also when a CRLF is split between chunks, and drops a leading BOM', async () => {
    assert.deepEqual(await parse(['\ufeffid: 7\r', '\ndata: x\r\rdata:y\n', '\n']), [
      { id: '7', event: 'message', data: 'x' },
      { id: '7', event: 'message', data: 'y' },
    ]);
  });

  it('skips comments, unknown fields and events without data; an unfinished last event is not dispatched; retry is reported', async () => {
    const retries: number[] = [];
    assert.deepEqual(await parse([': hi\nfoo: bar\nevent: audit\n\nretry: 250\nretry: soon\nid: 2\ndata: z\n\ndata: cut'], (ms) => retries.push(ms)), [
      { id: '2', event: 'message', data: 'z' },
    ]);
    assert.deepEqual(retries, [250]);
  });

  it('ignores an id holding NUL, and splits a UTF-8 character across chunks correctly', async () => {
    const bytes = new TextEncoder().encode('id: ok\nid: a\u0000b\ndata: é\n\n');
    const cut = bytes.indexOf(0xc3) + 1;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, cut));
        controller.enqueue(bytes.slice(cut));
        controller.close();
      },
    });
    const events: ServerSentEvent[] = [];
    for await (const e of readServerSentEvents(body)) events.push(e);
    assert.deepEqual(events, [{ id: 'ok', event: 'message', data: 'é' }]);
  });
});
