create table lots (
  id text primary key,
  name text not null,
  time_zone text not null,
  lat double precision not null check (lat between -90 and 90),
  lng double precision not null check (lng between -180 and 180),
  rates jsonb not null,
  policy jsonb not null,
  -- Slot index of bit 0 in every spot bitmap of this lot. Never changes after creation.
  base_slot bigint not null,
  -- Configuration version, bumped on every change (what the edge compares).
  version integer not null default 1,
  created_by text references users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Operators and attendants of a lot.
create table lot_staff (
  lot_id text not null references lots (id) on delete cascade,
  user_id text not null references users (id) on delete cascade,
  primary key (lot_id, user_id)
);
create index lot_staff_user on lot_staff (user_id);

create table spots (
  lot_id text not null references lots (id) on delete cascade,
  id text not null,
  label text not null,
  level text not null,
  type text not null check (type in ('car', 'motorcycle', 'van', 'ev', 'accessible')),
  pool text not null check (pool in ('bookable', 'driveup')),
  -- Occupancy bitmap: character i (position i + 1) is slot lots.base_slot + i, '1' = held.
  -- Bits past the end are free. Read and written only through protocol/bitmap.ts.
  bits bit varying not null default B'',
  primary key (lot_id, id),
  unique (lot_id, label)
);
create index spots_eligible on spots (lot_id, pool, type);

-- Transactional outbox for the edges: every reservation change appends a row in its own
-- transaction; the row gets the lot's next gapless seq AT COMMIT, from a deferred constraint
-- trigger. Taking the lot_seq row lock that late means it is held only for the commit itself,
-- not across the client's round trips, so one busy lot is not serialised on network latency.
create table lot_seq (
  lot_id text primary key references lots (id) on delete cascade,
  seq bigint not null default 0
);

create table lot_changes (
  id bigserial primary key,
  lot_id text not null references lots (id) on delete cascade,
  -- Null only inside the writing transaction; every committed row has its seq.
  seq bigint,
  at timestamptz not null,
  reason text not null,
  reservation jsonb not null,
  unique (lot_id, seq)
);

create function lot_changes_assign_seq() returns trigger language plpgsql as $$
declare
  next_seq bigint;
begin
  update lot_seq set seq = seq + 1 where lot_id = new.lot_id returning seq into next_seq;
  if next_seq is null then
    raise exception 'lot % has no change sequence', new.lot_id;
  end if;
  update lot_changes set seq = next_seq where id = new.id;
  -- Wakes the relay; it also polls, so a lost notification only delays.
  perform pg_notify('lot_changes', new.lot_id);
  return null;
end
$$;

-- Deferred triggers fire at commit in the order the rows were inserted.
create constraint trigger lot_changes_assign_seq after insert on lot_changes
  deferrable initially deferred for each row execute function lot_changes_assign_seq();
