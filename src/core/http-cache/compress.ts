/**
 * Compression happens once, when an entry is stored; hits send the stored bytes. node:zlib's async functions run
 * on libuv's thread pool, so a 1 MB brotli pass does not block the event loop.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants, gunzip, gzip } from 'node:zlib';
import type { NormalizedOptions } from './options.js';
import type { Encoding } from './types.js';

const brotliCompressP = promisify(brotliCompress);
const brotliDecompressP = promisify(brotliDecompress);
const gzipP = promisify(gzip);
const gunzipP = promisify(gunzip);

export type Bodies = Partial<Record<Encoding | 'identity', Buffer>>;

/**
 * The bodies to store: every configured coding that actually shrinks the body, or the identity body alone when
 * the body is small, of an incompressible type, or does not shrink.
 */
export async function compressOnce(body: Buffer, contentType: string | undefined, options: NormalizedOptions): Promise<Bodies> {
  const c = options.compression;
  if (!c || body.length < c.threshold || body.length === 0 || contentType === undefined || !c.compressible(contentType)) {
    return { identity: body };
  }
  const out: Bodies = {};
  await Promise.all(
    c.encodings.map(async (enc) => {
      const packed =
        enc === 'br'
          ? await brotliCompressP(body, {
              params: {
                [constants.BROTLI_PARAM_QUALITY]: c.brotliQuality,
                [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
                [constants.BROTLI_PARAM_MODE]: /^text\//i.test(contentType) ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
              },
            })
          : await gzipP(body, { level: c.gzipLevel });
      if (packed.length < body.length) out[enc] = packed;
    }),
  );
  return out.br || out.gzip ? out : { identity: body };
}

/**
 * The identity body of an entry stored only compressed (for clients that accept no coding we hold). `maxLength`
 * bounds the output: entries come from a shared store, and a tampered one must not become a decompression bomb.
 */
export async function identityOf(bodies: Bodies, maxLength: number): Promise<Buffer> {
  if (bodies.identity) return bodies.identity;
  const maxOutputLength = Math.max(1, maxLength);
  if (bodies.gzip) return gunzipP(bodies.gzip, { maxOutputLength }); // gunzip is the cheaper of the two to undo
  if (bodies.br) return brotliDecompressP(bodies.br, { maxOutputLength });
  return Buffer.alloc(0);
}
