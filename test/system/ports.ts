import { createServer } from 'node:net';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const s = createServer();
    s.once('error', () => resolvePort(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolvePort(true)));
  });
}

/**
 * A base port in [from, from + span) with the next five free (the demo uses base .. base+4). Each
 * system test takes its own range so two of them running in parallel never pick the same ports;
 * all ranges stay below Linux's ephemeral range (32768+), so no outgoing socket takes one meanwhile.
 */
export async function freePortBase(from: number, span: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * span);
    let ok = true;
    for (let p = base; p < base + 5 && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no free port range found');
}
