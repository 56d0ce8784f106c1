// Version numbers of the runtime chain, parsed from what each program prints,
// and compared as numbers. Distribution suffixes (+ds1, ~ds1, -rc.1) are kept
// in `text` but do not count in comparisons.

/** A parsed version: numbers for comparison, the text as printed. */
export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** As printed, e.g. "3.17.1", "1.1.5+ds1", "v2.2.0". */
  text: string;
}

/** "1.2", "v1.2.3", "1.1.5+ds1", "1.6.20~ds1": the leading numbers; null when there are none. */
export function parseVersion(text: string): Version | null {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text };
}

/** <0, 0, >0 as a is older, the same, newer than b. */
export function compareVersions(
  a: Pick<Version, 'major' | 'minor' | 'patch'>,
  b: Pick<Version, 'major' | 'minor' | 'patch'>,
): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function atLeast(v: Version, major: number, minor: number, patch = 0): boolean {
  return compareVersions(v, { major, minor, patch }) >= 0;
}

/** CRIU's integer form (major*10000 + minor*100 + sublevel), as runc, containerd and go-criu compare. */
export function criuVersionNumber(v: Version): number {
  return v.major * 10000 + v.minor * 100 + v.patch;
}

/** First match of `pattern` (group 1 = the version) in `output`, parsed. */
export function versionIn(output: string, pattern: RegExp): Version | null {
  const m = pattern.exec(output);
  return m ? parseVersion(m[1]) : null;
}
