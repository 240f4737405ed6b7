-- Receipt numbers are given AFTER the payment commits, in batches, by number_receipts() -- the
-- change sequencer's scheme (migration 005) -- instead of inside every paying transaction.
--
-- Why: issue_receipt() (migration 011) locked the operator's receipt_counters row from the
-- deferred trigger until the paying transaction's COMMIT was flushed. Every payment of one
-- operator -- every booking of all its lots -- queued behind the previous one's WAL flush.
-- Measured under the booking bench (64 clients, pg_stat_statements): issue_receipt 8.9 ms mean,
-- the counter's `select ... for update` 4.9 ms and its `insert ... on conflict` 3.5 ms waiting on
-- the lock holder (Lock:transactionid), more than every other statement of the booking together.
--
-- Now the trigger writes the receipt, with everything it prints copied at issue, and no number;
-- number_receipts() numbers every committed receipt that has none, operator by operator:
--  * gapless and never repeated per operator: only committed receipts are visible to it, the
--    counter row lock serialises numberers, and the counter and the numbers move in one
--    transaction (an aborted payment never had a receipt; an aborted numbering gives its numbers
--    back);
--  * in issue order within a batch (issued_at, then payment id); a receipt committed after a
--    batch ran gets a later number than every receipt of that batch;
--  * who runs it: every cloud instance on a short poll, and a reader that finds a receipt without
--    a number (the receipt page, its PDF) before answering -- cloud/receipts/numbering.ts.

alter table receipts alter column number drop not null;

-- The numberer's work list: committed receipts still without a number (empty almost always).
create index receipts_unnumbered on receipts (operator_id, issued_at, payment_id) where number is null;

-- Issue the receipt of a succeeded payment, without its number (idempotent: a payment has at most
-- one). Called by the deferred trigger of migration 011 at commit, and by cloud/receipts/issue.ts.
create or replace function issue_receipt(pid text, at timestamptz) returns void language plpgsql as $$
declare
  p payments%rowtype;
  lot lots%rowtype;
  op operators%rowtype;
  orig receipts%rowtype;
  rate integer;
  v_plate text;
  v_start timestamptz;
  v_end timestamptz;
  v_reservation text;
  v_session text;
begin
  select * into p from payments where id = pid;
  if not found or p.status <> 'succeeded' then
    return;
  end if;
  v_reservation := p.reservation_id;
  select * into lot from lots
   where id = coalesce(p.lot_id, (select lot_id from reservations where id = p.reservation_id));
  if not found then
    return;
  end if;
  -- A concurrent issue of the same payment: the insert below does nothing (on conflict).
  if exists (select 1 from receipts where payment_id = pid) then
    return;
  end if;
  select * into op from operators where id = lot.operator_id;
  rate := lot.vat_rate_bp;
  if p.kind = 'refund' then
    -- The receipt it credits: the refunded payment's, else (booking refunds) the booking's capture.
    select * into orig from receipts r
     where r.payment_id = coalesce(p.refund_of,
             (select id from payments where reservation_id = p.reservation_id and kind = 'capture'));
    if found then
      rate := orig.vat_rate_bp;
      v_plate := orig.plate;
      v_start := orig.period_start;
      v_end := orig.period_end;
      v_reservation := coalesce(v_reservation, orig.reservation_id);
    end if;
  elsif p.kind in ('capture', 'change') then
    select plate, start_at, end_at into v_plate, v_start, v_end from reservations where id = p.reservation_id;
  elsif p.kind = 'overstay' then
    select plate, end_at, checked_out_at into v_plate, v_start, v_end from reservations where id = p.reservation_id;
  elsif p.kind = 'debt' then
    select plate, entered_at, exited_at into v_plate, v_start, v_end from debts where id = p.debt_id;
  elsif p.kind = 'exit' and p.reference like 'exit:%' then
    -- exit:<lotId>:<sessionId>
    v_session := substr(p.reference, length('exit:' || lot.id || ':') + 1);
    select entered_at, exited_at into v_start, v_end from gate_sessions
     where lot_id = lot.id and session_id = v_session;
    select plate into v_plate from lot_gate_charges
     where lot_id = lot.id and session_id = v_session and plate is not null limit 1;
  end if;
  insert into receipts (payment_id, operator_id, number, kind, credits_payment_id, issued_at,
                        operator_legal_name, operator_vat_id, operator_address, receipt_prefix,
                        lot_id, lot_name, time_zone, vat_rate_bp, currency, gross, vat, net,
                        purpose, method, reservation_id, plate, period_start, period_end)
  values (pid, op.id, null, case when p.kind = 'refund' then 'credit_note' else 'receipt' end,
          orig.payment_id, at, op.legal_name, op.vat_id, op.address, op.receipt_prefix,
          lot.id, lot.name, lot.time_zone, rate, p.currency,
          case when p.kind = 'refund' then -p.amount else p.amount end,
          receipt_vat(case when p.kind = 'refund' then -p.amount else p.amount end, rate),
          (case when p.kind = 'refund' then -p.amount else p.amount end)
            - receipt_vat(case when p.kind = 'refund' then -p.amount else p.amount end, rate),
          p.kind, p.method, v_reservation, v_plate, v_start, v_end)
  on conflict (payment_id) do nothing;
end
$$;

-- Number every committed receipt without a number, operator by operator (in operator order, so two
-- numberers never deadlock), waiting for another numberer of the same operator rather than
-- skipping it (the statement after the lock has a new snapshot, so it sees what that one numbered).
-- Returns how many receipts it numbered.
create function number_receipts() returns bigint language plpgsql as $$
declare
  op text;
  head bigint;
  numbered bigint;
  total bigint := 0;
begin
  for op in select distinct r.operator_id from receipts r where r.number is null order by 1 loop
    insert into receipt_counters (operator_id) values (op) on conflict do nothing;
    select c.last_number into head from receipt_counters c where c.operator_id = op for update;
    with pending as (
      select r.payment_id, head + row_number() over (order by r.issued_at, r.payment_id) as next_number
        from receipts r where r.operator_id = op and r.number is null
    ), done as (
      update receipts r set number = p.next_number from pending p where r.payment_id = p.payment_id
      returning 1
    )
    select count(*) into numbered from done;
    if numbered > 0 then
      update receipt_counters c set last_number = head + numbered where c.operator_id = op;
      total := total + numbered;
    end if;
  end loop;
  return total;
end
$$;
