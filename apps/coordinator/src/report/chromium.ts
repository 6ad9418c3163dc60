/**
 * Headless Chromium (Debian's `chromium` package) for the report and status-page tests: one
 * process per page loads a URL, prints the DOM after scripts ran, and writes a screenshot. A fresh
 * profile directory each time; no network beyond the URL itself (background services disabled).
 * When Chromium is missing the call fails, saying how to install it: the browser tests never skip.
 */
import { execFile } from 'child_process';
import { promises as fs, accessSync, constants } from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The chromium binary on PATH; throws with the install command when there is none. */
export function findChromium(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, 'chromium');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  throw new Error(`headless Chromium is not installed (no 'chromium' on PATH): apt-get install chromium`);
}

export interface RenderOptions {
  /** Write a PNG screenshot here. */
  screenshot?: string;
  width?: number;
  height?: number;
  /** Let the page's timers and fetches run this long (virtual time) before the DOM is dumped. */
  virtualTimeBudgetMs?: number;
  timeoutMs?: number;
}

/** Loads `url` in headless Chromium and returns the DOM as serialized after load. */
export async function renderInChromium(url: string, opts: RenderOptions = {}): Promise<string> {
  const bin = findChromium();
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'chromium-profile-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`,
    `--window-size=${opts.width ?? 1280},${opts.height ?? 2000}`,
  ];
  if (opts.virtualTimeBudgetMs) args.push(`--virtual-time-budget=${opts.virtualTimeBudgetMs}`);
  if (opts.screenshot) args.push(`--screenshot=${opts.screenshot}`);
  args.push('--dump-dom', url);
  try {
    return await new Promise<string>((resolve, reject) => {
      execFile(bin, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: 'disabled:' } }, (err, stdout, stderr) => {
        if (err) reject(new Error(`chromium failed on ${url}: ${err.message}\n${String(stderr).slice(-2000)}`));
        else resolve(String(stdout));
      });
    });
  } finally {
    await fs.rm(profile, { recursive: true, force: true });
  }
}
