// Feature-name suggestions for people who mistype one.

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The valid name closest to `input`, if any is close enough to be a likely typo. */
export function closestName(input: string, names: readonly string[]): string | undefined {
  const lowered = input.toLowerCase().slice(0, 64);
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = name.includes(lowered) && lowered.length >= 3 ? 1 : editDistance(lowered, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(best.name.length / 3)) ? best.name : undefined;
}
