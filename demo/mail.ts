import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CaughtMail, type SmtpCatcher, startSmtpCatcher } from '../cloud/notifications/smtp-catcher.js';
import { escapeHtml } from '../cloud/notifications/templates.js';

/**
 * The demo's mail catcher: an SMTP server in process that the cloud sends to, and a page that
 * shows what arrived (newest first: subject, recipient, the plain-text part; the raw message).
 */
export interface DemoMail {
  smtpUrl: string;
  pageUrl: string;
  close(): Promise<void>;
}

/** The text/plain part of a message, quoted-printable decoded (what nodemailer sends). */
function plainText(m: CaughtMail): string {
  const part =
    /Content-Type: text\/plain[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n([\s\S]*?)\r?\n--/i.exec(m.raw)?.[1] ?? '';
  const bytes = part
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function page(catcher: SmtpCatcher): string {
  const items = [...catcher.messages]
    .map((m, i) => ({ m, i }))
    .reverse()
    .map(
      ({ m, i }) =>
        `<article><h3>${escapeHtml(m.subject)}</h3><p>to ${escapeHtml(m.to.join(', '))} · <a href="/raw/${i}">raw</a></p><pre>${escapeHtml(plainText(m))}</pre></article>`,
    )
    .join('<hr>');
  return `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>parkedge demo mail</title><body style="font-family:sans-serif;max-width:50em;margin:auto"><h1>Sent email (${catcher.messages.length})</h1>${items || '<p>Nothing sent yet: book a spot and pay.</p>'}</body>`;
}

export async function startDemoMail(): Promise<DemoMail> {
  const catcher = await startSmtpCatcher();
  const server = createServer((req, res) => {
    const raw = /^\/raw\/(\d+)$/.exec(req.url ?? '');
    if (raw) {
      const m = catcher.messages[Number(raw[1])];
      res
        .writeHead(m ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' })
        .end(m?.raw ?? 'not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(catcher));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    smtpUrl: catcher.url,
    pageUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await catcher.close();
    },
  };
}
