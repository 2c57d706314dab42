/**
 * The console's Overview, Fleet and Connect pages in a real browser against `serve --demo`: real
 * MCP traffic through the gateway, flushed into the analytics, shown as the same figures the
 * usage API answers; the fleet view per org; and a Claude Desktop configuration that parses.
 */
import type { Page } from 'playwright-core';
import { call, initializeMessage, rpc, toolCall } from '../e2e/gateway-expect';
import { type ConsoleStack, screenshot, signIn, startConsoleStack } from './browser';

let stack: ConsoleStack;
let page: Page;
/** How many MCP requests (HTTP requests) the tests sent through the gateway. */
let sentRequests = 0;

interface UsageAnswer {
  totals: { requests: number; errors: number };
  series: { group: string; points: { requests: number }[] }[];
}

async function usage(path: string, token: string, query: Record<string, string>): Promise<UsageAnswer> {
  const res = await fetch(`${stack.gateway.adminUrl}${path}?${new URLSearchParams(query).toString()}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as UsageAnswer;
}

const orgUsage = (query: Record<string, string>) => usage(`/orgs/${stack.demo.orgId}/usage`, stack.demo.orgAdminKey, query);

/** The number in a figure the page wrote with thousands separators. */
async function figure(selector: ReturnType<Page['locator']>): Promise<number> {
  return Number((await selector.innerText()).replace(/[^\d]/g, ''));
}

beforeAll(async () => {
  stack = await startConsoleStack();
  // Real traffic with the demo member key, each request awaited to its last byte (no standing
  // GET stream, whose usage record would come whenever it closes): initialize, the initialized
  // notification, tools/list and tool calls.
  const url = `${stack.gateway.baseUrl}/mcp/everything`;
  const init = await call(url, stack.demo.apiKey, initializeMessage(1));
  expect(init.status).toBe(200);
  const session = init.headers['mcp-session-id'];
  expect(session).toBeTruthy();
  const sent = [
    init,
    await call(url, stack.demo.apiKey, rpc(undefined, 'notifications/initialized'), { session }),
    await call(url, stack.demo.apiKey, rpc(2, 'tools/list'), { session }),
  ];
  for (let i = 0; i < 5; i++) sent.push(await call(url, stack.demo.apiKey, toolCall(10 + i, 'echo', { message: `hello ${i}` }), { session }));
  expect(sent.map((answer) => answer.status)).toEqual([200, 202, 200, 200, 200, 200, 200, 200]);
  sentRequests = sent.length;
  await stack.gateway.flushAnalytics();
}, 90_000);
afterAll(async () => stack?.close());
beforeEach(async () => {
  page = await stack.newPage();
});
afterEach(async () => {
  await page.context().close();
  expect(stack.problems.splice(0)).toEqual([]);
});

test('the Overview shows the usage API’s totals, the charts and the top MCP servers, keys and tools, per range', async () => {
  await signIn(page, stack, stack.demo.orgAdminKey, '#/overview');
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await page.getByText('Usage of the last 24 hours, per hour').waitFor();

  const day = await orgUsage({ from: '-24h', granularity: 'hour', groupBy: 'all' });
  // This stack's only traffic is what beforeAll sent.
  expect(day.totals.requests).toBe(sentRequests);
  expect(await figure(page.getByTestId('total-requests'))).toBe(day.totals.requests);

  // Both charts are drawn (uPlot canvases) and described in text.
  expect(await page.locator('.chart canvas').count()).toBe(2);
  const requestsChart = page.getByRole('img', { name: /^Requests and errors per hour/ });
  await requestsChart.waitFor();
  expect(await requestsChart.getAttribute('aria-label')).toContain(`${day.totals.requests} requests`);

  const topMcps = page.getByRole('table', { name: 'Top MCP servers' });
  const everythingRow = topMcps.getByRole('row', { name: /everything/ });
  await everythingRow.waitFor();
  const mcpDay = await orgUsage({ from: '-24h', granularity: 'hour', groupBy: 'mcp', group: 'everything' });
  expect(await figure(everythingRow.getByRole('cell').first())).toBe(mcpDay.totals.requests);
  // The member key that sent the traffic and the tool it called.
  const memberKeyId = stack.demo.apiKey.split('_')[1]!;
  await page.getByRole('table', { name: 'Top keys' }).getByRole('row', { name: new RegExp(memberKeyId) }).waitFor();
  await page.getByRole('table', { name: 'Top tools' }).getByRole('row', { name: /echo/ }).waitFor();
  await screenshot(page, 'overview');

  // Each range asks the API for its own granularity, and the figure follows.
  for (const [button, caption, query] of [
    ['Hour', 'the last hour, per minute', { from: '-1h', granularity: 'minute' }],
    ['Week', 'the last 7 days, per hour', { from: '-7d', granularity: 'hour' }],
    ['Month', 'the last 30 days, per day', { from: '-30d', granularity: 'day' }],
  ] as const) {
    await page.getByRole('group', { name: 'Range' }).getByRole('button', { name: button }).click();
    await page.getByText(`Usage of ${caption}`).waitFor();
    expect(await page.getByRole('button', { name: button }).getAttribute('aria-pressed')).toBe('true');
    const report = await orgUsage({ ...query, groupBy: 'all' });
    expect(await figure(page.getByTestId('total-requests'))).toBe(report.totals.requests);
    await page.getByRole('img', { name: new RegExp(`^Requests and errors per ${query.granularity}`) }).waitFor();
  }
  await screenshot(page, 'overview-month');

  // The charts follow their container: a narrower window gives one column of wider charts.
  const chartWidth = () => page.locator('.chart canvas').first().evaluate((canvas) => canvas.getBoundingClientRect().width);
  const before = await chartWidth();
  await page.setViewportSize({ width: 1000, height: 860 });
  await page.waitForFunction(
    (was) => {
      // Runs in the page; the test's TypeScript has no DOM types, so the little it reads is typed here.
      type Box = { getBoundingClientRect(): { width: number } };
      const doc = (globalThis as unknown as { document: { querySelector(selector: string): (Box & { clientWidth: number; querySelector(selector: string): Box | null }) | null } }).document;
      const container = doc.querySelector('.chart');
      const canvas = container?.querySelector('canvas');
      return !!container && !!canvas && Math.abs(canvas.getBoundingClientRect().width - container.clientWidth) <= 1 && Math.abs(container.clientWidth - was) > 20;
    },
    before,
    { timeout: 5_000 },
  );
  // Leaving the page destroys the plots: resizing afterwards must not reach them (no page error).
  await page.getByRole('link', { name: 'Connect' }).click();
  await page.getByRole('heading', { level: 1, name: 'Connect' }).waitFor();
  expect(await page.locator('.uplot').count()).toBe(0);
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByText('Usage of the last 24 hours, per hour').waitFor();
  expect(await page.locator('.uplot').count()).toBe(2);
  await page.getByRole('button', { name: 'Month' }).click();
  await page.getByText('Usage of the last 30 days, per day').waitFor();

  // The text alternative: the data table holds every bucket.
  await page.getByText('Data table').first().click();
  const dataTable = page.locator('.chart-data table').first();
  const month = await orgUsage({ from: '-30d', granularity: 'day', groupBy: 'all' });
  expect(await dataTable.locator('tbody tr').count()).toBe(month.series[0]!.points.length);
});

test('the operator’s Fleet lists every org with its last-24-hours usage as GET /usage?groupBy=org answers it', async () => {
  await signIn(page, stack, stack.gateway.operatorToken);
  await page.getByRole('heading', { level: 1, name: 'Fleet' }).waitFor();
  const fleet = await usage('/usage', stack.gateway.operatorToken, { from: '-24h', granularity: 'hour', groupBy: 'org' });
  const demoSeries = fleet.series.find((s) => s.group === stack.demo.orgId);
  expect(demoSeries).toBeDefined();
  const demoRequests = demoSeries!.points.reduce((n, p) => n + p.requests, 0);
  expect(demoRequests).toBe(sentRequests);

  const demoRow = page.locator(`tr[data-org-id="${stack.demo.orgId}"]`);
  await demoRow.waitFor();
  expect(await demoRow.getByRole('rowheader').innerText()).toBe('Demo');
  expect(await figure(demoRow.getByTestId('org-requests'))).toBe(demoRequests);
  expect(await figure(page.getByTestId('fleet-requests'))).toBe(fleet.totals.requests);
  await screenshot(page, 'fleet');

  // Opening the org picks it for the other pages: its overview shows its own total.
  await demoRow.getByRole('button', { name: 'Open Demo' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  expect(await page.getByLabel('Organisation', { exact: true }).inputValue()).toBe(stack.demo.orgId);
  await page.getByTestId('total-requests').waitFor();
  expect(await figure(page.getByTestId('total-requests'))).toBe(demoRequests);
});

test('Connect shows a Claude Desktop configuration for the picked MCP server that parses, with the gateway URL and a key placeholder', async () => {
  await signIn(page, stack, stack.demo.orgAdminKey, '#/connect');
  await page.getByRole('heading', { level: 1, name: 'Connect' }).waitFor();
  await page.getByLabel('MCP server').selectOption('everything');
  const memberKeyId = stack.demo.apiKey.split('_')[1]!;
  await page.getByLabel('API key').selectOption(memberKeyId);

  const gatewayUrl = `${stack.gateway.baseUrl}/mcp/everything`;
  const config = JSON.parse(await page.getByTestId('snippet-claude').innerText()) as {
    mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
  };
  const entry = config.mcpServers['plexmcp-everything']!;
  expect(entry.command).toBe('npx');
  expect(entry.args).toContain(gatewayUrl);
  expect(entry.args).toEqual(['-y', 'mcp-remote@0.15.1', gatewayUrl, '--header', 'Authorization:${PLEXMCP_AUTH_HEADER}', '--transport', 'http-only', '--allow-http']);
  expect(entry.env.PLEXMCP_AUTH_HEADER).toBe(`Bearer pmcp_${memberKeyId}_…your secret…`);
  expect(await page.getByTestId('gateway-url').innerText()).toBe(gatewayUrl);
  // No secret on the page: neither key the test holds.
  const text = await page.locator('main').innerText();
  expect(text).not.toContain(stack.demo.apiKey);
  expect(text).not.toContain(stack.demo.orgAdminKey);
  expect(await page.getByTestId('snippet-curl').innerText()).toContain(`curl -s '${gatewayUrl}'`);
  expect(await page.getByTestId('snippet-sdk').innerText()).toContain('StreamableHTTPClientTransport');
  await screenshot(page, 'connect');
});
