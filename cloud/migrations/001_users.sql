-- btree_gist: GiST operator classes for plain equality on text, which the reservation exclusion
-- constraints (003) combine with range overlap.
create extension if not exists btree_gist;

create table users (
  id text primary key,
  email text not null unique,
  password_hash text not null,
  role text not null check (role in ('driver', 'partner', 'attendant', 'operator', 'admin')),
  created_at timestamptz not null default now()
);

-- Refresh tokens are stored hashed. Each use marks the token used and issues the next one in the
-- same family; presenting a used token again revokes the whole family (theft detection).
create table refresh_tokens (
  token_hash text primary key,
  family_id text not null,
  user_id text not null references users (id) on delete cascade,
  expires_at timestamptz not null,
  used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now()
);
create index refresh_tokens_family on refresh_tokens (family_id);
