import {
  type AnyReport,
  OCCUPANCY_POOLS,
  type OccupancyFigures,
  type RevenueFigures,
} from '../../protocol/reports.js';

/**
 * A report as CSV (RFC 4180: comma-separated, CRLF line ends, a header row): one row per bucket —
 * per bucket and currency for money reports, so a lot with one currency gets one row per bucket.
 * Money is in integer minor units, as in the JSON.
 */
export function reportCsv(report: AnyReport): string {
  const table = rowsOf(report);
  return `${table.map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

type Cell = string | number | null;

function cell(v: Cell): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const BASE = ['start', 'end', 'hours'];
const occ = (f: OccupancyFigures): Cell[] => [f.max, f.average, f.atEnd];
const MONEY: ReadonlyArray<Exclude<keyof RevenueFigures, 'currency'>> = [
  'bookings',
  'overstay',
  'cash',
  'refunds',
  'net',
  'gateCharges',
  'owed',
];

function rowsOf(report: AnyReport): Cell[][] {
  switch (report.report) {
    case 'occupancy':
      return [
        [
          ...BASE,
          'max',
          'average',
          'at_end',
          ...OCCUPANCY_POOLS.flatMap((p) => [`${p}_max`, `${p}_average`, `${p}_at_end`]),
        ],
        ...report.buckets.map((b) => [
          b.start,
          b.end,
          b.hours,
          ...occ(b.vehicles),
          ...OCCUPANCY_POOLS.flatMap((p) => occ(b.pools[p])),
        ]),
      ];
    case 'usage':
      return [
        [...BASE, 'arrivals', 'departures', 'average_stay_minutes'],
        ...report.buckets.map((b) => [
          b.start,
          b.end,
          b.hours,
          b.arrivals,
          b.departures,
          b.averageStayMinutes,
        ]),
      ];
    case 'revenue':
      return [
        [...BASE, 'currency', ...MONEY.map(snake)],
        ...report.buckets.flatMap((b) =>
          b.currencies.map((c) => [b.start, b.end, b.hours, c.currency, ...MONEY.map((k) => c[k])]),
        ),
      ];
    case 'no-shows':
      return [
        [...BASE, 'currency', 'no_shows', 'forfeited'],
        ...report.buckets.flatMap((b) =>
          b.currencies.map((c) => [b.start, b.end, b.hours, c.currency, c.noShows, c.forfeited]),
        ),
      ];
  }
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
