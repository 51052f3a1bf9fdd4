// One request to the collector and what its answer means: ok, try again later (network
// errors, 5xx, 429 and 503, with `Retry-After`), or refused for good (400, 401, 403, 413, 415).

import type { ClientOptions, Platform } from './options.js';

export type PostResult =
  | { kind: 'ok' }
  | { kind: 'transient'; retryAfterMs?: number }
  | { kind: 'permanent'; why: string };

/** `Retry-After` as seconds (fractions allowed) or an HTTP date. */
export function parseRetryAfter(v: string | null): number | undefined {
  if (v === null) return undefined;
  const secs = Number(v.trim());
  if (v.trim() !== '' && Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** POSTs one NDJSON body (gzipped where the platform can) to `endpoint`. */
export async function post(
  endpoint: string,
  body: string,
  opts: ClientOptions & { gzip: boolean; requestTimeoutMs: number },
  platform: Platform,
  controller: AbortController,
): Promise<PostResult> {
  const headers: Record<string, string> = { 'Content-Type': 'application/x-ndjson' };
  if (opts.ingestToken) headers['Authorization'] = `Bearer ${opts.ingestToken}`;
  let payload: string | Uint8Array = body;
  if (opts.gzip && platform.gzip) {
    try {
      payload = await platform.gzip(body);
      headers['Content-Encoding'] = 'gzip';
    } catch {
      payload = body;
    }
  }
  const timer = setTimeout(() => controller.abort(), opts.requestTimeoutMs);
  platform.unref?.(timer);
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers,
      body: payload as BodyInit,
      signal: controller.signal,
    });
    const text = await res.text();
    const s = res.status;
    if (s >= 200 && s < 300) return { kind: 'ok' };
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    if (s === 429 || s === 503) return { kind: 'transient', retryAfterMs: retryAfterMs ?? 1000 };
    if (s >= 500) return { kind: 'transient', retryAfterMs };
    return { kind: 'permanent', why: `${s}: ${text.slice(0, 500)}` };
  } catch {
    return { kind: 'transient' };
  } finally {
    clearTimeout(timer);
  }
}
