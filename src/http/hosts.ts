// Which Host headers the service answers, and which origins may POST: a web
// page cannot reach the service through DNS rebinding (its Host is the
// attacker's name) nor make a browser POST /refresh to it (its Origin is the
// attacker's site).
import { hostname } from 'node:os';

/**
 * The names always allowed, besides any IP literal: localhost, the machine's
 * host name (and any name under it: its FQDN), single-label names (cluster
 * DNS short names), Kubernetes Service names, and the manifests' Service.
 */
export function defaultAllowedHosts(host = hostname()): string[] {
  const own = host.toLowerCase();
  return [
    'localhost',
    '.localhost',
    own,
    `.${own.split('.')[0]}.`,
    '.svc',
    '.svc.cluster.local',
    'criu-readiness.criu-readiness',
  ];
}

/** An IPv4 or IPv6 literal (no DNS name looks like one, so none can be rebound). */
function ipLiteral(name: string): boolean {
  return /^(?:\d{1,3}\.){3}\d{1,3}$/.test(name) || (name.includes(':') && /^[0-9a-f:.]+(?:%[\w.-]+)?$/.test(name));
}

/** The name of a Host header or an Origin's authority, without port or brackets, lower case; undefined if malformed. */
function hostName(authority: string): string | undefined {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end > 0 ? authority.slice(1, end).toLowerCase() : undefined;
  }
  const colon = authority.indexOf(':');
  const name = colon < 0 ? authority : authority.slice(0, colon);
  return name.length > 0 ? name.toLowerCase().replace(/\.$/, '') : undefined;
}

/**
 * A Host allow-list. Entries: an exact name; `.suffix`, any name ending so;
 * `.label.`, any name whose first label is `label`; `*`, any Host. IP
 * literals are always allowed: rebinding needs a name.
 */
export class HostAllowList {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly firstLabels = new Set<string>();
  readonly any: boolean;
  /** The last Host allowed: most requests repeat their connection's. */
  private lastAllowed = '';

  constructor(entries: readonly string[]) {
    this.any = entries.includes('*');
    for (const raw of entries) {
      const entry = raw.toLowerCase();
      if (entry.startsWith('.') && entry.endsWith('.') && entry.length > 2) this.firstLabels.add(entry.slice(1, -1));
      else if (entry.startsWith('.')) this.suffixes.push(entry);
      else this.exact.add(entry);
    }
  }

  allows(host: string): boolean {
    if (this.any || host === this.lastAllowed) return true;
    const name = hostName(host);
    if (name === undefined) return false;
    const allowed =
      ipLiteral(name) ||
      !name.includes('.') ||
      this.exact.has(name) ||
      this.suffixes.some((suffix) => name.endsWith(suffix)) ||
      this.firstLabels.has(name.slice(0, name.indexOf('.')));
    if (allowed) this.lastAllowed = host;
    return allowed;
  }
}

/**
 * A POST a browser sends from another site: its Origin names another host
 * than the request's Host, or Sec-Fetch-Site says cross-site. Tools (curl,
 * Prometheus, kubelet) send neither header.
 */
export function crossOrigin(headers: {
  origin?: string;
  host?: string;
  'sec-fetch-site'?: string | string[];
}): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = headers.origin;
  if (origin === undefined) return false;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)$/i.exec(origin)?.[1];
  return (
    authority === undefined || headers.host === undefined || authority.toLowerCase() !== headers.host.toLowerCase()
  );
}
