import type { CloudApi } from './cloud-api.js';
import { CloudApiError } from './cloud-api.js';

/**
 * The demo's contract parkers (docs/permits.md): a few permits per lot, issued through the public
 * API when the demo seeds the cloud. The traffic generator drives their plates in and out — also
 * while Riverside's link is cut, so a new user can watch a permit holder enter offline.
 */

export interface DemoPermit {
  lotId: string;
  holder: string;
  plates: string[];
  /** Weekday bands in the lot's time zone; [] = any time. */
  accessHours: Array<{ days: number[]; from: string; to: string }>;
  maxInside: number;
  price: { amount: number; currency: string };
}

const ALWAYS: DemoPermit['accessHours'] = [];

export const DEMO_PERMITS: readonly DemoPermit[] = [
  {
    lotId: 'lot-riverside',
    holder: 'Riverside Bakery',
    plates: ['RV-PM-01'],
    accessHours: ALWAYS,
    maxInside: 1,
    price: { amount: 9000, currency: 'EUR' },
  },
  {
    lotId: 'lot-riverside',
    holder: 'Canal Dental',
    plates: ['RV-PM-02', 'RV-PM-03'],
    accessHours: ALWAYS,
    maxInside: 1,
    price: { amount: 9500, currency: 'EUR' },
  },
  {
    lotId: 'lot-riverside',
    holder: 'J. de Vries',
    plates: ['RV-PM-04'],
    accessHours: ALWAYS,
    maxInside: 1,
    price: { amount: 7500, currency: 'EUR' },
  },
  {
    lotId: 'lot-central',
    holder: 'Dam Square Offices',
    plates: ['CG-PM-01', 'CG-PM-02', 'CG-PM-03'],
    accessHours: ALWAYS,
    maxInside: 2,
    price: { amount: 24000, currency: 'EUR' },
  },
  {
    lotId: 'lot-central',
    holder: 'Hotel Centraal',
    plates: ['CG-PM-04'],
    accessHours: ALWAYS,
    maxInside: 1,
    price: { amount: 12000, currency: 'EUR' },
  },
];

/** Plates the traffic generator may drive in as permit holders at a lot. */
export function permitPlatesOf(lotId: string): string[] {
  return DEMO_PERMITS.filter((p) => p.lotId === lotId).flatMap((p) => p.plates);
}

/**
 * Issue the permits a lot does not hold yet (a restart keeps the ones it has: a plate that already
 * holds one is a 409, skipped). Valid from yesterday for a year.
 */
export async function seedPermits(
  operator: CloudApi,
  lotIds: readonly string[],
  nowMs: number,
): Promise<number> {
  let issued = 0;
  for (const p of DEMO_PERMITS) {
    if (!lotIds.includes(p.lotId)) continue;
    try {
      await operator.request('POST', `/v1/lots/${p.lotId}/permits`, {
        holder: p.holder,
        plates: p.plates,
        validFrom: new Date(nowMs - 86_400_000).toISOString(),
        validTo: new Date(nowMs + 365 * 86_400_000).toISOString(),
        accessHours: p.accessHours,
        maxInside: p.maxInside,
        price: p.price,
        period: 'month',
      });
      issued++;
    } catch (err) {
      if (!(err instanceof CloudApiError && err.status === 409)) throw err;
    }
  }
  return issued;
}
