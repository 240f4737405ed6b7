import type { CloudApi } from './cloud-api.js';

/**
 * The demo lots' operator: the legal identity its receipts print and the lots' VAT rate (the
 * Netherlands' 21 %), set through the public API (docs/money.md).
 */
export const DEMO_OPERATOR = {
  legalName: 'Parkedge Demo Parking B.V.',
  vatId: 'NL001234567B01',
  address: 'Damrak 1, 1012 LG Amsterdam',
  receiptPrefix: 'PED',
  vatRateBp: 2100,
} as const;

interface OperatorList {
  operators: { id: string; lots: { lotId: string }[] }[];
}

/** Give the operator of the demo lots its identity and each lot its VAT rate (idempotent). */
export async function seedOperator(admin: CloudApi, lotIds: readonly string[]): Promise<void> {
  const { operators } = await admin.request<OperatorList>('GET', '/v1/operators');
  const { vatRateBp, ...identity } = DEMO_OPERATOR;
  for (const op of operators) {
    if (!op.lots.some((l) => lotIds.includes(l.lotId))) continue;
    await admin.request('PATCH', `/v1/operators/${encodeURIComponent(op.id)}`, identity);
  }
  for (const lotId of lotIds) {
    await admin.request('PUT', `/v1/lots/${encodeURIComponent(lotId)}/vat`, { vatRateBp });
  }
}
