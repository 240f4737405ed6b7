-- reserve_hold (migration 006) takes the spots the cloud's in-memory bitmaps call free for the window
-- (`p_candidates`, a handful) and tries them first, by primary key, before scanning the lot; and it
-- refuses a plate with open debt itself ('owing'), so a booking is one statement (the route used to
-- read the plate's debts first: one more round trip, and a debt opened in between went unseen).
--
-- Why: the scan reads spots in storage order until one is free for the window -- in a lot that is
-- 95 % booked for that window it reads most of the lot's bitmaps on every booking, so the cost of a
-- booking grew with the lot's size and fullness. The candidates come from the capacity snapshot
-- (cloud/repositories/reservations/capacity.ts, at most about a second old, started at a different
-- spot for every booking so concurrent bookers do not reach for the same rows). They are hints: each
-- is checked under its row lock exactly as a scanned spot is, and when none of them is free any more
-- (taken meanwhile, or no snapshot yet) the scan runs as before. Outcomes are unchanged.

drop function reserve_hold(integer, integer, text, text[], integer, integer, text, timestamptz, timestamptz,
  text, text, text, text, text, bigint, text, timestamptz, timestamptz, text, jsonb);

create function reserve_hold(
  p_lock_class integer,
  p_lock_object integer,
  p_lot text,
  p_types text[],
  p_from1 integer,
  p_len integer,
  p_plate text,
  p_start timestamptz,
  p_end timestamptz,
  p_id text,
  p_user text,
  p_kind text,
  p_vehicle text,
  p_status text,
  p_price bigint,
  p_currency text,
  p_hold_expires timestamptz,
  p_now timestamptz,
  p_reason text,
  p_change jsonb,
  p_candidates text[]
) returns table (outcome text, spot_id text, spot_label text, slice text)
language plpgsql as $$
declare
  c_id text;
  s_id text;
  s_label text;
  s_slice text;
  need integer := p_from1 + p_len - 1;
begin
  -- One car, one reservation: bookings of one plate queue here, so the check below sees every
  -- committed booking of the plate.
  perform pg_advisory_xact_lock(p_lock_class, p_lock_object);
  -- A plate with open debt cannot book (cloud/debts/blocking.ts builds the refusal with what it
  -- owes): checked here, in the same statement, instead of by a read before it.
  if exists (select 1 from debts d where d.plate = p_plate and d.status = 'open') then
    return query select 'owing'::text, null::text, null::text, null::text;
    return;
  end if;
  if exists (
    select 1 from reservations r where r.plate = p_plate
      and r.status in ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')
      and r.during && tstzrange(p_start, p_end, '[)')
  ) then
    return query select 'clash'::text, null::text, null::text, null::text;
    return;
  end if;
  -- First the spots the cloud's memory calls free (a handful, by primary key): the common case
  -- costs the same in a lot of 50 spots or 5,000, however full. They are hints only: each is
  -- checked here, under its row lock, like any other candidate.
  -- One primary-key lookup per candidate (a plan PostgreSQL caches; `id = any(...)` was re-planned
  -- on every call, 0.14 ms against 0.03 for the whole scan of an empty lot).
  foreach c_id in array coalesce(p_candidates, '{}'::text[]) loop
    select sp.id, sp.label, substring(sp.bits from p_from1 for p_len)::text
      into s_id, s_label, s_slice
      from spots sp
      where sp.lot_id = p_lot and sp.id = c_id and sp.pool = 'bookable' and sp.type = any(p_types)
        and strpos(substring(sp.bits from p_from1 for p_len)::text, '1') = 0
      for update skip locked;
    exit when s_id is not null;
  end loop;
  -- Otherwise any free spot nobody else holds; only when every free one is locked, wait for them
  -- (they may roll back; PostgreSQL rechecks the condition on the row version it finally locks).
  if s_id is null then
    select sp.id, sp.label, substring(sp.bits from p_from1 for p_len)::text
      into s_id, s_label, s_slice
      from spots sp
      where sp.lot_id = p_lot and sp.pool = 'bookable' and sp.type = any(p_types)
        and strpos(substring(sp.bits from p_from1 for p_len)::text, '1') = 0
      limit 1 for update skip locked;
  end if;
  if s_id is null then
    select sp.id, sp.label, substring(sp.bits from p_from1 for p_len)::text
      into s_id, s_label, s_slice
      from spots sp
      where sp.lot_id = p_lot and sp.pool = 'bookable' and sp.type = any(p_types)
        and strpos(substring(sp.bits from p_from1 for p_len)::text, '1') = 0
      limit 1 for update;
  end if;
  if s_id is null then
    return query select 'full'::text, null::text, null::text, null::text;
    return;
  end if;
  update spots sp set bits = overlay(
      (case when length(sp.bits) < need then sp.bits || repeat('0', need - length(sp.bits))::varbit
            else sp.bits end)
      placing repeat('1', p_len)::varbit from p_from1)
    where sp.lot_id = p_lot and sp.id = s_id;
  insert into reservations (id, lot_id, spot_id, spot_label, user_id, kind, vehicle_type, plate, start_at,
      end_at, status, price_amount, currency, hold_expires_at, created_at, updated_at)
    values (p_id, p_lot, s_id, s_label, p_user, p_kind, p_vehicle, p_plate, p_start, p_end, p_status,
      p_price, p_currency, p_hold_expires, p_now, p_now);
  insert into lot_changes (lot_id, at, reason, reservation)
    values (p_lot, p_now, p_reason,
      p_change || jsonb_build_object('spotId', s_id, 'spotLabel', s_label));
  return query select 'held'::text, s_id, s_label, s_slice;
end
$$;
