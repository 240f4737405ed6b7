-- Sync-owned tables (cloud/sync). Numbered 050+ so they never collide with the cloud's 001-049.
-- No foreign keys to the cloud's tables: a gate event must be storable even for a lot or
-- reservation this cloud does not (yet) know; effects check existence themselves.

-- Every gate event a lot published, stored once per (lot, eventId).
CREATE TABLE IF NOT EXISTS gate_events (
  lot_id       text        NOT NULL,
  event_id     bigint      NOT NULL CHECK (event_id > 0),
  kind         text        NOT NULL,
  at           timestamptz NOT NULL,
  body         jsonb       NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  -- Set when the event's effects ran (in eventId order, once the stream is contiguous up to it).
  applied_at   timestamptz,
  -- Set when its effect failed for good (after retries); the stream moved on, an operator looks.
  effect_error text,
  CONSTRAINT gate_events_lot_event_uq UNIQUE (lot_id, event_id)
);
CREATE INDEX IF NOT EXISTS gate_events_lot_kind_at_idx ON gate_events (lot_id, kind, at);

-- Per lot: highest contiguous stored event id (upto, what the cloud acknowledges) and how far the
-- effects have been applied (effects_upto <= upto), with a lease so one cloud instance at a time
-- applies a lot's effects in eventId order.
CREATE TABLE IF NOT EXISTS lot_event_watermark (
  lot_id        text        PRIMARY KEY,
  upto          bigint      NOT NULL DEFAULT 0,
  effects_upto  bigint      NOT NULL DEFAULT 0,
  lease_owner   text,
  lease_until   timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS lot_event_watermark_backlog_idx ON lot_event_watermark (lot_id) WHERE effects_upto < upto;

-- Last seq the relay published per lot (at-least-once; survives restarts).
CREATE TABLE IF NOT EXISTS lot_relay_cursor (
  lot_id        text        PRIMARY KEY,
  published_seq bigint      NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Changes with seq <= floor_seq have been pruned from lot_changes; resyncs from below get a snapshot.
CREATE TABLE IF NOT EXISTS lot_log_floor (
  lot_id     text        PRIMARY KEY,
  floor_seq  bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Presence and health as reported by each lot's retained status / heartbeat / last will.
CREATE TABLE IF NOT EXISTS lot_presence (
  lot_id             text        PRIMARY KEY,
  state              text        NOT NULL CHECK (state IN ('online', 'offline')),
  last_seen          timestamptz NOT NULL,
  edge_clock         timestamptz,
  skew_ms            bigint,
  skew_alarm         boolean     NOT NULL DEFAULT false,
  edge_version       text,
  protocol_version   text,
  protocol_supported boolean     NOT NULL DEFAULT true,
  last_applied_seq   bigint,
  last_event_id      bigint,
  outbox_depth       integer,
  config_version     integer,
  occupancy          jsonb,
  lanes              jsonb,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Online drive-up overflow requests, by correlation id (a duplicated request books once).
CREATE TABLE IF NOT EXISTS lot_overflow_requests (
  lot_id         text        NOT NULL,
  correlation_id text        NOT NULL,
  state          text        NOT NULL CHECK (state IN ('pending', 'granted', 'refused', 'cancelled')),
  reservation_id text,
  reservation    jsonb,
  reason         text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (lot_id, correlation_id)
);
CREATE INDEX IF NOT EXISTS lot_overflow_requests_reservation_idx ON lot_overflow_requests (lot_id, reservation_id);

-- Operator commands sent down, and their acknowledgement (a command_ack gate event).
CREATE TABLE IF NOT EXISTS lot_commands (
  command_id   text        PRIMARY KEY,
  lot_id       text        NOT NULL,
  kind         text        NOT NULL,
  body         jsonb       NOT NULL,
  sent_at      timestamptz NOT NULL,
  created_by   text        NOT NULL,
  acked_at     timestamptz,
  ok           boolean,
  detail       text,
  ack_event_id bigint
);
CREATE INDEX IF NOT EXISTS lot_commands_lot_sent_idx ON lot_commands (lot_id, sent_at DESC);

-- Money the gate could not collect (offline exits): the unable-to-collect report.
CREATE TABLE IF NOT EXISTS lot_debts (
  lot_id         text        NOT NULL,
  event_id       bigint      NOT NULL,
  session_id     text        NOT NULL,
  reservation_id text,
  plate          text,
  amount_minor   bigint      NOT NULL,
  currency       char(3)     NOT NULL,
  at             timestamptz NOT NULL,
  settled_at     timestamptz,
  PRIMARY KEY (lot_id, event_id)
);

-- Cash taken by attendants at the gate.
CREATE TABLE IF NOT EXISTS lot_cash_payments (
  lot_id       text        NOT NULL,
  event_id     bigint      NOT NULL,
  session_id   text        NOT NULL,
  amount_minor bigint      NOT NULL,
  currency     char(3)     NOT NULL,
  attendant    text        NOT NULL,
  at           timestamptz NOT NULL,
  PRIMARY KEY (lot_id, event_id)
);

-- What exits owed at the gate (drive-up fees, overstay) and how it was settled.
CREATE TABLE IF NOT EXISTS lot_gate_charges (
  lot_id           text        NOT NULL,
  event_id         bigint      NOT NULL,
  session_id       text        NOT NULL,
  reservation_id   text,
  plate            text,
  kind             text        NOT NULL CHECK (kind IN ('driveup', 'overstay')),
  amount_minor     bigint      NOT NULL,
  currency         char(3)     NOT NULL,
  overstay_minutes integer     NOT NULL DEFAULT 0,
  settlement       text        NOT NULL,
  at               timestamptz NOT NULL,
  PRIMARY KEY (lot_id, event_id)
);
