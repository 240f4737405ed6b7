-- Notifications (docs/notifications.md): a transactional outbox. Each notifiable change inserts
-- one row here in the same transaction (statement) as the change, keyed by a dedup key so a
-- repeated change or sweep never notifies twice. The dispatcher fans each row out to its
-- deliveries (an email to the person concerned, one per matching webhook), then sends them with
-- retries and backoff.
create table notifications (
  id bigserial primary key,
  dedup_key text not null unique,
  kind text not null,
  lot_id text,
  reservation_id text,
  payload jsonb not null default '{}'::jsonb,
  created_at timestamptz not null,
  -- Set when its deliveries were created.
  expanded_at timestamptz
);
create index notifications_unexpanded on notifications (id) where expanded_at is null;

-- Webhook subscriptions: an operator's for one of their lots, an admin's for one lot or all (null).
create table webhooks (
  id text primary key,
  owner_id text not null references users (id) on delete cascade,
  lot_id text references lots (id) on delete cascade,
  url text not null,
  events text[] not null,
  secret text not null,
  created_at timestamptz not null,
  -- Failed attempts since the last success; the webhook is disabled when it reaches the limit.
  consecutive_failures integer not null default 0,
  disabled_at timestamptz,
  deleted_at timestamptz
);
create index webhooks_owner on webhooks (owner_id);

-- One row per (notification, target): 'email:<address>' or 'webhook:<id>'. The delivery log.
create table notification_deliveries (
  id bigserial primary key,
  notification_id bigint not null references notifications (id) on delete cascade,
  target text not null,
  channel text not null check (channel in ('email', 'webhook')),
  webhook_id text references webhooks (id) on delete cascade,
  status text not null check (status in ('pending', 'sent', 'failed', 'no_transport')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  last_attempt_at timestamptz,
  last_error text,
  last_status_code integer,
  sent_at timestamptz,
  unique (notification_id, target)
);
create index notification_deliveries_due on notification_deliveries (next_attempt_at) where status = 'pending';
create index notification_deliveries_webhook on notification_deliveries (webhook_id, id desc);

-- A lot seen offline by the notifier: alerted after the grace, told again when it is back.
create table lot_offline_episodes (
  lot_id text primary key,
  seen_offline_at timestamptz not null,
  alerted_at timestamptz
);
