import type { IncomingMessage } from 'node:http';
import { InvalidRequest, RequestTooLarge } from '../../oauth/errors.ts';

/**
 * Reads a request body of at most `limit` bytes. A declared Content-Length over the limit is refused
 * before a byte is read; a body that grows past it (chunked) is refused as soon as it does, and the
 * rest is not buffered. The caller answers with Connection: close in both cases, since the
 * connection still carries unread body bytes. Compressed bodies are refused: nothing here inflates
 * them, and inflating would undo the limit.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return Promise.reject(new InvalidRequest('compressed request bodies are not accepted', { reason: 'unsupported_content_type' }));
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new RequestTooLarge('the request body is too large', { reason: 'body_too_large' }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading: the rest is neither buffered nor waited for.
        req.pause();
        reject(new RequestTooLarge('the request body is too large', { reason: 'body_too_large' }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new InvalidRequest('the request body could not be read', { reason: 'malformed_request', cause: error }));
    };
    const onAborted = () => onError(new Error('request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
