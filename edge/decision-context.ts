import type { Connectivity } from './connectivity.js';
import type { DecisionContext } from './lane/decision.js';
import type { OnlineHooks } from './lane/types.js';
import { timeFormatter } from './lane/messages.js';
import type { MirrorStore } from './store/mirror.js';
import type { StoredConfig } from './store/types.js';

interface ContextBase {
  config: StoredConfig;
  spotsById: DecisionContext['spotsById'];
  times: DecisionContext['times'];
  driveupCapacity: number;
  permitCapacity: number;
}

/**
 * What a lane decides with: the stored lot config (and what is derived from it, rebuilt only when
 * the cloud delivers a new version) plus whether overflow can be asked for right now.
 */
export function decisionContexts(deps: {
  mirror: Pick<MirrorStore, 'config' | 'lotIndex'>;
  connectivity: Connectivity;
  hooks: () => OnlineHooks;
}): (lane: { id: string; direction: 'entry' | 'exit' }) => DecisionContext {
  const { mirror, connectivity } = deps;
  let cached: ContextBase | null = null;
  const contextBase = (): ContextBase => {
    const current = mirror.config();
    if (cached?.config !== current) {
      cached = {
        config: current,
        spotsById: new Map(current.lot.spots.map((s) => [s.id, s])),
        times: timeFormatter(current.lot.timeZone),
        driveupCapacity: mirror.lotIndex().driveupCount,
        permitCapacity: mirror.lotIndex().permitCount,
      };
    }
    return cached;
  };
  return (lane) => {
    const b = contextBase();
    return {
      lot: b.config.lot,
      publicKeys: b.config.publicKeys,
      laneId: lane.id,
      direction: lane.direction,
      overflowAvailable: connectivity.online && deps.hooks().requestOverflow !== undefined,
      driveupCapacity: b.driveupCapacity,
      permitCapacity: b.permitCapacity,
      spotsById: b.spotsById,
      times: b.times,
    };
  };
}
