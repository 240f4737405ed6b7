import type { LaneDevices, LaneDriverKit } from '../edge/devices/types.js';
import type { Clock } from '../protocol/clock.js';
import type { Logger } from '../protocol/logger.js';
import type { Random } from '../protocol/random.js';
import type { Timers } from '../protocol/timers.js';
import { createSimLane, type SimLaneControl, type SimLaneOptions } from './lane.js';

/**
 * Simulated lanes for an edge controller: the factory a composer (edge/main.ts, the demo, tests,
 * benchmarks) passes to `createEdge` as `simulator`. The edge calls it for each lane whose config
 * says `devices: 'sim'`, and never imports hardware-sim itself.
 */

/** The fields of an edge lane's config (edge/config.ts LaneSettings) the simulator reads. */
export interface SimLaneRequest {
  id: string;
  sim: { armTravelMs: number; limitSwitches: boolean; camera: boolean; misreadRate: number; qr: boolean };
}

/** What the edge hands every lane it builds. */
export interface SimLaneContext {
  clock: Clock;
  timers: Timers;
  random: Random;
  logger: Logger;
}

export interface SimulatedLane {
  devices: LaneDevices;
  sim: SimLaneControl;
  close(): Promise<void>;
}

export type SimLaneFactory = (lane: SimLaneRequest, ctx: SimLaneContext) => Promise<SimulatedLane>;

/** Knobs the lane config does not carry (faster hardware for process tests, for instance). */
export type SimLaneOverrides = Partial<
  Omit<SimLaneOptions, 'laneId' | 'drivers' | 'clock' | 'random' | 'logger' | 'camera'>
> & { camera?: Exclude<SimLaneOptions['camera'], false> };

export function simLaneFactory(options: {
  /** The real drivers the sim lanes run (edge/devices/factory.ts simulatedLibraryDrivers). */
  drivers: LaneDriverKit;
  overrides?: SimLaneOverrides;
}): SimLaneFactory {
  const { drivers, overrides = {} } = options;
  return async (lane, ctx) => {
    const { camera: cameraOverrides, ...rest } = overrides;
    const { devices, sim } = await createSimLane({
      laneId: lane.id,
      drivers,
      // the simulator's clock: the edge's time, and timers that move with it
      clock: {
        now: () => ctx.clock.now(),
        setTimeout: ctx.timers.setTimeout,
        clearTimeout: ctx.timers.clearTimeout,
      },
      random: ctx.random,
      logger: ctx.logger,
      armTravelMs: lane.sim.armTravelMs,
      limitSwitches: lane.sim.limitSwitches,
      camera: lane.sim.camera ? { misreadRate: lane.sim.misreadRate, ...cameraOverrides } : false,
      qr: lane.sim.qr,
      ...rest,
    });
    return { devices, sim, close: () => sim.close() };
  };
}
