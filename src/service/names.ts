// Feature-name suggestions for people who mistype one. The cost is bounded
// by the catalogue's names, not by the input: a name too far in length from
// every valid one is never compared, so a long input costs nothing.

/** Work done by a search: dynamic-programming cells of edit distance computed. */
export interface NameSearchWork {
  cells: number;
}

function editDistance(a: string, b: string, work?: NameSearchWork): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  if (work) work.cells += a.length * b.length;
  return previous[b.length];
}

/** The largest distance from `name` still taken for a typo of it. */
const tolerance = (name: string) => Math.max(2, Math.floor(name.length / 3));

/** The valid name closest to `input`, if any is close enough to be a likely typo. */
export function closestName(input: string, names: readonly string[], work?: NameSearchWork): string | undefined {
  const lowered = input.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const part = name.includes(lowered) && lowered.length >= 3;
    // A distance is at least the difference in length: beyond the tolerance, no need to compute it.
    if (!part && Math.abs(lowered.length - name.length) > tolerance(name)) continue;
    const distance = part ? 1 : editDistance(lowered, name, work);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= tolerance(best.name) ? best.name : undefined;
}
