-- Exit fees paid online (at the exit lane's QR, or on the public pay page before walking back):
-- each checkout the cloud opened, with the amount IT computed from the lot's session data, so the
-- capture is checked against what is owed and never against a client's number. A session may be
-- paid more than once (walked back, paid, stayed longer): each checkout covers the stay up to
-- `covers_until`; the lot learns the total paid per session.
create table exit_checkouts (
  id text primary key,
  -- exit:<lotId>:<sessionId>, the reference the provider's checkout was opened with.
  reference text not null,
  lot_id text not null references lots (id),
  session_id text not null,
  plate text,
  reservation_id text references reservations (id),
  amount bigint not null check (amount > 0),
  currency text not null,
  covers_until timestamptz not null,
  status text not null default 'pending' check (status in ('pending', 'paid')),
  payment_id text references payments (id),
  created_at timestamptz not null,
  paid_at timestamptz
);
create index exit_checkouts_reference on exit_checkouts (reference, created_at);
create index exit_checkouts_lot_paid on exit_checkouts (lot_id, paid_at) where status = 'paid';

-- The provider's capture applied once: a webhook or a return delivered twice records one payment.
create unique index payments_provider_ref_once on payments (provider_ref)
  where kind in ('exit', 'debt') and provider_ref is not null;
