import { formatMoney, type Money } from '../../protocol/money.js';

/**
 * What the lane display says, in words a driver understands. One place, so the attendant UI,
 * the tests and the signs agree. Times are shown in the lot's time zone.
 */
export interface TimeFormatter {
  /** "14:00", or "Sat 12 Apr 14:00" when the instant is not on the same local day as `nowMs`. */
  time(epochMs: number, nowMs: number): string;
}

export function timeFormatter(timeZone: string): TimeFormatter {
  const hm = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const day = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  const long = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  return {
    time: (epochMs, nowMs) =>
      day.format(epochMs) === day.format(nowMs) ? hm.format(epochMs) : long.format(epochMs),
  };
}

export const messages = {
  idleEntry: (): string[] => ['Welcome', 'Drive up to the barrier'],
  idleExit: (): string[] => ['Drive up to the barrier'],
  reading: (): string[] => ['Reading your plate…'],
  welcomeBay: (label: string): string[] => [`Welcome — bay ${label}`],
  welcome: (): string[] => ['Welcome'],
  welcomeDriveup: (): string[] => ['Welcome', 'Pay on exit'],
  startsAt: (time: string): string[] => [`Reservation starts at ${time}`, 'Please come back then'],
  endedAt: (time: string): string[] => [`Reservation ended at ${time}`, 'Please see attendant'],
  full: (): string[] => ['Lot full', 'Sorry'],
  seeAttendant: (): string[] => ['Please see attendant'],
  alreadyInside: (): string[] => ['Already inside', 'Please see attendant'],
  alreadyUsed: (): string[] => ['Reservation already used', 'Please see attendant'],
  cancelled: (): string[] => ['Reservation cancelled', 'Please see attendant'],
  notConfirmed: (): string[] => ['Reservation not paid', 'Please see attendant'],
  invalidQr: (): string[] => ['QR code not valid', 'Please see attendant'],
  otherLot: (): string[] => ['QR code is for another car park'],
  scanQr: (): string[] => ['Please scan your QR code'],
  noBookingFound: (plate: string): string[] => [`No booking for ${plate}`, 'Scan QR code or wait'],
  oneMoment: (): string[] => ['One moment please…'],
  goodbye: (): string[] => ['Goodbye'],
  goodbyePaid: (m: Money): string[] => [`Goodbye — ${formatMoney(m)} paid`],
  goodbyeOwed: (m: Money): string[] => [`Goodbye — ${formatMoney(m)} to pay`, 'We will send you the bill'],
  manualOpen: (): string[] => ['Opened by attendant'],
  owes: (m: Money): string[] => [`Owes ${formatMoney(m)} — please pay`],
  owesRefused: (m: Money, payUrl: string | null): string[] => [
    `Owes ${formatMoney(m)}`,
    payUrl === null ? 'Please see attendant' : `Pay at ${payUrl} or see attendant`,
  ],
  laneFault: (): string[] => ['Lane fault', 'Please see attendant'],
} as const;
