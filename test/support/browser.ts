// Debian's Chromium driven by playwright-core (never a downloaded browser):
// headless, no network of its own, a fresh profile removed on close.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined. As root (CI) setup.sh installs chromium, so its absence is a failure, not a skip. */
export function browserSkipReason(): string | undefined {
  if (process.getuid?.() === 0 || existsSync(CHROMIUM)) return undefined;
  return `${CHROMIUM} is not installed and we are not root (as root, scripts/setup.sh --test installs the Debian package chromium)`;
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package chromium (scripts/setup.sh --test does)`);
  const profile = mkdtempSync(join(tmpdir(), 'fsidt5-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
