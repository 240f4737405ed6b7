// @ts-check
// The lanes as data: the console's copy of each lane's status, and what it implies for the arm.
// Drawing them is lanes.js; this module knows nothing of the page.

/** @import { LaneStatus } from '../types.js' */
/** @import { ConsoleState, LaneView } from './state.js' */

/** Where the arm is while the lane is in a state, when no newer report says otherwise. */
/** @type {Record<string, string>} */
const ARM_BY_STATE = {
  IDLE: 'down',
  IDENTIFYING: 'down',
  REFUSED: 'down',
  OPENING: 'raising',
  OPEN: 'up',
  PASSING: 'up',
  PASSED: 'up',
  CLOSING: 'lowering',
};
/** @type {Record<string, number>} */
const ARM_POSITION = { up: 1, open: 1, raising: 0.5, lowering: 0.5, moving: 0.5 };

/**
 * The lane with this id; a lane first heard of in an event is added (drawn last).
 * @param {ConsoleState} state
 * @param {string} id
 * @returns {LaneView}
 */
export function laneFor(state, id) {
  let lane = state.lanes.get(id);
  if (!lane) {
    lane = { id, name: id, direction: null, state: 'IDLE', display: [], lastRead: null, arm: null };
    state.lanes.set(id, lane);
    state.laneOrder.push(id);
  }
  return lane;
}

/** @param {{ name?: string, id?: string } | null | undefined} lane */
export function laneName(lane) {
  return lane?.name || lane?.id || 'lane';
}

/**
 * "Entry riverside-in", "Exit riverside-out": what the lane does, then which one it is.
 * @param {{ name?: string, id?: string, direction?: LaneStatus['direction'] | null } | null | undefined} lane
 */
export function laneLabel(lane) {
  const word = lane?.direction === 'entry' ? 'Entry' : lane?.direction === 'exit' ? 'Exit' : 'Lane';
  return `${word} ${laneName(lane)}`;
}

/**
 * Forget the lanes we had and take the server's list (start, reconnect).
 * @param {ConsoleState} state
 * @param {LaneStatus[]} list
 */
export function replaceLanes(state, list) {
  state.lanes.clear();
  state.laneOrder = [];
  for (const raw of list) {
    if (!raw.id) continue;
    Object.assign(laneFor(state, raw.id), {
      name: raw.name || raw.id,
      direction: raw.direction ?? null,
      state: raw.state ?? 'IDLE',
      display: raw.display ?? [],
      lastRead: raw.lastRead ?? null,
      arm: raw.arm ?? null,
      limits: raw.limits ?? null,
      armDerived: false,
      devices: raw.devices ?? null,
    });
  }
}

/**
 * The arm as the lane reports it (commanded position + limit switches), else what the lane state implies.
 * @param {LaneView} lane
 * @returns {{ word: string, position: number }} position: 0 down … 1 up
 */
export function armOf(lane) {
  const a = lane.arm;
  if (!lane.armDerived && a && lane.limits) {
    if (a === 'up')
      return lane.limits.open ? { word: 'up', position: 1 } : { word: 'raising', position: 0.5 };
    return lane.limits.closed ? { word: 'down', position: 0 } : { word: 'lowering', position: 0.5 };
  }
  const word = a && !lane.armDerived ? a : (ARM_BY_STATE[lane.state] ?? 'down');
  return { word, position: ARM_POSITION[word] ?? 0 };
}

/** @param {number | undefined} c 0…1 */
export function confidenceText(c) {
  return typeof c === 'number' ? `${Math.round(c * 100)}%` : '';
}
