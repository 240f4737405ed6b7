-- Who issues receipts (docs/money.md): the operator, a legal entity owning lots, with the identity a
-- receipt must show; each lot has an operator and its own VAT rate (basis points: 2000 = 20 %).
create table operators (
  id text primary key,
  legal_name text not null check (length(legal_name) between 1 and 200),
  vat_id text,
  address text,
  -- Printed before every receipt number of this operator ("PE-000042").
  receipt_prefix text not null default 'PE' check (receipt_prefix ~ '^[A-Z0-9]{1,10}$'),
  created_at timestamptz not null,
  updated_at timestamptz not null
);

-- Every lot existing so far gets a default operator derived from its creator ("op-<user id>",
-- "op-default" for lots without one); the operator's users then give it its legal identity.
insert into operators (id, legal_name, created_at, updated_at)
select distinct on (op_id) op_id, coalesce(u.email, 'Parking operator'), l.created_at, l.created_at
  from (select 'op-' || coalesce(created_by, 'default') as op_id, created_by, created_at from lots) l
  left join users u on u.id = l.created_by
 order by op_id, l.created_at;

alter table lots add column operator_id text references operators (id);
update lots set operator_id = 'op-' || coalesce(created_by, 'default');
alter table lots add column vat_rate_bp integer not null default 0 check (vat_rate_bp between 0 and 10000);
create index lots_operator on lots (operator_id);

-- A lot created without an operator gets its creator's default one (created if needed), so the
-- lot code does not have to know about operators and operator_id is never null.
create function lots_default_operator() returns trigger language plpgsql as $$
declare
  op text := 'op-' || coalesce(new.created_by, 'default');
begin
  if new.operator_id is null then
    insert into operators (id, legal_name, created_at, updated_at)
    select op, coalesce((select email from users where id = new.created_by), 'Parking operator'),
           new.created_at, new.created_at
    on conflict (id) do nothing;
    new.operator_id := op;
  end if;
  return new;
end
$$;
create trigger lots_default_operator before insert on lots
  for each row execute function lots_default_operator();
alter table lots alter column operator_id set not null;

-- The last receipt number of each operator: the row is locked by the transaction that issues a
-- receipt until it commits, so numbers are gapless and never repeat (a rollback gives its number back).
create table receipt_counters (
  operator_id text primary key references operators (id),
  last_number bigint not null default 0
);

-- One receipt per succeeded payment; a refund's is a credit note (negative amounts) naming the
-- receipt it credits. Everything printed is copied at issue: a later change of the operator's name
-- or the lot's VAT rate never rewrites an issued receipt.
create table receipts (
  payment_id text primary key references payments (id),
  operator_id text not null references operators (id),
  number bigint not null,
  kind text not null check (kind in ('receipt', 'credit_note')),
  credits_payment_id text references receipts (payment_id),
  issued_at timestamptz not null,
  operator_legal_name text not null,
  operator_vat_id text,
  operator_address text,
  receipt_prefix text not null,
  lot_id text not null references lots (id),
  lot_name text not null,
  time_zone text not null,
  vat_rate_bp integer not null,
  currency text not null,
  -- Minor units; negative on a credit note. gross = net + vat.
  gross bigint not null,
  vat bigint not null,
  net bigint not null,
  -- What was bought: the payment's kind and method, and the window or stay it paid for.
  purpose text not null check (purpose in ('capture', 'overstay', 'exit', 'debt', 'refund', 'change')),
  method text not null,
  reservation_id text,
  plate text,
  period_start timestamptz,
  period_end timestamptz,
  unique (operator_id, number),
  check (gross = net + vat)
);
create index receipts_lot_issued on receipts (lot_id, issued_at);

-- VAT included in a gross amount at a rate in basis points, rounded to the nearest minor unit,
-- halves away from zero: round(|gross| × rate / (10000 + rate)), with gross's sign.
create function receipt_vat(gross bigint, rate_bp integer) returns bigint language sql immutable as $$
  select (sign(gross) * round(abs(gross)::numeric * rate_bp / (10000 + rate_bp)))::bigint
$$;

-- Issue the receipt of a succeeded payment (idempotent: a payment has at most one). Called by the
-- trigger below at commit, and by cloud/receipts/issue.ts for explicit calls.
create function issue_receipt(pid text, at timestamptz) returns void language plpgsql as $$
declare
  p payments%rowtype;
  lot lots%rowtype;
  op operators%rowtype;
  orig receipts%rowtype;
  n bigint;
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
  -- The operator's counter row, locked until commit: serialises the issuing of its receipts.
  insert into receipt_counters (operator_id) values (lot.operator_id) on conflict do nothing;
  select last_number into n from receipt_counters where operator_id = lot.operator_id for update;
  -- Checked under the lock: a concurrent issue of the same payment has committed or not started.
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
  update receipt_counters set last_number = n + 1 where operator_id = lot.operator_id;
  insert into receipts (payment_id, operator_id, number, kind, credits_payment_id, issued_at,
                        operator_legal_name, operator_vat_id, operator_address, receipt_prefix,
                        lot_id, lot_name, time_zone, vat_rate_bp, currency, gross, vat, net,
                        purpose, method, reservation_id, plate, period_start, period_end)
  values (pid, op.id, n + 1, case when p.kind = 'refund' then 'credit_note' else 'receipt' end,
          orig.payment_id, at, op.legal_name, op.vat_id, op.address, op.receipt_prefix,
          lot.id, lot.name, lot.time_zone, rate, p.currency,
          case when p.kind = 'refund' then -p.amount else p.amount end,
          receipt_vat(case when p.kind = 'refund' then -p.amount else p.amount end, rate),
          (case when p.kind = 'refund' then -p.amount else p.amount end)
            - receipt_vat(case when p.kind = 'refund' then -p.amount else p.amount end, rate),
          p.kind, p.method, v_reservation, v_plate, v_start, v_end);
end
$$;

-- Every payment that becomes succeeded, whoever writes it, gets its receipt in the same
-- transaction: at commit (deferred), so the counter row is locked only for the commit itself, as
-- lot_seq is for the change log. A rolled-back payment never reaches it.
create function payments_issue_receipt() returns trigger language plpgsql as $$
begin
  perform issue_receipt(new.id, new.updated_at);
  return null;
end
$$;
create constraint trigger payments_issue_receipt after insert or update of status on payments
  deferrable initially deferred for each row when (new.status = 'succeeded')
  execute function payments_issue_receipt();
