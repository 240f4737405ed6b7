import type { NotificationKind } from '../../protocol/notifications.js';

/**
 * Email templates, pure: a notification and the facts it is about in, subject + plain text + HTML
 * out. Every value is HTML-escaped in the HTML part, and anything that reaches a header (the
 * subject) has its control characters removed, so a name or plate can never add a header line.
 */

export interface ReservationFacts {
  id: string;
  plate: string;
  spotLabel: string;
  startAt: string;
  endAt: string;
  price: { amount: number; currency: string };
  refund: number | null;
  overstay: number | null;
}

export interface MailContext {
  kind: NotificationKind;
  lotName: string | null;
  lotId: string | null;
  reservation: ReservationFacts | null;
  payload: Record<string, unknown>;
  /** Links already built by the caller: the booking/receipt page, the pay link for a hold. */
  links: { booking?: string; pay?: string; receipt?: string };
  /** Content-ID of the inline QR image, when there is one. */
  qrCid?: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A header-safe single line: control characters (CR, LF, …) become spaces, length bounded. */
export function headerSafe(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 200);
}

/** Minor units as "12.50 EUR" (two decimals: the currencies the lots use). */
export function money(amount: number, currency: string): string {
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')} ${currency}`;
}

/** One line of a message: text with {placeholders} filled from values. */
type Line = { text: string; link?: string };

/** The receipt link line, when the payment has one. */
const receiptLine = (ctx: MailContext): Line[] =>
  ctx.links.receipt === undefined ? [] : [{ text: 'Your receipt (PDF)', link: ctx.links.receipt }];

function lines(ctx: MailContext): { subject: string; body: Line[] } {
  const r = ctx.reservation;
  const lot = ctx.lotName ?? ctx.lotId ?? 'your lot';
  const p = ctx.payload;
  const when = r ? `${r.startAt} to ${r.endAt}` : '';
  switch (ctx.kind) {
    case 'booking_confirmed':
      return {
        subject: `Booking confirmed: ${lot}, ${r?.plate ?? ''}`,
        body: [
          { text: `Your booking at ${lot} is confirmed.` },
          { text: `Plate ${r?.plate}, spot ${r?.spotLabel}, ${when}.` },
          { text: `Paid ${r ? money(r.price.amount, r.price.currency) : ''}.` },
          { text: 'Show the QR code at the gate if your plate is not recognised.' },
          { text: 'Your booking', link: ctx.links.booking },
          ...receiptLine(ctx),
        ],
      };
    case 'hold_expiring':
      return {
        subject: `Your hold at ${lot} expires in 5 minutes`,
        body: [
          { text: `Your spot at ${lot} for ${r?.plate} (${when}) is held for 5 more minutes.` },
          { text: 'Pay now to keep it', link: ctx.links.pay },
        ],
      };
    case 'booking_cancelled':
      return {
        subject: `Booking cancelled: ${lot}, ${r?.plate ?? ''}`,
        body: [
          { text: `Your booking at ${lot} for ${r?.plate} (${when}) is cancelled.` },
          {
            text:
              r && (r.refund ?? 0) > 0
                ? `Refunded ${money(r.refund ?? 0, r.price.currency)}.`
                : 'No refund is due under the lot policy.',
          },
          { text: 'Your booking', link: ctx.links.booking },
        ],
      };
    case 'no_show':
      return {
        subject: `Missed booking: ${lot}, ${r?.plate ?? ''}`,
        body: [{ text: `Your booking at ${lot} for ${r?.plate} (${when}) was marked as a no-show.` }],
      };
    case 'overstay_charged':
      return {
        subject: `Overstay charged: ${lot}, ${r?.plate ?? ''}`,
        body: [
          { text: `You left ${lot} after your booking ended (${r?.endAt}).` },
          {
            text: `An overstay of ${r ? money(r.overstay ?? 0, r.price.currency) : ''} was charged to your payment method.`,
          },
          { text: 'Your booking', link: ctx.links.booking },
          ...receiptLine(ctx),
        ],
      };
    case 'debt_opened':
      return {
        subject: `Unpaid parking at ${lot}`,
        body: [
          {
            text: `Vehicle ${String(p.plate ?? '')} left ${lot} with ${money(Number(p.amount ?? 0), String(p.currency ?? ''))} unpaid (${String(p.at ?? '')}).`,
          },
        ],
      };
    case 'lot_offline':
      return {
        subject: `Lot offline: ${lot}`,
        body: [
          { text: `Lot ${lot} has been offline since ${String(p.offlineSince ?? '')}.` },
          { text: 'Its gates keep working locally; bookings reach it when it is back.' },
        ],
      };
    case 'lot_online':
      return {
        subject: `Lot back online: ${lot}`,
        body: [
          {
            text: `Lot ${lot} is back online (${String(p.backAt ?? '')}, offline since ${String(p.offlineSince ?? '')}).`,
          },
        ],
      };
    case 'device_alarm':
      return {
        subject: `Alarm at ${lot}: ${String(p.alarm ?? '')}`,
        body: [
          {
            text: `${String(p.alarm ?? 'alarm')} at ${lot}, lane ${String(p.laneId ?? '-')}${p.device ? `, device ${String(p.device)}` : ''} (${String(p.at ?? '')}).`,
          },
          ...(p.detail ? [{ text: String(p.detail) }] : []),
        ],
      };
    case 'webhook_disabled':
      return {
        subject: 'A webhook was disabled',
        body: [
          { text: `Your webhook to ${String(p.url ?? '')} failed repeatedly and was disabled.` },
          { text: `Last error: ${String(p.lastError ?? 'unknown')}.` },
          { text: 'Create it again once the receiver works.' },
        ],
      };
  }
}

export function renderMail(ctx: MailContext): RenderedMail {
  const { subject, body } = lines(ctx);
  const text = [...body.map((l) => (l.link ? `${l.text}: ${l.link}` : l.text)), '', '— parkedge'].join('\n');
  const paragraphs = body.map((l) =>
    l.link
      ? `<p><a href="${escapeHtml(l.link)}">${escapeHtml(l.text)}</a></p>`
      : `<p>${escapeHtml(l.text)}</p>`,
  );
  if (ctx.qrCid) paragraphs.push(`<p><img src="cid:${escapeHtml(ctx.qrCid)}" alt="QR code" width="240"></p>`);
  const html = `<!doctype html><html><body style="font-family:sans-serif">${paragraphs.join('')}<p>— parkedge</p></body></html>`;
  return { subject: headerSafe(subject), text, html };
}
