import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import type { Timers } from '../protocol/timers.js';
import type { LaneSettings } from './config.js';
import { closeLaneDevices, createLaneDevices } from './devices/factory.js';
import type { LaneDevices } from './devices/types.js';

/**
 * Each lane's devices, opened before anything else so every barrier relay is driven arm-down first.
 * Real lanes are built by edge/devices/factory.ts; lanes configured `devices: 'sim'` by the
 * simulator the composer passed in (hardware-sim's simLaneFactory), so the edge itself never
 * imports the simulator. `S` is the simulator's handle on a lane (tests and the demo drive it).
 */

export interface LaneHardware<S> {
  devices: LaneDevices;
  /** The simulator's handle when the lane is simulated. */
  sim: S | null;
  close(): Promise<void>;
}

export interface DeviceContext {
  lotId: string;
  clock: Clock;
  timers: Timers;
  random: Random;
  logger: Logger;
}

/** Builds a lane configured `devices: 'sim'`. */
export type SimulatedLaneFactory<S> = (
  lane: LaneSettings,
  ctx: DeviceContext,
) => Promise<{ devices: LaneDevices; sim: S; close(): Promise<void> }>;

/** Opens every lane in config order; on a failure closes what was opened and rethrows. */
export async function openLaneHardware<S>(
  lanes: readonly LaneSettings[],
  ctx: DeviceContext,
  simulator: SimulatedLaneFactory<S> | undefined,
): Promise<Map<string, LaneHardware<S>>> {
  const hardware = new Map<string, LaneHardware<S>>();
  try {
    for (const lane of lanes) hardware.set(lane.id, await openLane(lane, ctx, simulator));
  } catch (e) {
    await closeLaneHardware(hardware.values(), ctx.logger);
    throw e;
  }
  return hardware;
}

async function openLane<S>(
  lane: LaneSettings,
  ctx: DeviceContext,
  simulator: SimulatedLaneFactory<S> | undefined,
): Promise<LaneHardware<S>> {
  if (lane.devices === 'sim') {
    if (!simulator) {
      throw new Error(
        `lane ${lane.id} is configured devices: 'sim', but this process was composed without a simulator`,
      );
    }
    return simulator(lane, ctx);
  }
  const devices = await createLaneDevices(lane.devices, {
    laneId: lane.id,
    clock: ctx.clock,
    logger: ctx.logger,
    timers: ctx.timers,
  });
  return { devices, sim: null, close: () => closeLaneDevices(devices) };
}

/** Closes every lane's devices; one failing does not keep the others open. */
export async function closeLaneHardware(
  hardware: Iterable<LaneHardware<unknown>>,
  logger: Logger,
): Promise<void> {
  const results = await Promise.allSettled([...hardware].map((h) => h.close()));
  for (const r of results) {
    if (r.status === 'rejected') logger.error({ err: r.reason }, 'closing lane devices failed');
  }
}
