/**
 * The load of bench/cloud-users.bench.ts, in a process of its own (plain JS: no loader to share the
 * CPU with): USERS simulated users, each on its own keep-alive connection (an http.Agent with one
 * socket), each looping search lots → check capacity → think; about BOOK_SHARE of the loops also
 * book and pay. Deterministic per seed. IPC: ← {type:'run', spec} → {type:'done', result}.
 */
import http from 'node:http';

const send = (m) => process.send?.(m);
/** Open connections, and the most open at once. */
const sockets = new Set();
const peak = { value: 0 };

function call(agent, url, method, path, token, body, timeoutMs) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Bearer ${token}` };
    if (data) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(data);
    }
    const t0 = performance.now();
    const req = http.request({ agent, host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, body: parsed, ms: performance.now() - t0 });
      });
    });
    req.on('socket', (socket) => {
      if (sockets.has(socket)) return;
      sockets.add(socket);
      peak.value = Math.max(peak.value, sockets.size);
      socket.once('close', () => sockets.delete(socket));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve({ status: 'timeout', ms: performance.now() - t0 });
    });
    req.on('error', (e) => resolve({ status: `error ${e.code ?? e.message}`, ms: performance.now() - t0 }));
    req.end(data);
  });
}

async function run(spec) {
  const url = new URL(spec.base);
  let seed = spec.seed >>> 0;
  const rnd = (n) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const samples = [];
  const errors = {};
  let timeouts = 0;
  let booked = 0;
  let refused = 0;
  const note = (r, ok) => {
    samples.push(r.ms);
    if (r.status === 'timeout') timeouts++;
    else if (!ok) errors[r.status] = (errors[r.status] ?? 0) + 1;
  };
  const endAt = performance.now() + spec.durationMs;
  const agents = [];
  const user = async (u) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    // Spread the users' first requests over the ramp.
    await new Promise((r) => setTimeout(r, rnd(spec.rampMs)));
    let n = 0;
    while (performance.now() < endAt) {
      const list = await call(
        agent,
        url,
        'GET',
        `/v1/lots?lat=52.52&lng=13.405&radiusKm=50&limit=20`,
        spec.token,
        undefined,
        spec.timeoutMs,
      );
      note(list, list.status === 200);
      const lotId = spec.lotIds[rnd(spec.lotIds.length)];
      const start = (spec.firstSlot + rnd(30 * 96)) * 900000;
      const w = { start: new Date(start).toISOString(), end: new Date(start + 8 * 900000).toISOString() };
      const cap = await call(
        agent,
        url,
        'GET',
        `/v1/lots/${lotId}/capacity?vehicleType=car&start=${encodeURIComponent(w.start)}&end=${encodeURIComponent(w.end)}`,
        spec.token,
        undefined,
        spec.timeoutMs,
      );
      note(cap, cap.status === 200);
      if (rnd(1000) < spec.bookPerMille) {
        const r = await call(
          agent,
          url,
          'POST',
          '/v1/reservations',
          spec.token,
          { lotId, vehicleType: 'car', plate: `U${u}N${n++}`, ...w },
          spec.timeoutMs,
        );
        note(r, r.status === 201 || r.status === 409);
        if (r.status === 409) refused++;
        if (r.status === 201) {
          const u2 = r.body.paymentUrl;
          const pay = await call(
            agent,
            url,
            'POST',
            '/v1/sandbox/pay',
            spec.token,
            { checkout: u2.slice(u2.lastIndexOf('/') + 1) },
            spec.timeoutMs,
          );
          note(pay, pay.status === 200);
          if (pay.status === 200) {
            const done = await call(
              agent,
              url,
              'POST',
              `/v1/reservations/${r.body.id}/complete`,
              spec.token,
              { paymentToken: pay.body.paymentToken },
              spec.timeoutMs,
            );
            note(done, done.status === 200);
            if (done.status === 200) booked++;
          }
        }
      }
      await new Promise((r) => setTimeout(r, spec.thinkMs / 2 + rnd(spec.thinkMs)));
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: spec.users }, (_, u) => user(u)));
  const wallMs = performance.now() - t0;
  for (const a of agents) a.destroy();
  return { samples, wallMs, errors, timeouts, booked, refused, peakSockets: peak.value };
}

process.on('message', (m) => {
  if (m.type !== 'run') return;
  run(m.spec).then(
    (result) => send({ type: 'done', result }),
    (e) => send({ type: 'error', message: String(e?.stack ?? e) }),
  );
});
process.on('disconnect', () => process.exit(0));
