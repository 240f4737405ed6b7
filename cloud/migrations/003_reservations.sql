create table reservations (
  id text primary key,
  lot_id text not null references lots (id),
  spot_id text not null,
  spot_label text not null,
  user_id text references users (id),
  kind text not null default 'booking' check (kind in ('booking', 'driveup')),
  vehicle_type text not null,
  plate text not null,
  start_at timestamptz not null,
  end_at timestamptz not null,
  during tstzrange generated always as (tstzrange(start_at, end_at, '[)')) stored,
  status text not null check (
    status in ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN', 'COMPLETED', 'CANCELLED', 'EXPIRED', 'NO_SHOW')
  ),
  price_amount bigint not null check (price_amount >= 0),
  currency text not null,
  hold_expires_at timestamptz,
  payment_ref text,
  stored_method_ref text,
  credential text,
  checked_in_at timestamptz,
  checked_out_at timestamptz,
  overstay_amount bigint,
  refund_amount bigint,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  foreign key (lot_id, spot_id) references spots (lot_id, id),
  check (end_at > start_at),
  -- The second, independent guarantee against double booking: even if the bitmap code were
  -- wrong, two active reservations can never share a spot in overlapping time.
  constraint reservations_no_spot_overlap exclude using gist (lot_id with =, spot_id with =, during with &&)
    where (status in ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN')),
  -- One car, one reservation at a time, in any lot.
  constraint reservations_no_plate_overlap exclude using gist (plate with =, during with &&)
    where (status in ('TENTATIVE', 'CONFIRMED', 'CHECKED_IN'))
);
create index reservations_user on reservations (user_id, created_at desc, id);
create index reservations_lot_status on reservations (lot_id, status, start_at);
create index reservations_lot_created on reservations (lot_id, created_at desc, id);
create index reservations_holds on reservations (hold_expires_at) where status = 'TENTATIVE';
create index reservations_confirmed on reservations (start_at) where status = 'CONFIRMED';

-- Every money movement, at most one of each kind per reservation. Written before the provider is
-- called (pending) and settled after, so a crash in between is retried, never charged twice.
create table payments (
  id text primary key,
  reservation_id text not null references reservations (id),
  kind text not null check (kind in ('capture', 'overstay', 'refund')),
  amount bigint not null check (amount >= 0),
  currency text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  provider_ref text,
  detail text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  unique (reservation_id, kind)
);
create index payments_pending on payments (created_at) where status = 'pending';

-- Idempotency-Key records: the first response to a key, replayed for the same request.
create table idempotency_keys (
  owner text not null,
  key text not null,
  request_hash text not null,
  status_code integer,
  content_type text,
  body text,
  created_at timestamptz not null,
  completed_at timestamptz,
  primary key (owner, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);

-- Facts applied to reservations (check-in, departure, drive-up overflow grant), keyed by their
-- source so that an edge event or request delivered twice, or days late, takes effect exactly once.
create table gate_facts (
  lot_id text not null,
  fact_key text not null,
  kind text not null check (kind in ('arrival', 'departure', 'driveup')),
  reservation_id text,
  outcome jsonb not null,
  at timestamptz not null,
  primary key (lot_id, fact_key)
);
