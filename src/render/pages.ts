/**
 * The pages haproxy answers with itself (errorfile): complete raw HTTP/1.0 responses. Stock pages are a
 * fingerprint; these name no software, version or host, carry no scripts or external resources, and are not
 * cached (a 503 must not outlive the outage in a browser or proxy cache).
 */
import { join } from 'node:path';
import type { StackModel } from '../config/model.js';
import { checkInt, checkValue, unsafeValue } from './escape.js';

export type ErrorStatus = 400 | 403 | 408 | 429 | 500 | 502 | 503 | 504;

export const ERROR_STATUSES: readonly ErrorStatus[] = Object.freeze([400, 403, 408, 429, 500, 502, 503, 504] as const);

interface Page {
  reason: string;
  title: string;
  text: string;
  /** Seconds; only where waiting helps: rate limits and outages. */
  retryAfter?: number;
}

const PAGES: Record<ErrorStatus, Page> = {
  400: { reason: 'Bad Request', title: 'Bad request', text: 'The request could not be understood.' },
  403: { reason: 'Forbidden', title: 'Forbidden', text: 'Access to this page is not allowed.' },
  408: { reason: 'Request Timeout', title: 'Request timeout', text: 'The request took too long to arrive. Please try again.' },
  // The per-circuit window is 10 s by default: a retry after it usually succeeds.
  429: {
    reason: 'Too Many Requests',
    title: 'Too many requests',
    text: 'Too many requests from this connection. Please wait a few seconds and try again.',
    retryAfter: 10,
  },
  500: { reason: 'Internal Server Error', title: 'Something went wrong', text: 'Something went wrong on our side. Please try again later.' },
  502: { reason: 'Bad Gateway', title: 'Something went wrong', text: 'The site could not answer this request. Please try again in a moment.' },
  503: {
    reason: 'Service Unavailable',
    title: 'Temporarily down',
    text: 'This site is temporarily down. Please try again in a few minutes.',
    retryAfter: 60,
  },
  504: { reason: 'Gateway Timeout', title: 'Too slow', text: 'The site took too long to answer. Please try again in a moment.' },
};

export function renderErrorFile(status: ErrorStatus): string {
  const page = PAGES[status];
  if (page === undefined) throw unsafeValue('status', `no error page for ${String(status)} (one of ${ERROR_STATUSES.join(', ')})`);
  const body =
    '<!doctype html>\n' +
    `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${page.title}</title></head>\n` +
    `<body><h1>${page.title}</h1><p>${page.text}</p></body></html>\n`;
  const headers = [
    `HTTP/1.0 ${status} ${page.reason}`,
    'Content-Type: text/html; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    // Nothing on these pages needs scripts, styles or any fetch.
    "Content-Security-Policy: default-src 'none'",
    'X-Content-Type-Options: nosniff',
    'Connection: close',
  ];
  if (page.retryAfter !== undefined) headers.push(`Retry-After: ${page.retryAfter}`);
  return headers.join('\r\n') + '\r\n\r\n' + body;
}

/** Where the supervisor writes the page and where haproxy.cfg's `errorfile` points. */
export function errorFilePath(model: StackModel, status: number): string {
  return join(checkValue('paths.haproxyErrors', model.paths.haproxyErrors), `${checkInt('status', status, 100, 599)}.http`);
}
