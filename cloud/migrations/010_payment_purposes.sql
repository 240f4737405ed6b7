-- Payments for more than a booking's capture, overstay and one refund: exit fees and debt
-- settlements (no reservation), cash taken at the lane, several partial refunds of one payment.
-- Every payment row names its lot, what it paid (`reference`, the same opaque text the payment
-- provider's checkout was opened with) and, for refunds and cash, why and who.
alter table payments alter column reservation_id drop not null;
alter table payments drop constraint payments_reservation_id_kind_key;
-- A booking is captured once and charged for overstay once; refunds may be several.
create unique index payments_once_per_booking on payments (reservation_id, kind)
  where kind in ('capture', 'overstay');

alter table payments drop constraint payments_kind_check;
alter table payments add constraint payments_kind_check
  check (kind in ('capture', 'overstay', 'refund', 'exit', 'debt'));

alter table payments add column lot_id text references lots (id);
update payments p set lot_id = r.lot_id from reservations r where r.id = p.reservation_id;
alter table payments add column method text not null default 'provider'
  check (method in ('provider', 'cash'));
alter table payments add column reference text;
alter table payments add column refund_of text references payments (id);
alter table payments add column reason text;
alter table payments add column actor text;

create index payments_lot_created on payments (lot_id, created_at);
create index payments_refund_of on payments (refund_of) where refund_of is not null;

-- Debts: every fee that was not collected — an exit left unpaid, a failed overstay charge, a fee the
-- lot could not collect — owned by a plate, with its evidence, until it is paid or written off.
create table debts (
  id text primary key,
  plate text not null,
  lot_id text not null references lots (id),
  source text not null check (source in ('unpaid_exit', 'failed_overstay', 'unable_to_collect')),
  -- What the debt came from, unique per lot (the gate event id, the failed payment's id): an event
  -- delivered twice opens one debt.
  source_key text not null,
  reservation_id text references reservations (id),
  lane_id text,
  entered_at timestamptz,
  exited_at timestamptz,
  amount bigint not null check (amount > 0),
  currency text not null,
  status text not null default 'open' check (status in ('open', 'paid', 'written_off')),
  settled_by text,
  settled_reason text,
  settled_at timestamptz,
  created_at timestamptz not null,
  unique (lot_id, source_key)
);
create index debts_open_by_plate on debts (plate) where status = 'open';
create index debts_lot_created on debts (lot_id, created_at);
alter table payments add column debt_id text references debts (id);
