import PDFDocument from 'pdfkit';
import type { Receipt } from '../../protocol/receipts.js';
import { escapeHtml, money } from '../notifications/templates.js';

/**
 * A receipt as a document: one content model (what a receipt says), rendered as a PDF (pdfkit) or
 * an HTML page — the same lines in both.
 */

export interface ReceiptContent {
  title: string;
  /** Number, date, issuer, lot. */
  header: [string, string][];
  /** What was bought. */
  item: string;
  /** Net, VAT, gross. */
  amounts: [string, string][];
  footer: string[];
}

function localTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(
    new Date(iso),
  );
}

function itemText(r: Receipt): string {
  const tz = r.lot.timeZone;
  const plate = r.plate === null ? '' : `, plate ${r.plate}`;
  const period =
    r.periodStart === null
      ? ''
      : `, ${localTime(r.periodStart, tz)} – ${r.periodEnd === null ? 'open' : localTime(r.periodEnd, tz)}`;
  const minutes =
    r.periodStart !== null && r.periodEnd !== null
      ? Math.round((Date.parse(r.periodEnd) - Date.parse(r.periodStart)) / 60_000)
      : null;
  switch (r.purpose) {
    case 'capture':
      return `Parking booking at ${r.lot.name}${plate}${period}`;
    case 'overstay':
      return `Overstay after a booking at ${r.lot.name}${plate}${minutes === null ? '' : `, ${minutes} minutes`}${period}`;
    case 'exit':
      return `Parking stay at ${r.lot.name}${plate}${period}`;
    case 'debt':
      return `Settlement of an unpaid stay at ${r.lot.name}${plate}${period}`;
    case 'refund':
      return `Refund${r.credits === null ? '' : ` of receipt ${r.credits}`} at ${r.lot.name}${plate}${period}`;
  }
}

export function receiptContent(r: Receipt): ReceiptContent {
  const pct = `${(r.vatRateBp / 100).toFixed(2).replace(/\.?0+$/, '')} %`;
  const header: [string, string][] = [
    [r.kind === 'credit_note' ? 'Credit note number' : 'Receipt number', r.number],
    ['Date', localTime(r.issuedAt, r.lot.timeZone)],
    ['Issued by', r.operator.legalName],
  ];
  if (r.operator.address !== null) header.push(['Address', r.operator.address]);
  if (r.operator.vatId !== null) header.push(['VAT id', r.operator.vatId]);
  header.push(['Lot', `${r.lot.name} (${r.lot.id})`]);
  if (r.credits !== null) header.push(['Credits receipt', r.credits]);
  return {
    title: r.kind === 'credit_note' ? 'Credit note' : 'Receipt',
    header,
    item: itemText(r),
    amounts: [
      ['Net', money(r.net, r.currency)],
      [`VAT ${pct}`, money(r.vat, r.currency)],
      [r.kind === 'credit_note' ? 'Total refunded' : 'Total paid', money(r.gross, r.currency)],
    ],
    footer: [
      `Paid ${r.method === 'cash' ? 'in cash' : 'by card (payment provider)'}. Payment ${r.paymentId}.`,
      'Prices include VAT.',
    ],
  };
}

export function receiptHtml(r: Receipt): string {
  const c = receiptContent(r);
  const rows = (pairs: [string, string][]) =>
    pairs.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${c.title} ${r.number}`)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
th{text-align:left;padding-right:1rem;font-weight:600}td.amount,.amounts td{text-align:right}
table{border-collapse:collapse;margin:1rem 0}.amounts tr:last-child{border-top:1px solid #888;font-weight:700}</style>
</head><body>
<h1>${escapeHtml(c.title)}</h1>
<table class="header">${rows(c.header)}</table>
<p class="item">${escapeHtml(c.item)}</p>
<table class="amounts">${rows(c.amounts)}</table>
${c.footer.map((f) => `<p><small>${escapeHtml(f)}</small></p>`).join('\n')}
</body></html>
`;
}

/** The PDF bytes; `compress: false` leaves the text readable in the file (tests). */
export function receiptPdf(r: Receipt, opts: { compress?: boolean } = {}): Promise<Buffer> {
  const c = receiptContent(r);
  const doc = new PDFDocument({
    size: 'A4',
    margin: 56,
    compress: opts.compress ?? true,
    info: {
      Title: `${c.title} ${r.number}`,
      Author: r.operator.legalName,
      CreationDate: new Date(r.issuedAt),
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (b: Buffer) => chunks.push(b));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.font('Helvetica-Bold').fontSize(20).text(c.title).moveDown();
  doc.fontSize(10);
  for (const [k, v] of c.header)
    doc.font('Helvetica-Bold').text(`${k}: `, { continued: true }).font('Helvetica').text(v);
  doc.moveDown().font('Helvetica').fontSize(11).text(c.item).moveDown();
  for (const [k, v] of c.amounts) {
    doc.font(k.startsWith('Total') ? 'Helvetica-Bold' : 'Helvetica').text(`${k}: ${v}`, { align: 'right' });
  }
  doc.moveDown().font('Helvetica').fontSize(8);
  for (const f of c.footer) doc.text(f);
  doc.end();
  return done;
}
