import type { OpeningRefusal } from '../../protocol/hours.js';
import { localTimeOf } from '../../protocol/hours.js';
import { type Refusal, refuse } from '../errors.js';

/**
 * A booking window the lot is not open for (operating hours, closures; docs/permits.md#changing-a-lot),
 * as a 409 naming the rule, the first closed moment and — for a closure — its reason.
 */
export function closedRefusal(r: OpeningRefusal, timeZone: string): { ok: false; error: Refusal } {
  const t = localTimeOf(r.atMs, timeZone);
  const at = `${t.date} ${String(Math.floor(t.minutes / 60)).padStart(2, '0')}:${String(t.minutes % 60).padStart(2, '0')}`;
  if (r.rule === 'lot_closed') {
    const c = r.closure;
    return refuse(
      409,
      'lot_closed',
      `the lot is closed ${c.from} to ${c.to} (${c.reason}); the window includes ${at}`,
      {
        field: 'body.start',
        rule: 'lot_closed',
      },
    );
  }
  return refuse(
    409,
    'outside_operating_hours',
    `the lot is not open at ${at} (lot time), which the window includes`,
    {
      field: 'body.start',
      rule: 'outside_operating_hours',
    },
  );
}
