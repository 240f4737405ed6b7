import type { RatePlanInput } from '../protocol/rate-plan.js';

/**
 * The demo lots' rate plans (docs/pricing.md): a day band, an early bird and an evening flat each,
 * so the traffic generator's drive-ups and bookings show itemised, time-of-day prices. No free
 * minutes: the demo's stays last minutes, and every drive-up should pay something at the exit.
 */

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'] as const;

export const RIVERSIDE_PLAN: RatePlanInput = {
  currency: 'EUR',
  hourlyRate: 200,
  freeMinutes: 0,
  graceMinutes: 5,
  dailyMax: 2400,
  lostTicketFee: 4800,
  rules: [
    {
      kind: 'band',
      name: 'Daytime',
      days: [...WEEKDAYS, 'sat'],
      from: '08:00',
      to: '19:00',
      hourlyRate: 300,
    },
    {
      kind: 'early_bird',
      name: 'Early bird',
      days: [...WEEKDAYS],
      enterFrom: '06:00',
      enterBefore: '09:30',
      leaveAfter: '15:00',
      price: 1200,
    },
    { kind: 'evening', name: 'Evening & overnight', enterFrom: '18:00', leaveBefore: '08:00', price: 800 },
  ],
};

export const CENTRAL_PLAN: RatePlanInput = {
  currency: 'EUR',
  hourlyRate: 300,
  freeMinutes: 0,
  graceMinutes: 5,
  dailyMax: 3600,
  lostTicketFee: 7200,
  rules: [
    { kind: 'band', name: 'Daytime', days: [...WEEKDAYS], from: '07:00', to: '20:00', hourlyRate: 450 },
    { kind: 'band', name: 'Saturday shopping', days: ['sat'], from: '09:00', to: '18:00', hourlyRate: 400 },
    {
      kind: 'early_bird',
      name: 'Early bird',
      days: [...WEEKDAYS],
      enterFrom: '06:00',
      enterBefore: '09:00',
      leaveAfter: '16:00',
      price: 1800,
    },
    { kind: 'evening', name: 'Theatre evening', enterFrom: '17:30', leaveBefore: '07:00', price: 1000 },
  ],
  vehicleTypes: { motorcycle: { hourlyRate: 150, dailyMax: 1000 } },
};
