import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { hostClock, type SimLaneControl, simLaneFactory } from '../../hardware-sim/index.js';
import { encodePlateFrame } from '../../protocol/devices.js';
import { silentLogger } from '../../protocol/logger.js';
import { seededRandom } from '../../protocol/random.js';
import { createEdge, type Edge } from '../app.js';
import { simulatedLibraryDrivers } from '../devices/factory.js';
import { nativeSerialBinding } from '../devices/plate-camera.js';
import type { DeviceHealth, LaneDriverKit, SerialBinding } from '../devices/types.js';
import { change, edgeConfig, HOUR, MIN, qrFor, reservation, tempDir } from './support.js';

/**
 * The plate camera on the REAL serial path: `@serialport/bindings-cpp` (what `serialport` loads on a
 * box) on a pseudo-terminal pair made by socat. The test writes real camera frames into the far end;
 * the lane's barrier, loops and QR scanner stay simulated. Pulling the cable = killing socat (the
 * pty's master goes away, the driver's read fails); plugging it back = a new socat on the same path.
 * Real time throughout (native I/O cannot run on fake timers); waits poll a condition, never sleep
 * a fixed time.
 */

function socatBinary(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v socat'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Locally a reason to skip; under CI it throws, because CI must run the real serial path. */
function socatSkip(): string | false {
  if (process.platform === 'win32') return 'no pseudo-terminals on Windows';
  if (socatBinary()) return false;
  if (process.env.CI) throw new Error('CI needs socat for the real serial test (apt-get install socat)');
  return 'skipping the real serial test: socat is not installed';
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** socat joining two ptys, linked at `camera` (the driver's end) and `far` (the camera's end). */
class PtyCable {
  #proc: ChildProcess | null = null;
  #fd: number | null = null;
  constructor(
    readonly camera: string,
    readonly far: string,
  ) {}

  async plug(): Promise<void> {
    // a killed socat can leave its links behind; socat would refuse to replace them
    for (const p of [this.camera, this.far]) rmSync(p, { force: true });
    this.#proc = spawn(
      socatBinary()!,
      [`pty,raw,echo=0,link=${this.camera}`, `pty,raw,echo=0,link=${this.far}`],
      { stdio: 'ignore' },
    );
    await waitFor('socat ptys', () => existsSync(this.camera) && existsSync(this.far));
    this.#fd = openSync(this.far, 'r+');
  }

  /** Writes bytes as the camera does, into the far end. */
  send(bytes: Buffer): void {
    if (this.#fd === null) throw new Error('cable not plugged');
    writeSync(this.#fd, bytes);
  }

  async pull(): Promise<void> {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    const proc = this.#proc;
    this.#proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }
}

const LANE = 'in-1';

/** The simulated lane's driver kit, with the camera swapped for the native binding on a pty. */
function realCameraKit(binding: SerialBinding, path: string): LaneDriverKit {
  return {
    open: (libraries, deps) =>
      simulatedLibraryDrivers.open({ ...libraries, camera: { binding, path, baudRate: 9600 } }, deps),
    close: simulatedLibraryDrivers.close,
  };
}

function frame(plate: string): Buffer {
  return encodePlateFrame({ laneId: LANE, plate, confidence: 0.95, capturedAt: Date.now() });
}

t.test(
  'plate camera on @serialport/bindings-cpp over a socat pty: reads, cable pulled, QR fallback, reconnect',
  { skip: socatSkip(), timeout: 60_000 },
  async (t) => {
    const tmp = tempDir('parkedge-serial-');
    const cable = new PtyCable(join(tmp.dir, 'camera'), join(tmp.dir, 'far'));
    let edge: Edge<SimLaneControl> | null = null;
    t.teardown(async () => {
      await edge?.stop();
      await cable.pull();
      tmp.cleanup();
    });
    await cable.plug();

    const clock = hostClock();
    const config = edgeConfig({
      dbPath: join(tmp.dir, 'edge.sqlite'),
      lanes: [{ id: LANE, direction: 'entry', devices: 'sim', sim: { armTravelMs: 100, camera: false } }],
    });
    edge = await createEdge(config, {
      clock,
      timers: clock,
      random: seededRandom(3),
      logger: silentLogger(),
      simulator: simLaneFactory({
        drivers: realCameraKit(await nativeSerialBinding(), cable.camera),
        overrides: { backoff: { initialMs: 50, maxMs: 200 } },
      }),
      ui: false,
      startSync: false,
    });
    await edge.start({ listen: false });
    const lane = edge.lanes.get(LANE)!;
    const sim = edge.sims.get(LANE)!;
    const camera = edge.lanes.get(LANE)!.devices.camera!;
    const health: DeviceHealth[] = [];
    camera.onHealth((h) => health.push(h));
    t.equal(camera.health(), 'ok', 'the native binding opened the pty');

    const now = Date.now();
    edge.store.mirror.applyChanges([
      change(
        1,
        reservation({ id: 'r1', plate: 'AB123CD', startMs: now - MIN, endMs: now + HOUR, spotId: 'A2' }),
      ),
      change(
        2,
        reservation({ id: 'r2', plate: 'XY987Z', startMs: now - MIN, endMs: now + HOUR, spotId: 'A3' }),
      ),
    ]);
    const events = () => edge!.store.ledger.eventsAfter(0, 1000);
    const passThrough = async () => {
      await waitFor('arm up', () => sim.armState() === 'up');
      await sim.driveThrough();
      await waitFor('lane idle', () => lane.state === 'IDLE' && sim.armState() === 'down');
    };

    // 1. frames in, decision out: a booked plate opens the barrier
    void sim.vehicleArrives(null);
    await waitFor('arming loop', () => lane.state !== 'IDLE');
    cable.send(frame('AB123CD'));
    await waitFor('plate decision', () => lane.state === 'OPENING' || lane.state === 'OPEN');
    t.same(sim.display.current(), ['Welcome — bay A-2']);
    await passThrough();
    t.match(events(), [{ kind: 'entry', reservationId: 'r1', credential: 'plate', laneId: LANE }]);

    // 2. cable pulled: the driver reports the camera lost; the lane takes a QR instead
    await cable.pull();
    await waitFor('camera lost', () => health.includes('lost'));
    await waitFor('device alarm', () => events().some((e) => e.kind === 'device_fault'));
    t.match(events().at(-1), { kind: 'device_fault', device: 'camera', state: 'lost' });
    void sim.vehicleArrives(null);
    await waitFor('arming loop', () => lane.state !== 'IDLE');
    await sim.presentQr(qrFor({ id: 'q1', plate: null, startMs: now - MIN, endMs: now + HOUR }));
    await waitFor('QR decision', () => lane.state === 'OPENING' || lane.state === 'OPEN');
    await passThrough();
    t.match(events().at(-1), { kind: 'entry', reservationId: 'q1', credential: 'qr' });

    // 3. cable back: the driver reopens by itself (no restart) and plates work again
    await cable.plug();
    await waitFor('camera back', () => camera.health() === 'ok', 10_000);
    await waitFor('restore recorded', () =>
      events().some((e) => e.kind === 'device_fault' && 'state' in e && e.state === 'restored'),
    );
    void sim.vehicleArrives(null);
    await waitFor('arming loop', () => lane.state !== 'IDLE');
    cable.send(frame('XY987Z'));
    await waitFor('plate decision after reconnect', () => lane.state === 'OPENING' || lane.state === 'OPEN');
    t.same(sim.display.current(), ['Welcome — bay A-3']);
    await passThrough();
    t.match(
      events().map((e) => [e.kind, 'credential' in e ? e.credential : 'state' in e ? e.state : null]),
      [
        ['entry', 'plate'],
        ['device_fault', 'lost'],
        ['entry', 'qr'],
        ['device_fault', 'restored'],
        ['entry', 'plate'],
      ],
    );
    t.same(sim.safetyViolations(), [], 'arm never lowered onto a vehicle');
  },
);
