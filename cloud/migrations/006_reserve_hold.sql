-- Reserve in one call: the plate's advisory lock, the plate check, one free eligible spot locked,
-- the window held in its bitmap, the reservation and its change inserted — one function, called as
-- one statement outside any transaction block, so it is its own transaction and its locks (the
-- plate's, the spot row's) are held for microseconds, never across a round trip to the cloud.
--
-- Before, the spot row stayed locked "idle in transaction" while the cloud judged the candidate
-- and sent the insert (the top wait event under load). The bitmap rule is the same one
-- protocol/bitmap.ts applies (a window is free when its slice holds no '1'; bits past the end
-- are free; a hold sets the whole window): SQL proposes, and the cloud checks the slice the
-- function saw with the protocol operations before answering (docs/decisions/0001). The exclusion
-- constraints stay the backstop.
--
-- Outcomes: 'clash' (the plate holds an overlapping active reservation), 'full' (no eligible spot
-- is free), 'held' (with the spot and the window slice as it was before the hold).
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
  p_change jsonb
) returns table (outcome text, spot_id text, spot_label text, slice text)
language plpgsql as $$
declare
  s_id text;
  s_label text;
  s_slice text;
  need integer := p_from1 + p_len - 1;
begin
  -- One car, one reservation: bookings of one plate queue here, so the check below sees every
  -- committed booking of the plate.
  perform pg_advisory_xact_lock(p_lock_class, p_lock_object);
  if exists (
    select 1 from reservations r where r.plate = p_plate
      and r.status in ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')
      and r.during && tstzrange(p_start, p_end, '[)')
  ) then
    return query select 'clash'::text, null::text, null::text, null::text;
    return;
  end if;
  -- A free candidate nobody else holds; only when every free one is locked, wait for them (they
  -- may roll back; PostgreSQL rechecks the condition on the row version it finally locks).
  select sp.id, sp.label, substring(sp.bits from p_from1 for p_len)::text
    into s_id, s_label, s_slice
    from spots sp
    where sp.lot_id = p_lot and sp.pool = 'bookable' and sp.type = any(p_types)
      and strpos(substring(sp.bits from p_from1 for p_len)::text, '1') = 0
    limit 1 for update skip locked;
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
