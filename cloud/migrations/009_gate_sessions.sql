-- Gate sessions (docs/reports.md): one row per (lot, session) folded from the lot's entry and exit
-- gate events, so the occupancy and usage reports read the stays that overlap their range through
-- an index instead of grouping the lot's whole event history. Still facts: every column is a
-- min() over stored gate events (the first entry, the first exit, the pool of the entries), kept
-- by a statement trigger on gate_events in the same statement as the insert, whoever inserts, and
-- backfilled here from the events already stored. The events stay the source of truth: the table
-- can be rebuilt from them at any time with the backfill below.
create table gate_sessions (
  lot_id     text        not null,
  session_id text        not null,
  -- Null while only an exit is known (the entry was never reported).
  entered_at timestamptz,
  -- Null while the vehicle is inside.
  exited_at  timestamptz,
  pool       text,
  primary key (lot_id, session_id)
);
-- Stays by exit (the ones gone after a range starts), and the open ones by entry.
create index gate_sessions_lot_exited_idx on gate_sessions (lot_id, exited_at);
create index gate_sessions_lot_open_idx on gate_sessions (lot_id, entered_at) where exited_at is null;

create function gate_sessions_fold() returns trigger language plpgsql as $$
begin
  insert into gate_sessions as s (lot_id, session_id, entered_at, exited_at, pool)
  select lot_id, body->>'sessionId',
         min(at) filter (where kind = 'entry'),
         min(at) filter (where kind = 'exit'),
         min(body->>'pool') filter (where kind = 'entry')
    from new_events
   where kind in ('entry', 'exit') and body->>'sessionId' is not null
   group by lot_id, body->>'sessionId'
  on conflict (lot_id, session_id) do update
     set entered_at = least(s.entered_at, excluded.entered_at),
         exited_at = least(s.exited_at, excluded.exited_at),
         pool = least(s.pool, excluded.pool);
  return null;
end
$$;

create trigger gate_sessions_fold after insert on gate_events
  referencing new table as new_events for each statement execute function gate_sessions_fold();

insert into gate_sessions (lot_id, session_id, entered_at, exited_at, pool)
select lot_id, body->>'sessionId',
       min(at) filter (where kind = 'entry'),
       min(at) filter (where kind = 'exit'),
       min(body->>'pool') filter (where kind = 'entry')
  from gate_events
 where kind in ('entry', 'exit') and body->>'sessionId' is not null
 group by lot_id, body->>'sessionId';
