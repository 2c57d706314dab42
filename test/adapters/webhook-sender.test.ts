import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { WebhookSender, type AttemptResult } from '../../lambda/adapters/webhook-sender';
import { generateMessageId, generateSecret } from '../../lambda/core/webhooks/signing';
import { classify, nextStep, type DeliveryStep } from '../../lambda/core/webhooks/schedule';

/** A receiver on loopback: records every request (headers and body) and every TCP connection. */
interface Receiver {
  url: string;
  requests: { path: string; headers: IncomingMessage['headers']; body: string }[];
  connections: number;
  close(): Promise<void>;
}

async function receiver(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<Receiver> {
  const requests: Receiver['requests'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      answer(req, res, requests.length);
    });
  });
  const state = { connections: 0 };
  server.on('connection', () => (state.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const body = JSON.stringify({ type: 'key.revoked', timestamp: '2026-12-01T00:00:00Z', data: { keyId: 'key_1' } });
const headersOf = (r: Receiver['requests'][number]) => r.headers as Record<string, string>;

describe('WebhookSender', () => {
  const open: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(x: T): T => (open.push(x), x);
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  it('POSTs the JSON body with signed headers that the standardwebhooks package verifies', async () => {
    const rx = track(await receiver((_req, res) => res.writeHead(204).end()));
    const secret = generateSecret();
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const result = await sender.send({ url: rx.url, id: generateMessageId(), body, secrets: [secret] });
    expect(result.status).toBe(204);
    expect(result.errorClass).toBeUndefined();
    expect(classify(result)).toBe('delivered');
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(rx.requests).toHaveLength(1);
    const got = rx.requests[0]!;
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.body).toBe(body);
    expect(new Webhook(secret).verify(got.body, headersOf(got))).toEqual(JSON.parse(body));
  });

  it('during a rotation the delivery verifies with either secret', async () => {
    const rx = track(await receiver((_req, res) => res.writeHead(200).end('ok')));
    const next = generateSecret();
    const previous = generateSecret();
    const sender = track(new WebhookSender({ allowLoopback: true }));
    expect((await sender.send({ url: rx.url, id: 'msg_rot', body, secrets: [next, previous] })).status).toBe(200);
    const got = rx.requests[0]!;
    expect(() => new Webhook(next).verify(got.body, headersOf(got))).not.toThrow();
    expect(() => new Webhook(previous).verify(got.body, headersOf(got))).not.toThrow();
    expect(() => new Webhook(generateSecret()).verify(got.body, headersOf(got))).toThrow();
  });

  it('a receiver failing twice gets the event on the third attempt, same id, each signature valid', async () => {
    const rx = track(await receiver((_req, res, n) => res.writeHead(n <= 2 ? 500 : 200).end()));
    const secret = generateSecret();
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const schedule = [0, 20, 40, 60, 80]; // the real one, shortened
    const id = generateMessageId();
    const attempts: AttemptResult[] = [];
    let step: DeliveryStep | undefined;
    for (let attempt = 1; attempt <= schedule.length; attempt++) {
      const result = await sender.send({ url: rx.url, id, body, secrets: [secret] });
      attempts.push(result);
      step = nextStep(attempt, result, { schedule });
      if (step.kind !== 'retry') break;
      const { delayMs } = step;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    expect(step).toEqual({ kind: 'delivered' });
    expect(attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(attempts.map((a) => a.errorClass)).toEqual(['http_status', 'http_status', undefined]);
    expect(rx.requests).toHaveLength(3);
    for (const r of rx.requests) {
      expect(r.headers['webhook-id']).toBe(id);
      expect(() => new Webhook(secret).verify(r.body, headersOf(r))).not.toThrow();
    }
  });

  it('does not follow a redirect: a 3xx is a failure and the target is never asked', async () => {
    const rx = track(
      await receiver((req, res) => {
        if (req.url === '/hook') res.writeHead(307, { location: '/elsewhere' }).end();
        else res.writeHead(200).end();
      }),
    );
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const result = await sender.send({ url: rx.url, id: 'msg_r', body, secrets: [generateSecret()] });
    expect(result).toMatchObject({ status: 307, errorClass: 'redirect' });
    expect(classify(result)).toBe('retry');
    expect(rx.requests.map((r) => r.path)).toEqual(['/hook']);
  });

  it('410 classifies as gone; Retry-After is passed on for the schedule, never the body', async () => {
    const rx = track(
      await receiver((_req, res, n) =>
        n === 1 ? res.writeHead(410).end('secret receiver text') : res.writeHead(503, { 'retry-after': '90' }).end('busy'),
      ),
    );
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const gone = await sender.send({ url: rx.url, id: 'msg_g', body, secrets: [generateSecret()] });
    expect(gone.status).toBe(410);
    expect(classify(gone)).toBe('gone');
    expect(JSON.stringify(gone)).not.toContain('secret receiver text');
    const busy = await sender.send({ url: rx.url, id: 'msg_b', body, secrets: [generateSecret()] });
    expect(busy).toMatchObject({ status: 503, retryAfter: '90' });
    expect(nextStep(1, busy)).toEqual({ kind: 'retry', delayMs: 90_000 });
    expect(Object.keys(busy).sort()).toEqual(['errorClass', 'latencyMs', 'retryAfter', 'status']);
  });

  it('refuses private, metadata and (in AWS mode) loopback targets before any connection', async () => {
    const rx = track(await receiver((_req, res) => res.writeHead(200).end()));
    const port = new URL(rx.url).port;
    const resolve = async (host: string) => (host === 'localhost' ? ['127.0.0.1'] : []);
    const aws = track(new WebhookSender({ allowLoopback: false, resolve }));
    const local = track(new WebhookSender({ allowLoopback: true, resolve }));
    const secrets = [generateSecret()];
    const cases: [WebhookSender, string][] = [
      [local, 'http://10.0.0.1/hook'],
      [aws, 'https://10.0.0.1/hook'],
      [local, 'http://169.254.169.254/latest/meta-data/'],
      [aws, 'https://169.254.169.254/latest/meta-data/'],
      [aws, 'https://[fd00:ec2::254]/'],
      [aws, `https://localhost:${port}/hook`], // a name resolving to 127.0.0.1
      [aws, `https://127.0.0.1:${port}/hook`],
      [aws, rx.url], // plain http in AWS mode
    ];
    for (const [sender, url] of cases) {
      const result = await sender.send({ url, id: 'msg_p', body, secrets });
      expect({ url, result }).toEqual({ url, result: { latencyMs: expect.any(Number), errorClass: 'forbidden_url' } });
    }
    expect(rx.connections).toBe(0);
  });

  it('checks the address again at connect time (a name that was public when checked)', async () => {
    const rx = track(await receiver((_req, res) => res.writeHead(200).end()));
    const port = new URL(rx.url).port;
    // The pre-connection check sees a public address; the connect-time lookup (the system's) sees 127.0.0.1.
    const sender = track(new WebhookSender({ allowLoopback: false, resolve: async () => ['93.184.215.14'] }));
    const result = await sender.send({ url: `https://localhost:${port}/hook`, id: 'msg_dns', body, secrets: [generateSecret()] });
    expect(result).toEqual({ latencyMs: expect.any(Number), errorClass: 'forbidden_address' });
    expect(rx.connections).toBe(0);
  });

  it('gives up on a receiver that hangs at the timeout', async () => {
    const rx = track(await receiver(() => undefined)); // never answers
    const sender = track(new WebhookSender({ allowLoopback: true, timeoutMs: 300 }));
    const result = await sender.send({ url: rx.url, id: 'msg_t', body, secrets: [generateSecret()] });
    expect(result.errorClass).toBe('timeout');
    expect(result.status).toBeUndefined();
    expect(result.latencyMs).toBeGreaterThanOrEqual(250);
    expect(result.latencyMs).toBeLessThan(5_000);
    expect(rx.requests).toHaveLength(1); // it was sent, and not answered
  });

  it('a refused connection is connect_failed', async () => {
    const rx = await receiver((_req, res) => res.writeHead(200).end());
    const url = rx.url;
    await rx.close(); // nothing listens on the port any more
    const sender = track(new WebhookSender({ allowLoopback: true }));
    expect(await sender.send({ url, id: 'msg_c', body, secrets: [generateSecret()] })).toEqual({
      latencyMs: expect.any(Number),
      errorClass: 'connect_failed',
    });
  });
});
