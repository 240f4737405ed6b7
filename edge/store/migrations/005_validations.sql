-- Merchant validations redeemed at this lot (docs/pricing.md#validations). The primary key is the
-- single-use rule, enforced at once and offline; one validation per stay.
CREATE TABLE validation_uses (
  validation_id TEXT PRIMARY KEY,
  session_id    TEXT NOT NULL UNIQUE,
  merchant      TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('minutes', 'percent', 'flat')),
  value         INTEGER NOT NULL,
  used_at       INTEGER NOT NULL,
  attendant     TEXT NOT NULL
) STRICT;
