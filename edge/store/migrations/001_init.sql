-- parkedge edge store, schema 1. Applied in one transaction by edge/store/migrate.ts.
-- Times are epoch milliseconds (UTC). Money is integer minor units plus an ISO currency code.

-- Counters and watermarks that must move in the same transaction as the rows they describe.
--   last_event_id   gapless outbox id, incremented inside each recording transaction
--   acked_event_id  highest contiguous event id the cloud has durably stored
--   last_seq        sync cursor: last applied booking-change seq
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('last_event_id', 0), ('acked_event_id', 0), ('last_seq', 0);

-- Lot configuration as delivered (version 0 = the local file, >0 = from the cloud). Highest wins.
CREATE TABLE lot_config (
  version    INTEGER PRIMARY KEY,
  source     TEXT NOT NULL CHECK (source IN ('file', 'sync')),
  body       TEXT NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT;

-- Spots of the current configuration; idx is the row in the in-memory occupancy bitmap.
CREATE TABLE spots (
  id    TEXT PRIMARY KEY,
  idx   INTEGER NOT NULL UNIQUE,
  label TEXT NOT NULL,
  level TEXT NOT NULL,
  type  TEXT NOT NULL,
  pool  TEXT NOT NULL CHECK (pool IN ('bookable', 'driveup'))
) STRICT;

-- Mirror of the cloud's reservations for this lot (full state per change, so applying is an upsert).
-- plate is normalised (upper case, no separators) so the gate can probe it by index.
CREATE TABLE reservations (
  id             TEXT PRIMARY KEY,
  spot_id        TEXT NOT NULL,
  spot_label     TEXT NOT NULL,
  vehicle_type   TEXT NOT NULL,
  plate          TEXT NOT NULL,
  start_ms       INTEGER NOT NULL,
  end_ms         INTEGER NOT NULL,
  status         TEXT NOT NULL,
  kind           TEXT NOT NULL,
  price_amount   INTEGER NOT NULL,
  price_currency TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX reservations_by_plate ON reservations (plate, end_ms);
CREATE INDEX reservations_by_end ON reservations (end_ms);

-- Who is inside. One row per entry; exited_at set on exit (or on an attendant passback reset).
CREATE TABLE sessions (
  id                      TEXT PRIMARY KEY,
  kind                    TEXT NOT NULL CHECK (kind IN ('booking', 'driveup', 'overflow')),
  reservation_id          TEXT,
  plate                   TEXT,
  credential              TEXT NOT NULL,
  pool                    TEXT,
  spot_id                 TEXT,
  spot_label              TEXT,
  reservation_start_ms    INTEGER,
  reservation_end_ms      INTEGER,
  overflow_reservation_id TEXT,
  entry_lane_id           TEXT,
  correlation_id          TEXT,
  entered_at              INTEGER NOT NULL,
  entry_event_id          INTEGER NOT NULL,
  cash_paid               INTEGER NOT NULL DEFAULT 0,
  exited_at               INTEGER,
  exit_lane_id            TEXT,
  exit_event_id           INTEGER,
  closed_reason           TEXT
) STRICT;
CREATE INDEX sessions_inside_by_plate ON sessions (plate) WHERE exited_at IS NULL;
CREATE UNIQUE INDEX sessions_inside_by_reservation ON sessions (reservation_id)
  WHERE exited_at IS NULL AND reservation_id IS NOT NULL;
CREATE INDEX sessions_inside_by_pool ON sessions (pool) WHERE exited_at IS NULL;
CREATE INDEX sessions_by_reservation ON sessions (reservation_id);

-- Anti-passback: the physical state of each reservation as this lot saw it.
CREATE TABLE passback (
  reservation_id TEXT PRIMARY KEY,
  state          TEXT NOT NULL CHECK (state IN ('in', 'out', 'neutral')),
  session_id     TEXT,
  updated_at     INTEGER NOT NULL
) STRICT;

-- Gate-event outbox. event_id is gapless per lot, assigned in the transaction that records the
-- state change the event reports. Rows at or below acked_event_id may be pruned after retention.
CREATE TABLE outbox (
  event_id       INTEGER PRIMARY KEY,
  kind           TEXT NOT NULL,
  at             INTEGER NOT NULL,
  lane_id        TEXT,
  correlation_id TEXT,
  payload        TEXT NOT NULL
) STRICT;

CREATE TABLE attendants (
  username      TEXT PRIMARY KEY,
  display_name  TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  disabled      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,
  attendant TEXT NOT NULL,
  action    TEXT NOT NULL,
  reason    TEXT,
  target    TEXT,
  detail    TEXT NOT NULL,
  event_id  INTEGER
) STRICT;
CREATE INDEX audit_log_by_at ON audit_log (at);

CREATE TABLE alarms (
  id         INTEGER PRIMARY KEY,
  kind       TEXT NOT NULL,
  lane_id    TEXT,
  detail     TEXT NOT NULL,
  raised_at  INTEGER NOT NULL,
  event_id   INTEGER,
  acked_at   INTEGER,
  acked_by   TEXT,
  ack_note   TEXT
) STRICT;
CREATE INDEX alarms_open ON alarms (raised_at) WHERE acked_at IS NULL;

-- Exits that could not be charged (offline): the "unable to collect" report.
CREATE TABLE unable_to_collect (
  id             INTEGER PRIMARY KEY,
  session_id     TEXT NOT NULL UNIQUE,
  reservation_id TEXT,
  plate          TEXT,
  amount         INTEGER NOT NULL,
  currency       TEXT NOT NULL,
  at             INTEGER NOT NULL,
  lane_id        TEXT,
  event_id       INTEGER NOT NULL
) STRICT;
CREATE INDEX unable_to_collect_by_at ON unable_to_collect (at);
