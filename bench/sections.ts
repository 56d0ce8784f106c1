// Where a bench run's figures go in BENCHMARKS.md and the README: one pair
// of markers per Node major, so the runs on two Nodes live side by side.
/**
 * Each file keeps its text around the figures: only what lies between this
 * Node major's markers (`<!-- bench node24 -->`, `<!-- /bench node24 -->`)
 * is the run's. A file without them is left alone.
 */
export function replaceSection(text: string, major: string, section: string): string | undefined {
  const open = `<!-- bench node${major} -->`;
  const close = `<!-- /bench node${major} -->`;
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start < 0 || end < start) return undefined;
  return `${text.slice(0, start)}${open}\n${section}${text.slice(end)}`;
}
