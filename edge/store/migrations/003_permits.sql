-- Permits (docs/permits.md): the mirror of the lot's permits from the change stream, their plates
-- for the gate's plate look-up, the `permit` spot pool, and permit sessions (kind 'permit', with
-- the permit's id) so anti-passback counts a permit's vehicles inside.

CREATE TABLE permits (
  id            TEXT PRIMARY KEY,
  holder        TEXT NOT NULL,
  valid_from_ms INTEGER NOT NULL,
  valid_to_ms   INTEGER NOT NULL,
  access_hours  TEXT NOT NULL,
  max_inside    INTEGER NOT NULL,
  status        TEXT NOT NULL,
  version       INTEGER NOT NULL,
  seq           INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;

-- Normalised plates of each permit (replaced whole on every change of the permit).
CREATE TABLE permit_plates (
  plate     TEXT NOT NULL,
  permit_id TEXT NOT NULL,
  PRIMARY KEY (plate, permit_id)
) STRICT;
CREATE INDEX permit_plates_by_permit ON permit_plates (permit_id);

-- SQLite cannot change a CHECK in place: spots and sessions are rebuilt with the new values.
CREATE TABLE spots_new (
  id    TEXT PRIMARY KEY,
  idx   INTEGER NOT NULL UNIQUE,
  label TEXT NOT NULL,
  level TEXT NOT NULL,
  type  TEXT NOT NULL,
  pool  TEXT NOT NULL CHECK (pool IN ('bookable', 'driveup', 'permit'))
) STRICT;
INSERT INTO spots_new SELECT id, idx, label, level, type, pool FROM spots;
DROP TABLE spots;
ALTER TABLE spots_new RENAME TO spots;

CREATE TABLE sessions_new (
  id                      TEXT PRIMARY KEY,
  kind                    TEXT NOT NULL CHECK (kind IN ('booking', 'driveup', 'overflow', 'permit')),
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
  closed_reason           TEXT,
  permit_id               TEXT
) STRICT;
INSERT INTO sessions_new (id, kind, reservation_id, plate, credential, pool, spot_id, spot_label,
  reservation_start_ms, reservation_end_ms, overflow_reservation_id, entry_lane_id, correlation_id,
  entered_at, entry_event_id, cash_paid, exited_at, exit_lane_id, exit_event_id, closed_reason)
SELECT id, kind, reservation_id, plate, credential, pool, spot_id, spot_label,
  reservation_start_ms, reservation_end_ms, overflow_reservation_id, entry_lane_id, correlation_id,
  entered_at, entry_event_id, cash_paid, exited_at, exit_lane_id, exit_event_id, closed_reason FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_inside_by_plate ON sessions (plate) WHERE exited_at IS NULL;
CREATE UNIQUE INDEX sessions_inside_by_reservation ON sessions (reservation_id)
  WHERE exited_at IS NULL AND reservation_id IS NOT NULL;
CREATE INDEX sessions_inside_by_pool ON sessions (pool) WHERE exited_at IS NULL;
CREATE INDEX sessions_by_reservation ON sessions (reservation_id);
CREATE INDEX sessions_inside_by_permit ON sessions (permit_id) WHERE exited_at IS NULL AND permit_id IS NOT NULL;
