/**
 * The worker side of ipc-worker.ts: each request `{ id, op, args }` gets one reply `{ id, ok, value | error }`;
 * `push()` sends `{ type: 'event' | 'unhandled', … }`. When the parent closes the IPC channel, `close()` runs and the
 * process exits (even with timers pending).
 */
export type Ops = Record<string, (args: Record<string, unknown>) => Promise<unknown>>;

interface Request {
  id: number;
  op: string;
  args?: Record<string, unknown>;
}

export const push = (message: Record<string, unknown>): void => void process.send?.(message);

export function serveIpc(ops: Ops, close: () => Promise<unknown>): void {
  process.on('message', (raw) => {
    const req = raw as Request;
    const op = ops[req.op];
    if (!op) return push({ id: req.id, ok: false, error: `unknown op ${req.op}` });
    op(req.args ?? {}).then(
      (value) => push({ id: req.id, ok: true, value: value === undefined ? null : value, undef: value === undefined }),
      (err: unknown) => push({ id: req.id, ok: false, error: String(err), code: (err as { code?: string }).code }),
    );
  });
  process.on('disconnect', () => {
    void close().finally(() => process.exit(0));
  });
  push({ type: 'up' });
}
