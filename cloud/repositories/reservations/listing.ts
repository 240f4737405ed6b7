import type { ReservationView } from '../../../protocol/http.js';
import type { Database } from '../../db/database.js';
import { COLS, type ReservationRow, toView } from './rows.js';
import type { ListFilter } from './types.js';

/** Listing: reservations newest first, filtered, in keyset pages (cursor = created_at + id). */

export async function listReservations(
  db: Pick<Database, 'rows'>,
  filter: ListFilter,
): Promise<{ reservations: ReservationView[]; nextCursor: string | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (filter.userId !== undefined) add('user_id = ?', filter.userId);
  if (filter.lotIds !== 'all') add('lot_id = any(?::text[])', filter.lotIds);
  if (filter.lotId !== undefined) add('lot_id = ?', filter.lotId);
  if (filter.status !== undefined) add('status = ?', filter.status);
  const cursor = decodeCursor(filter.cursor);
  if (cursor !== null) {
    params.push(cursor.at, cursor.id);
    where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  params.push(filter.limit + 1);
  const rows = await db.rows<ReservationRow>(
    `select ${COLS} from reservations ${where.length ? `where ${where.join(' and ')}` : ''}
         order by created_at desc, id desc limit $${params.length}`,
    params,
  );
  const page = rows.slice(0, filter.limit);
  const last = page[page.length - 1];
  return {
    reservations: page.map(toView),
    nextCursor:
      rows.length > filter.limit && last ? encodeCursor(last.created_at.toISOString(), last.id) : null,
  };
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { at: string; id: string } | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  if (bar < 0) return null;
  const at = text.slice(0, bar);
  const id = text.slice(bar + 1);
  return Number.isFinite(Date.parse(at)) && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? { at, id } : null;
}
