// Writes README.md's generated parts: the tables of checks, made from the
// catalogue, between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`.
// `node --import tsx scripts/readme.ts`; a test fails when README drifts.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CATALOGUE, type Feature } from '../src/catalogue.js';
import { CATEGORIES } from '../src/model.js';

export const README = new URL('../README.md', import.meta.url);

/** A table cell: one line, no pipe to break the table. */
function cell(text: string | undefined): string {
  return (text ?? '').replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Every check, by category: what it asks of the kernel (or the node), since which kernel, with what privileges. */
function checksTable(features: readonly Feature[]): string {
  const rows = CATEGORIES.flatMap((category) =>
    features
      .filter((f) => f.category === category)
      .map((f) => [`\`${f.name}\``, category, cell(f.summary), f.minKernel ?? '', cell(f.needs)]),
  );
  return table(['check', 'category', 'what it asks', 'kernel', 'needs'], rows);
}

/** Where a verdict can differ from upstream CRIU's own check, and why. */
function differencesTable(features: readonly Feature[]): string {
  const rows = features.filter((f) => f.differsFromCriu).map((f) => [`\`${f.name}\``, cell(f.differsFromCriu)]);
  return table(['check', 'where we differ from `criu check`, and why'], rows);
}

export const GENERATED: Record<string, (features: readonly Feature[]) => string> = {
  checks: checksTable,
  'differs-from-criu': differencesTable,
};

/** The README with every generated block made anew; throws on a block with no end. */
export function withGeneratedTables(readme: string, features: readonly Feature[] = CATALOGUE): string {
  let text = readme;
  for (const [name, render] of Object.entries(GENERATED)) {
    const start = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = text.indexOf(start);
    if (from < 0) continue;
    const to = text.indexOf(end, from);
    if (to < 0) throw new Error(`README.md: ${start} has no ${end}`);
    text = `${text.slice(0, from + start.length)}\n${render(features)}\n${text.slice(to)}`;
  }
  return text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = readFileSync(README, 'utf8');
  const after = withGeneratedTables(before);
  if (after !== before) writeFileSync(README, after);
  process.stdout.write(after === before ? 'README.md is current\n' : 'README.md: tables written\n');
}
