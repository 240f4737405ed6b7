import type { Clock } from '../protocol/clock.js';
import type { Lane } from './lane/lane.js';
import type { GateLedger } from './store/ledger.js';
import type { Command } from './sync/ports.js';

export type CommandResult = { ok: boolean; detail: string };

/** Executes a cloud operator's command (open a lane, reset anti-passback) on this lot. */
export function commandHandler(deps: {
  lanes: ReadonlyMap<string, Lane>;
  ledger: Pick<GateLedger, 'resetPassback'>;
  clock: Clock;
}): (command: Command) => Promise<CommandResult> {
  const { lanes, ledger, clock } = deps;
  return async (command) => {
    if (command.kind === 'open_lane') {
      const lane = lanes.get(command.laneId);
      if (!lane) return { ok: false, detail: `no lane ${command.laneId}` };
      return lane.manualOpen({
        attendant: command.by || 'cloud',
        reason: command.reason,
        commandId: command.commandId,
      });
    }
    const result = ledger.resetPassback({
      atMs: clock.now(),
      reservationId: command.reservationId,
      attendant: command.by || 'cloud',
      reason: command.reason,
      commandId: command.commandId,
    });
    if (result === null) return { ok: false, detail: `no reservation ${command.reservationId} at this lot` };
    return {
      ok: true,
      detail: result.closedSessionId ? `closed session ${result.closedSessionId}` : 'reset',
    };
  };
}
