import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The page: one HTML file with its script and style inline, next to this module in lib/ and in dist/. */
export const DASHBOARD_PAGE = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');

function inlineHashes(tag: 'script' | 'style'): string {
  return [...DASHBOARD_PAGE.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
    .map(([, body]) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`)
    .join(' ');
}

/**
 * The page runs its own inline script and style and talks to its own API, nothing else: an event's
 * payload is shown as text, and this policy keeps a payload crafted as markup from running anyway.
 */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${inlineHashes('script')}`,
  `style-src ${inlineHashes('style')}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
