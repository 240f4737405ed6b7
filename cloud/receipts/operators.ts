import type { OperatorView, PatchOperatorBody } from '../../protocol/receipts.js';
import { toIso } from '../../protocol/slots.js';
import type { Queryable } from '../db/database.js';
import type { AuthUser } from '../plugins/auth.js';

/**
 * Operators: the legal entity behind lots, whose identity every receipt prints (docs/money.md).
 * Admins see and change all; an operator user those of the lots they staff.
 */

interface OperatorRow {
  id: string;
  legal_name: string;
  vat_id: string | null;
  address: string | null;
  receipt_prefix: string;
  updated_at: Date;
  lots: { lotId: string; name: string; vatRateBp: number }[] | null;
}

const OPERATOR_SQL = `
  select o.id, o.legal_name, o.vat_id, o.address, o.receipt_prefix, o.updated_at,
         (select json_agg(json_build_object('lotId', l.id, 'name', l.name, 'vatRateBp', l.vat_rate_bp) order by l.id)
            from lots l where l.operator_id = o.id) as lots
    from operators o`;

function toView(r: OperatorRow): OperatorView {
  return {
    id: r.id,
    legalName: r.legal_name,
    vatId: r.vat_id,
    address: r.address,
    receiptPrefix: r.receipt_prefix,
    lots: r.lots ?? [],
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Where an operator user may act: operators of lots they staff (admins: every one). */
function visibleTo(user: AuthUser, param: number): string {
  if (user.role === 'admin') return 'true';
  return `exists (select 1 from lots l join lot_staff s on s.lot_id = l.id
                   where l.operator_id = o.id and s.user_id = $${param})`;
}

export async function listOperators(q: Queryable, user: AuthUser): Promise<OperatorView[]> {
  const { rows } = await q.query<OperatorRow>(
    `${OPERATOR_SQL} where ${visibleTo(user, 1)} order by o.id limit 200`,
    user.role === 'admin' ? [] : [user.id],
  );
  return rows.map(toView);
}

/** The operator, or null when it does not exist or the user may not see it. */
export async function getOperator(q: Queryable, user: AuthUser, id: string): Promise<OperatorView | null> {
  const { rows } = await q.query<OperatorRow>(
    `${OPERATOR_SQL} where o.id = $1 and ${visibleTo(user, 2)}`,
    user.role === 'admin' ? [id] : [id, user.id],
  );
  return rows[0] === undefined ? null : toView(rows[0]);
}

const PATCH_COLUMNS: Record<keyof PatchOperatorBody, string> = {
  legalName: 'legal_name',
  vatId: 'vat_id',
  address: 'address',
  receiptPrefix: 'receipt_prefix',
};

/** Change the legal identity; issued receipts keep what they printed. Null when not visible. */
export async function patchOperator(
  q: Queryable,
  user: AuthUser,
  id: string,
  patch: PatchOperatorBody,
  nowMs: number,
): Promise<OperatorView | null> {
  if ((await getOperator(q, user, id)) === null) return null;
  const keys = (Object.keys(PATCH_COLUMNS) as (keyof PatchOperatorBody)[]).filter(
    (k) => patch[k] !== undefined,
  );
  const sets = keys.map((k, i) => `${PATCH_COLUMNS[k]} = $${i + 3}`).join(', ');
  await q.query(`update operators set updated_at = $2, ${sets} where id = $1`, [
    id,
    toIso(nowMs),
    ...keys.map((k) => (patch[k] === '' ? null : patch[k])),
  ]);
  return getOperator(q, user, id);
}

/** Set a lot's VAT rate (receipts issued from now on use it). */
export async function setLotVat(
  q: Queryable,
  lotId: string,
  vatRateBp: number,
  nowMs: number,
): Promise<{ lotId: string; operatorId: string; vatRateBp: number } | null> {
  const { rows } = await q.query<{ id: string; operator_id: string; vat_rate_bp: number }>(
    `update lots set vat_rate_bp = $2, updated_at = $3 where id = $1 returning id, operator_id, vat_rate_bp`,
    [lotId, vatRateBp, toIso(nowMs)],
  );
  const r = rows[0];
  return r === undefined ? null : { lotId: r.id, operatorId: r.operator_id, vatRateBp: r.vat_rate_bp };
}
