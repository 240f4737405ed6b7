-- A lot's rate plan (docs/pricing.md): ordered, readable rules that price a stay. Null: the lot is
-- priced by its `rates` card alone (hourly per started 15 minutes, daily maximum), exactly as before.
alter table lots add column rate_plan jsonb;

-- Merchant validations (docs/pricing.md#validations). A `validator` is a user staffed on a lot (a
-- shop, a cinema); what they issue is signed for the edge, which enforces single use; the uses come
-- back with the exit events and are reconciled here.
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
  check (role in ('driver', 'partner', 'attendant', 'operator', 'admin', 'validator'));

create table validations (
  id text primary key,
  lot_id text not null references lots (id) on delete cascade,
  merchant_id text not null references users (id),
  kind text not null check (kind in ('minutes', 'percent', 'flat')),
  value bigint not null check (value >= 0),
  currency text not null,
  issued_at timestamptz not null,
  expires_at timestamptz not null
);
create index validations_lot_merchant on validations (lot_id, merchant_id);

-- One row per exit event that reported a validation; two rows for one validation id is a code used
-- twice (two lots, or two edges, while offline): the report flags it.
create table validation_uses (
  lot_id text not null references lots (id) on delete cascade,
  event_id bigint not null,
  validation_id text not null,
  merchant_id text not null,
  session_id text not null,
  discount_minor bigint not null,
  currency text not null,
  at timestamptz not null,
  primary key (lot_id, event_id)
);
create index validation_uses_validation on validation_uses (validation_id);
