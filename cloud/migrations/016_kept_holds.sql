-- A hold whose payment checkout could not be opened (the provider down or slow) is kept until it
-- expires; this marks it, so only the same request sent again — not any concurrent duplicate —
-- finds it and opens its checkout (cloud/repositories/reservations/booking.ts, keptHold).
alter table reservations add column checkout_failed_at timestamptz;
