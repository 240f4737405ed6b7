// @ts-check
// The console's state: one object, made by the composition root (app.js) and handed to every section
// inside `ctx`. Sections keep nothing of their own at module level.

/** @import { Api } from './api.js' */
/** @import { AlarmView, ConnectivityReply, LaneStatus, MeReply, OccupancyReply, SessionView } from '../types.js' */

/**
 * A lane as the console draws it: the server's lane status, kept up to date by pushed events.
 * @typedef {object} LaneView
 * @property {string} id
 * @property {string} name
 * @property {LaneStatus['direction'] | null} direction
 * @property {string} state
 * @property {string[]} display
 * @property {LaneStatus['lastRead']} lastRead
 * @property {LaneStatus['arm'] | null} arm commanded arm position as last reported
 * @property {LaneStatus['limits'] | null} [limits]
 * @property {boolean} [armDerived] true once a lane event moved the state past the reported arm
 * @property {Record<string, string> | null} [devices] device name → health
 */

/**
 * The lot the console belongs to (header, simulated-hardware banner).
 * @typedef {object} LotView
 * @property {string} [id]
 * @property {string} [name]
 * @property {string} [currency] the lot's currency (its rate card), for amounts sent without one
 * @property {string[]} [simulatedLanes]
 */

/**
 * @typedef {object} LinkView
 * @property {ConnectivityReply['state'] | 'unknown'} state
 * @property {string | null} since
 * @property {number | null} outboxDepth
 */

/**
 * The reason dialog's pending action (manual-open has its own dialog).
 * @typedef {object} ReasonAction
 * @property {(text: string) => Promise<void>} run
 * @property {boolean} optional
 */

/**
 * @typedef {object} CashTarget
 * @property {SessionView} session
 * @property {() => void} onPaid
 */

/**
 * @typedef {object} ConsoleState
 * @property {MeReply | null} me
 * @property {LotView | null} lot
 * @property {Map<string, LaneView>} lanes
 * @property {string[]} laneOrder
 * @property {OccupancyReply | null} occupancy
 * @property {LinkView} link
 * @property {AlarmView[]} alarms
 * @property {boolean} showAllAlarms
 * @property {EventSource | null} stream
 * @property {boolean} streamWasOpen
 * @property {string | null} openLaneId
 * @property {CashTarget | null} cashTarget
 * @property {ReasonAction | null} reasonAction
 * @property {{ by: string, q: string } | null} lastLookup
 * @property {ReturnType<typeof setTimeout> | null} occupancyRefresh
 * @property {{ key: string, at: number } | null} ownAudit our last action, to recognise its pushed audit entry
 */

/**
 * Everything a section needs, passed in: no section reaches for a global of its own.
 * @typedef {object} Ctx
 * @property {Api} api
 * @property {ConsoleState} state
 * @property {() => number} now wall-clock milliseconds
 * @property {(text: string, kind?: 'info' | 'error') => void} toast
 */

/** @returns {ConsoleState} */
export function createState() {
  return {
    me: null,
    lot: null,
    lanes: new Map(),
    laneOrder: [],
    occupancy: null,
    link: { state: 'unknown', since: null, outboxDepth: null },
    alarms: [],
    showAllAlarms: false,
    stream: null,
    streamWasOpen: false,
    openLaneId: null,
    cashTarget: null,
    reasonAction: null,
    lastLookup: null,
    occupancyRefresh: null,
    ownAudit: null,
  };
}
