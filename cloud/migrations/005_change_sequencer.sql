-- Change-log seqs are assigned AFTER the writer commits, in batches, by sequence_lot_changes(),
-- instead of inside every writer's commit by a deferred trigger (migration 002).
--
-- Why: the trigger held the lot's lot_seq row lock, and its NOTIFY held the database-wide notify
-- lock, from the seq assignment until the writer's COMMIT was flushed to disk. Every commit that
-- touched one lot queued behind the previous one's WAL flush, so one busy lot was capped at one
-- fsync per change (measured: `update lot_seq` 23 ms mean under 64 clients, Lock:transactionid
-- the top wait event). Now writers commit in parallel (group commit), and one sequencer
-- transaction numbers every change committed so far, paying one flush per batch.
--
-- The sequence stays gapless, per lot and commit-ordered:
--  * only committed rows are visible to the sequencer, so an aborted writer leaves no gap;
--  * the lot_seq row lock serialises sequencers, and each numbers, after taking it, everything
--    committed before that moment, in id order; a row committed later gets a later seq;
--  * two writers that conflict (same reservation or spot row) insert their change after taking
--    that row's lock, so the later one's id is higher and both are visible together or the
--    earlier one first: their seqs follow their commit order;
--  * a writer that crashes after commit leaves rows with a null seq, which the next sequencer
--    run (every instance polls, and runs once at start) numbers: nothing is lost.
-- Rows with a null seq are never read by the relay or the change log (`seq > n` excludes null).

drop trigger lot_changes_assign_seq on lot_changes;
drop function lot_changes_assign_seq();

-- The sequencer's work list: committed changes without a seq yet (empty almost always).
create index lot_changes_unsequenced on lot_changes (lot_id, id) where seq is null;

-- Number every committed, unsequenced change, lot by lot (in lot order, so two sequencers never
-- deadlock), waiting for another sequencer of the same lot rather than skipping it (then this
-- run's own snapshot, taken after the lock, includes what that one numbered). Returns how many
-- changes it numbered; notifies `lot_changes` once per lot it advanced, so relays wake up.
create function sequence_lot_changes() returns bigint language plpgsql as $$
declare
  lot text;
  head bigint;
  numbered bigint;
  total bigint := 0;
begin
  for lot in select distinct c.lot_id from lot_changes c where c.seq is null order by 1 loop
    select s.seq into head from lot_seq s where s.lot_id = lot for update;
    if not found then
      raise exception 'lot % has no change sequence', lot;
    end if;
    -- A new statement, so a new snapshot: it sees everything committed before the lock was ours.
    with pending as (
      select c.id, head + row_number() over (order by c.id) as next_seq
      from lot_changes c where c.lot_id = lot and c.seq is null
    ), done as (
      update lot_changes c set seq = p.next_seq from pending p where c.id = p.id returning 1
    )
    select count(*) into numbered from done;
    if numbered > 0 then
      update lot_seq s set seq = head + numbered where s.lot_id = lot;
      perform pg_notify('lot_changes', lot);
      total := total + numbered;
    end if;
  end loop;
  return total;
end
$$;

-- Changes written before this migration were sequenced by the trigger; none is pending here, but
-- number any that are, so the log has no hole.
select sequence_lot_changes();
