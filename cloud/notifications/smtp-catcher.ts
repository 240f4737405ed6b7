import { SMTPServer } from 'smtp-server';

/**
 * An SMTP server in this process that keeps every message it is sent (the demo's mail page and
 * the tests). Plain SMTP on 127.0.0.1, any or no login accepted: never a production relay.
 */
export interface CaughtMail {
  from: string;
  to: string[];
  raw: string;
  /** Decoded headers of interest, read from the raw message. */
  subject: string;
  messageId: string;
}

export interface SmtpCatcher {
  url: string;
  readonly messages: CaughtMail[];
  /** Resolves when at least n messages have arrived. */
  waitFor(n: number): Promise<CaughtMail[]>;
  close(): Promise<void>;
}

/** A header's value from a raw message (folded lines joined; RFC 2047 words left as they are). */
export function headerOf(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line === undefined ? '' : line.slice(name.length + 1).trim();
}

export interface CatcherOptions {
  /**
   * Asked once a message's header block has arrived: true = behave as a connection that dies
   * here (the crash tests kill the sender from this hook). The message is neither kept nor
   * answered; a message is received only when the server answers 250, which this one never does.
   */
  cutOff?: (head: { messageId: string; to: string[] }) => boolean;
}

export async function startSmtpCatcher(
  port = 0,
  limit = 200,
  options: CatcherOptions = {},
): Promise<SmtpCatcher> {
  const messages: CaughtMail[] = [];
  const waiters: { n: number; resolve: (m: CaughtMail[]) => void }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth: (_auth, _session, cb) => cb(null, { user: 'catcher' }),
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let asked = options.cutOff === undefined;
      let cut = false;
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        if (asked) return;
        const head = Buffer.concat(chunks).toString('utf8');
        if (!/\r?\n\r?\n/.test(head)) return;
        asked = true;
        cut =
          options.cutOff?.({
            messageId: headerOf(head, 'message-id'),
            to: session.envelope.rcptTo.map((r) => r.address),
          }) === true;
      });
      stream.on('end', () => {
        if (cut) return;
        const raw = Buffer.concat(chunks).toString('utf8');
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          subject: headerOf(raw, 'subject'),
          messageId: headerOf(raw, 'message-id'),
        });
        if (messages.length > limit) messages.shift();
        for (const w of waiters.splice(0)) {
          if (messages.length >= w.n) w.resolve(messages);
          else waiters.push(w);
        }
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `smtp://127.0.0.1:${actual}`,
    messages,
    waitFor: (n) =>
      messages.length >= n
        ? Promise.resolve(messages)
        : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
