-- Cloud commands already executed (open lane, reset passback), so a redelivered command after a
-- restart is acknowledged again but never executed twice.
CREATE TABLE commands (
  command_id TEXT PRIMARY KEY,
  ok         INTEGER NOT NULL,
  detail     TEXT NOT NULL,
  at         INTEGER NOT NULL,
  event_id   INTEGER NOT NULL
) STRICT;
