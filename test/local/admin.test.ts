import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdminControls, type AdminServer, startAdminServer } from '../../local/admin';
import type { StatusSnapshot } from '../../local/status';

/** Controls that record the cuts they were asked for. */
function recordingControls(cuts: string[]): AdminControls {
  return {
    regions: ['us-east-1', 'eu-west-1'],
    cut: (a, b) => void cuts.push(`${a}|${b}`),
    heal: () => undefined,
    setDown: () => undefined,
    setLag: () => undefined,
    reconcileNow: async () => undefined,
    status: async () => ({ links: [] }) as unknown as StatusSnapshot,
  };
}

/** One request with exactly these headers (fetch would not let a test set Host). */
function request(
  url: string,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { error?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the admin endpoint', () => {
  let admin: AdminServer;
  const cuts: string[] = [];
  const cutPath = '/admin/cut?a=us-east-1&b=eu-west-1';
  beforeAll(async () => {
    admin = await startAdminServer(0, recordingControls(cuts));
  });
  afterAll(() => admin.stop());
  const port = () => new URL(admin.url).port;

  it('serves curl and scripts (loopback Host, no Origin)', async () => {
    for (const host of [`127.0.0.1:${port()}`, `localhost:${port()}`]) {
      const res = await request(`${admin.url}${cutPath}`, 'POST', { host });
      expect(res.status, host).toBe(200);
    }
    expect((await fetch(`${admin.url}${cutPath}`, { method: 'POST' })).status).toBe(200);
    expect(cuts).toHaveLength(3);
  });

  it.each([
    [
      'a cross-origin page',
      { origin: 'https://evil.example' },
      /cross-origin request from https:\/\/evil\.example/,
    ],
    ['a page of another local port', { origin: 'http://127.0.0.1:1' }, /cross-origin/],
    ['a sandboxed page', { origin: 'null' }, /cross-origin/],
    ['a cross-site fetch', { 'sec-fetch-site': 'cross-site' }, /cross-site request/],
    [
      'a DNS-rebinding page',
      { host: 'evil.example' },
      /Host "evil\.example" is not this loopback endpoint/,
    ],
  ])('refuses %s with 403 and changes nothing', async (_name, headers, message) => {
    const before = cuts.length;
    const res = await request(`${admin.url}${cutPath}`, 'POST', {
      host: `127.0.0.1:${port()}`,
      ...headers,
    });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(message);
    expect(cuts).toHaveLength(before);
  });

  it('accepts its own origin', async () => {
    const res = await request(`${admin.url}/admin/status`, 'GET', {
      host: `127.0.0.1:${port()}`,
      origin: `http://127.0.0.1:${port()}`,
    });
    expect(res.status).toBe(200);
  });
});
