-- Permits (contract parking, docs/permits.md). A permit parks in the lot's `permit` pool: spots the
-- cloud never assigns to bookings and the edge never gives to drive-ups, so a permit holder admitted
-- offline can never take a sold booking's space.
-- A spot removed while reservations of the past still name it stays as `removed`: never sold, never
-- shipped to the edge, kept for those rows (docs/permits.md#changing-a-lot).
alter table spots drop constraint spots_pool_check;
alter table spots add constraint spots_pool_check
  check (pool in ('bookable', 'driveup', 'permit', 'removed'));

create table permits (
  id text primary key,
  lot_id text not null references lots (id) on delete cascade,
  holder text not null,
  -- Normalised plates (protocol/plates.ts), 1 to 5.
  plates text[] not null check (cardinality(plates) between 1 and 5),
  valid_from timestamptz not null,
  valid_to timestamptz not null,
  -- [{days: [1..7], from: 'HH:MM', to: 'HH:MM'}] in the lot's time zone; [] = any time.
  access_hours jsonb not null default '[]',
  max_inside integer not null check (max_inside between 1 and 50),
  price_amount bigint not null check (price_amount >= 0),
  currency text not null,
  period text not null check (period in ('week', 'month', 'quarter', 'year')),
  status text not null check (status in ('active', 'suspended', 'cancelled')),
  version integer not null default 1,
  created_by text references users (id),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check (valid_to > valid_from)
);
create index permits_lot on permits (lot_id, valid_to);

-- One permit per plate and lot at a time: a row per plate of every permit that is not cancelled;
-- the exclusion constraint refuses a second one whose validity overlaps, also under concurrency.
create table permit_plates (
  permit_id text not null references permits (id) on delete cascade,
  lot_id text not null,
  plate text not null,
  during tstzrange not null,
  primary key (permit_id, plate),
  exclude using gist (lot_id with =, plate with =, during with &&)
);

-- The change log carries permits too: a row has a reservation or a permit (their full new state).
alter table lot_changes alter column reservation drop not null;
alter table lot_changes add column permit jsonb;
alter table lot_changes add constraint lot_changes_one_subject
  check ((reservation is null) <> (permit is null));

-- Changing a booking (docs/permits.md#changing-a-booking): the price difference of an extension is
-- charged to the stored method and recorded as a `change` payment (a shortening is a `refund`).
alter table payments drop constraint payments_kind_check;
alter table payments add constraint payments_kind_check
  check (kind in ('capture', 'overstay', 'refund', 'exit', 'debt', 'change'));
