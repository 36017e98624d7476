// Waits for kube-apiserver's /readyz, failing early with the reason when a control-plane process dies.
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';

function getReadyz(url: string, ca: Buffer, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${url}/readyz`, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function waitForApiserver(url: string, caFile: string, token: string, timeoutMs: number,
  failure: () => Promise<string | undefined>): Promise<void> {
  const ca = await readFile(caFile);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await getReadyz(url, ca, token)) === 200) return;
    const why = await failure();
    if (why) throw new Error(why);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kube-apiserver at ${url} not ready after ${timeoutMs / 1000}s`);
}
