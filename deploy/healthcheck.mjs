// Container health probe: GET /health on this container's own service, exit 0 when it answers 200.
// Usage: node deploy/healthcheck.mjs edge|cloud   (ports from EDGE_PORT / PORT as the services use)
const kind = process.argv[2];
const port = kind === 'edge' ? (process.env.EDGE_PORT ?? '8090') : (process.env.PORT ?? '3000');
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
