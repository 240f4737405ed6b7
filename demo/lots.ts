import type { LotPolicy, Spot, VehicleType } from '../protocol/domain.js';
import type { RatePlanInput } from '../protocol/rate-plan.js';
import { CENTRAL_PLAN, RIVERSIDE_PLAN } from './rate-plans.js';

/**
 * The two demo lots `npm start` runs: a small surface lot (40 spots, one level) and a larger garage
 * (200 spots over three levels). Each has an entry and an exit lane on simulated hardware and one
 * attendant account. Spot ids and labels are stable, so a restart without --reset finds the same lot.
 */

export interface DemoLot {
  id: string;
  name: string;
  timeZone: string;
  location: { lat: number; lng: number };
  rates: { currency: string; hourlyRate: number; dailyMax: number | null; dynamicPricing: null };
  /** The lot's rate plan (demo/rate-plans.ts); `rates` stays as the card it replaces. */
  ratePlan: RatePlanInput;
  policy: Partial<LotPolicy>;
  spots: Spot[];
  /** All simulated: the demo has no real barriers (the edge says so at start-up). */
  lanes: Array<{ id: string; name: string; direction: 'entry' | 'exit'; devices: 'sim' }>;
  attendant: { username: string; password: string; displayName: string };
}

interface SpotBlock {
  count: number;
  type: VehicleType;
  pool: 'bookable' | 'driveup' | 'permit';
}

function spots(levels: Array<{ level: string; prefix: string; blocks: SpotBlock[] }>): Spot[] {
  const out: Spot[] = [];
  for (const { level, prefix, blocks } of levels) {
    let n = 0;
    for (const block of blocks) {
      for (let i = 0; i < block.count; i++) {
        n++;
        const label = `${prefix}${String(n).padStart(3, '0')}`;
        out.push({ id: label, label, level, type: block.type, pool: block.pool });
      }
    }
  }
  return out;
}

const POLICY: Partial<LotPolicy> = {
  earlyArrivalMinutes: 15,
  exitGraceMinutes: 10,
  antiPassback: 'hard',
  plateMinConfidence: 0.8,
  holdMinutes: 15,
};

export const DEMO_LOTS: readonly DemoLot[] = [
  {
    id: 'lot-riverside',
    name: 'Riverside (40 spots)',
    timeZone: 'Europe/Amsterdam',
    location: { lat: 52.3702, lng: 4.8952 },
    rates: { currency: 'EUR', hourlyRate: 300, dailyMax: 2400, dynamicPricing: null },
    ratePlan: RIVERSIDE_PLAN,
    policy: POLICY,
    spots: spots([
      {
        level: '0',
        prefix: 'R-',
        blocks: [
          { count: 2, type: 'accessible', pool: 'bookable' },
          { count: 4, type: 'ev', pool: 'bookable' },
          { count: 18, type: 'car', pool: 'bookable' },
          { count: 8, type: 'car', pool: 'driveup' },
          // Held for permit holders (demo/permits.ts, docs/permits.md).
          { count: 4, type: 'car', pool: 'permit' },
          { count: 4, type: 'motorcycle', pool: 'driveup' },
        ],
      },
    ]),
    lanes: [
      { id: 'riverside-in', name: 'River Street', direction: 'entry', devices: 'sim' },
      { id: 'riverside-out', name: 'River Street', direction: 'exit', devices: 'sim' },
    ],
    attendant: { username: 'riverside', password: 'attendant-riverside', displayName: 'Riverside attendant' },
  },
  {
    id: 'lot-central',
    name: 'Central Garage (200 spots)',
    timeZone: 'Europe/Amsterdam',
    location: { lat: 52.3791, lng: 4.9003 },
    rates: { currency: 'EUR', hourlyRate: 450, dailyMax: 3600, dynamicPricing: null },
    ratePlan: CENTRAL_PLAN,
    policy: POLICY,
    spots: spots([
      {
        level: '-1',
        prefix: 'B-',
        blocks: [
          { count: 10, type: 'ev', pool: 'bookable' },
          { count: 8, type: 'van', pool: 'bookable' },
          { count: 52, type: 'car', pool: 'bookable' },
        ],
      },
      {
        level: '0',
        prefix: 'G-',
        blocks: [
          { count: 6, type: 'accessible', pool: 'bookable' },
          { count: 24, type: 'car', pool: 'bookable' },
          { count: 30, type: 'car', pool: 'driveup' },
          { count: 10, type: 'motorcycle', pool: 'driveup' },
        ],
      },
      {
        level: '1',
        prefix: 'U-',
        blocks: [
          { count: 20, type: 'car', pool: 'bookable' },
          { count: 34, type: 'car', pool: 'driveup' },
          { count: 6, type: 'car', pool: 'permit' },
        ],
      },
    ]),
    lanes: [
      { id: 'central-in', name: 'Dam Square ramp', direction: 'entry', devices: 'sim' },
      { id: 'central-out', name: 'Dam Square ramp', direction: 'exit', devices: 'sim' },
    ],
    attendant: { username: 'central', password: 'attendant-central', displayName: 'Central attendant' },
  },
];

/** Cloud accounts the demo seeds (besides the lots' attendants, who log in at each lot). */
export const DEMO_CLOUD_ACCOUNTS = {
  admin: { email: 'admin@parkedge.demo', password: 'demo-admin-password' },
  operator: { email: 'operator@parkedge.demo', password: 'demo-operator-password' },
  driver: { email: 'driver@parkedge.demo', password: 'demo-driver-password' },
} as const;
