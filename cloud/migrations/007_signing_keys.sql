-- The credential signing key ring (cloud/repositories/signing-keys.ts). The newest key whose window
-- has begun signs; lots get every key that is neither revoked nor past its window, so a QR signed
-- by a rotated-out key is still admitted (also offline) until that key's not_after.
-- The private keys live here so every cloud instance signs with the same current key.
create table signing_keys (
  -- creation order: among keys whose window has begun, the newest signs
  n           bigserial not null unique,
  kid         text primary key check (kid ~ '^[A-Za-z0-9_-]{1,32}$'),
  private_pem text not null,
  public_key  text not null,
  not_before  timestamptz not null,
  -- null: open-ended (the current key until a rotation closes it)
  not_after   timestamptz,
  revoked_at  timestamptz,
  created_at  timestamptz not null,
  check (not_after is null or not_after >= not_before)
);
