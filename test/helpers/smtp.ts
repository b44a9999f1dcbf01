/**
 * An in-process SMTP server for tests (smtp-server + mailparser) on 127.0.0.1 and a free port.
 * Plain SMTP (STARTTLS disabled), optional AUTH PLAIN/LOGIN, and hooks to refuse recipients with a
 * chosen SMTP reply code so the callers' error handling can be exercised against a real server.
 */
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

interface ReceivedMail {
  /** SMTP envelope (MAIL FROM / RCPT TO), as opposed to the headers. */
  envelope: { from: string; to: string[] };
  /** The authenticated user, if the client logged in. */
  user?: string;
  parsed: ParsedMail;
  raw: Buffer;
}

export interface TestSmtpServer {
  port: number;
  /** `smtp://127.0.0.1:<port>` (with `user:pass@` when auth is required). */
  url: string;
  received: ReceivedMail[];
  /** Reply code per recipient, e.g. `(rcpt) => rcpt.startsWith('bad') ? 550 : undefined`. */
  rejectRecipient?: (address: string) => number | undefined;
  waitForMails(count: number, filter?: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail[]>;
  stop(): Promise<void>;
}

export async function startSmtpServer(opts: { auth?: { user: string; pass: string } } = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const api: Partial<TestSmtpServer> = { received };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address: SMTPServerAddress, _session, cb) {
      const code = api.rejectRecipient?.(address.address);
      if (code) cb(Object.assign(new Error(`recipient ${address.address} refused (test)`), { responseCode: code }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            received.push({
              envelope: {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((r) => r.address),
              },
              user: typeof session.user === 'string' ? session.user : undefined,
              parsed,
              raw,
            });
            cb();
          })
          .catch((err: Error) => cb(err));
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // smtp-server keeps its net.Server on `.server`
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo).port;
  const cred = opts.auth ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.pass)}@` : '';
  return Object.assign(api, {
    port,
    url: `smtp://${cred}127.0.0.1:${port}`,
    received,
    async waitForMails(count: number, filter: (m: ReceivedMail) => boolean = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = received.filter(filter);
        if (got.length >= count) return got;
        if (Date.now() > deadline)
          throw new Error(`test SMTP: expected ${count} mail(s), got ${got.length} (of ${received.length})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as TestSmtpServer;
}
