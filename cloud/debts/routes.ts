import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  DebtList,
  DebtListQuery,
  DebtParams,
  SettleDebtBody,
  SettleDebtResponse,
} from '../../protocol/debts.js';
import { ErrorBody, IdempotencyHeaders } from '../../protocol/http.js';
import { normalizePlate } from '../../protocol/plates.js';
import { HttpError, routeErrors, unwrap } from '../errors.js';
import type { AuthUser } from '../plugins/auth.js';
import type { CloudApi } from '../routes/api.js';
import { debtCheckout, settleByStaff } from './settle.js';
import { type DebtRow, debtById, listDebts, lotsOfStaff, platesOfUser, toDebtView } from './store.js';

const errors = routeErrors;
const notFound = (id: string) =>
  new HttpError({ status: 404, error: 'debt_not_found', message: `debt ${id} not found` });

const isStaff = (u: AuthUser) => u.role === 'admin' || u.role === 'operator' || u.role === 'attendant';

/**
 * Debts (docs/exit-payments-and-debts.md): operators see their lots' debts, drivers the debts of the
 * plates they book with; a debt is paid through the provider (a checkout for exactly its amount),
 * or settled by staff in cash or written off with a reason (audited).
 */
export const debtRoutes: FastifyPluginAsyncZod = async (app) => {
  listRoute(app);
  settleRoute(app);
  checkoutRoute(app);
};

/** The debt if the user may see it (staff of its lot, or a driver whose plate it is); else 404. */
async function visibleDebt(app: CloudApi, user: AuthUser, id: string): Promise<DebtRow> {
  const debt = await debtById(app.db.pooled, id);
  if (debt === null) throw notFound(id);
  if (isStaff(user) && (await app.canActOnLot(user, debt.lot_id))) return debt;
  if ((await platesOfUser(app.db.pooled, user.id)).includes(debt.plate)) return debt;
  throw notFound(id);
}

function listRoute(app: CloudApi): void {
  app.get(
    '/v1/debts',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['debts'],
        summary: 'Debts: staff see their lots’, drivers their own plates’ (filter by plate, lot, status)',
        querystring: DebtListQuery,
        response: { 200: DebtList, ...errors },
      },
    },
    async (req) => {
      const { user } = req;
      const q = app.db.pooled;
      const plate =
        req.query.plate === undefined ? undefined : (normalizePlate(req.query.plate) ?? undefined);
      const scope =
        user.role === 'admin'
          ? { lotScope: null, plateScope: null }
          : isStaff(user)
            ? { lotScope: await lotsOfStaff(q, user.id), plateScope: null }
            : { lotScope: null, plateScope: await platesOfUser(q, user.id) };
      const rows = await listDebts(q, { ...req.query, plate, ...scope });
      const open = rows.filter((r) => r.status === 'open');
      const currency = open[0]?.currency;
      const total =
        currency === undefined
          ? null
          : {
              amount: open.filter((r) => r.currency === currency).reduce((s, r) => s + r.amount, 0),
              currency,
            };
      return { debts: rows.map(toDebtView), total };
    },
  );
}

function settleRoute(app: CloudApi): void {
  app.post(
    '/v1/debts/:id/settle',
    {
      config: { access: 'authenticated', idempotent: true },
      schema: {
        tags: ['debts'],
        summary: 'Settle a debt: pay through the provider, or (staff) cash taken / written off with a reason',
        description:
          '`provider` answers a checkout for exactly the debt; its capture marks the debt paid. `cash` and `write_off` are for the lot’s staff and are recorded with who and why.',
        headers: IdempotencyHeaders,
        params: DebtParams,
        body: SettleDebtBody,
        response: { 200: SettleDebtResponse, ...errors, 502: ErrorBody },
      },
    },
    async (req) => {
      const debt = await visibleDebt(app, req.user, req.params.id);
      const body = req.body;
      if (body.method === 'provider') {
        const checkout = unwrap(await debtCheckout(app.payments, debt));
        return { debt: toDebtView(debt), checkout };
      }
      if (!isStaff(req.user) || !(await app.canActOnLot(req.user, debt.lot_id))) {
        throw new HttpError({
          status: 403,
          error: 'forbidden',
          message: 'only the lot’s staff may take cash or write a debt off',
        });
      }
      const settled = unwrap(
        await settleByStaff(app, { id: debt.id, body, actor: `${req.user.role}:${req.user.id}` }),
      );
      app.moneySignals.emit('changed', null);
      return { debt: toDebtView(settled), checkout: null };
    },
  );
}

function checkoutRoute(app: CloudApi): void {
  app.post(
    '/v1/debts/:id/checkout',
    {
      config: { access: 'public', idempotent: true },
      schema: {
        tags: ['debts'],
        summary: 'Anyone may pay a debt: a checkout for exactly its amount (the debt’s pay link)',
        security: [],
        headers: IdempotencyHeaders,
        params: DebtParams,
        response: {
          200: SettleDebtResponse,
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          422: ErrorBody,
          502: ErrorBody,
        },
      },
    },
    async (req) => {
      const debt = await debtById(app.db.pooled, req.params.id);
      if (debt === null) throw notFound(req.params.id);
      const checkout = unwrap(await debtCheckout(app.payments, debt));
      return { debt: toDebtView(debt), checkout };
    },
  );
}
