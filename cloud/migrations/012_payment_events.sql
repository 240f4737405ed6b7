-- Webhook events from the payment provider (Stripe, or the sandbox speaking the same scheme): one
-- row per event id, so a replayed or re-delivered event has no second effect. `applied_at` stays
-- null until the event's effect committed; an event seen but not applied (crash, provider down while
-- looking it up) is applied again when it is delivered again.
create table payment_events (
  provider text not null,
  event_id text not null,
  type text not null,
  reference text,
  outcome text,
  received_at timestamptz not null,
  applied_at timestamptz,
  primary key (provider, event_id)
);
create index payment_events_reference on payment_events (reference) where reference is not null;
