import type { CloudApi } from './cloud-api.js';

/**
 * What a driver does with the QR on the exit lane's display (or on the pay page before walking
 * back): open the lot's pay page for the plate, which asks the cloud for a checkout of the fee the
 * cloud computed, pays it in the payment sandbox, and returns to the cloud with the token. The
 * cloud tells the lot over MQTT and the barrier opens. Same public HTTP calls as the pay page.
 */
export async function payExitFee(
  api: CloudApi,
  lotId: string,
  plate: string,
): Promise<{ reference: string; amount: { amount: number; currency: string } }> {
  const checkout = await api.request<{
    reference: string;
    paymentUrl: string;
    amount: { amount: number; currency: string };
  }>('POST', `/v1/lots/${encodeURIComponent(lotId)}/exit-payments`, { plate });
  const { paymentToken } = await api.sandboxPay(checkout.paymentUrl);
  await api.request('POST', '/v1/pay/complete', { reference: checkout.reference, paymentToken });
  return { reference: checkout.reference, amount: checkout.amount };
}

/** The lane display asks for payment by the QR: its lines name the fee and the pay link. */
export function displayAsksPayment(lines: readonly string[]): boolean {
  return lines.some((l) => l.endsWith(' to pay')) && lines.some((l) => /^https?:\/\/\S+\/pay\//.test(l));
}
