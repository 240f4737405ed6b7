-- The lot's money state from the cloud (down/money), replaced whole by each message: plates with
-- open debt (any lot's: a debt follows the car), stays of this lot paid online, and the pay page.
-- Kept here so the entry lanes apply the debt policy offline too.
CREATE TABLE money_debts (
  plate    TEXT PRIMARY KEY,
  amount   INTEGER NOT NULL,
  currency TEXT NOT NULL,
  count    INTEGER NOT NULL
) STRICT;

CREATE TABLE money_paid_sessions (
  session_id   TEXT PRIMARY KEY,
  paid         INTEGER NOT NULL,
  currency     TEXT NOT NULL,
  covers_until INTEGER NOT NULL
) STRICT;

CREATE TABLE money_meta (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  pay_url    TEXT NOT NULL,
  as_of      INTEGER NOT NULL
) STRICT;
