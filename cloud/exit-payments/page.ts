import { formatMoney, type Money } from '../../protocol/money.js';

/**
 * The public pay pages: plain HTML with a small script over the public API. With the sandbox
 * provider the page pays in place (the sandbox's pay call, then the return); with a hosted provider
 * it sends the browser to the provider's checkout, whose capture reaches the same purpose.
 */

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** A value for the script: JSON, with `<` escaped so no text can close the script element. */
const js = (v: unknown) => JSON.stringify(v).replaceAll('<', '\\u003c');

const STYLE = `body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}
input,button{font-size:1.2rem;padding:.3rem}#out{margin-top:1rem;font-size:1.2rem}`;

/** Pays a checkout: the sandbox in place, else the provider's page. Returns the completion. */
const PAY_SCRIPT = `
async function api(method, url, body) {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json',
    'idempotency-key': crypto.randomUUID() }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.message || res.status);
  return json;
}
async function payCheckout(checkout) {
  const marker = '/v1/sandbox/checkout/';
  const at = checkout.paymentUrl.indexOf(marker);
  if (at < 0) { location.href = checkout.paymentUrl; return null; }
  const paid = await api('POST', '/v1/sandbox/pay', { checkout: checkout.paymentUrl.slice(at + marker.length) });
  return api('POST', '/v1/pay/complete', { reference: checkout.reference, paymentToken: paid.paymentToken });
}`;

export function payPage(p: { lotId: string; lotName: string; plate: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Pay parking — ${esc(p.lotName)}</title><style>${STYLE}</style></head>
<body><h1>${esc(p.lotName)}</h1><p>Pay your stay, then drive to the exit: the barrier opens.</p>
<form id="f"><label>Plate <input id="plate" value="${esc(p.plate)}" maxlength="20" required></label>
<button>Show fee</button></form><div id="out"></div>
<script>
const lotId = ${js(p.lotId)};
const out = document.getElementById('out');
${PAY_SCRIPT}
async function quote() {
  const plate = document.getElementById('plate').value;
  out.textContent = '…';
  try {
    const q = await api('GET', '/v1/lots/' + encodeURIComponent(lotId) + '/exit-fee?plate=' + encodeURIComponent(plate));
    const fmt = (m) => (m.amount / 100).toFixed(2) + ' ' + m.currency;
    out.innerHTML = '';
    const p = document.createElement('p');
    p.textContent = 'In since ' + new Date(q.enteredAt).toLocaleString() + ' — to pay now: ' + fmt(q.due);
    out.append(p);
    if (q.due.amount <= 0) return;
    const b = document.createElement('button');
    b.textContent = 'Pay ' + fmt(q.due);
    b.onclick = async () => {
      b.disabled = true;
      try {
        const c = await api('POST', '/v1/lots/' + encodeURIComponent(lotId) + '/exit-payments', { plate });
        const done = await payCheckout(c);
        if (done) out.textContent = 'Paid ' + fmt(done.amount) + '. Drive to the exit: the barrier opens.';
      } catch (e) { out.textContent = 'Not paid: ' + e.message; b.disabled = false; }
    };
    out.append(b);
  } catch (e) { out.textContent = e.message; }
}
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); quote(); };
if (document.getElementById('plate').value) quote();
</script></body></html>`;
}

export function debtPage(d: { id: string; plate: string; amount: Money; status: string }): string {
  const open = d.status === 'open';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Pay a parking debt</title><style>${STYLE}</style></head>
<body><h1>Parking debt — ${esc(d.plate)}</h1>
<p>${open ? `Owed: <strong>${esc(formatMoney(d.amount))}</strong>` : `This debt is ${esc(d.status.replace('_', ' '))}.`}</p>
${open ? '<button id="pay">Pay now</button>' : ''}<div id="out"></div>
<script>
const debtId = ${js(d.id)};
const out = document.getElementById('out');
${PAY_SCRIPT}
const b = document.getElementById('pay');
if (b) b.onclick = async () => {
  b.disabled = true;
  try {
    const r = await api('POST', '/v1/debts/' + encodeURIComponent(debtId) + '/checkout', {});
    const done = await payCheckout(r.checkout);
    if (done) out.textContent = 'Paid. You can book again; the car parks let you in.';
  } catch (e) { out.textContent = 'Not paid: ' + e.message; b.disabled = false; }
};
</script></body></html>`;
}
