// README.md's sample outputs, made by running the commands they show on this
// machine. A sample sits between `<!-- sample: ARGS -->` and `<!-- /sample -->`
// and is the console block of `criu-readiness ARGS` and its exit status.
// `npm run readme-samples` rewrites them; test/readme-samples.test.ts checks
// that each still is what the code prints.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const README = new URL('../README.md', import.meta.url);
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

export interface Sample {
  /** The CLI's arguments, as the marker names them. */
  args: string[];
  /** The block between the markers, as README has it. */
  block: string;
}

const SAMPLE = /<!-- sample: ([^>]*?) -->\n([\s\S]*?)<!-- \/sample -->/g;

export function samples(readme: string): Sample[] {
  return [...readme.matchAll(SAMPLE)].map(([, args, block]) => ({ args: args.split(/\s+/), block }));
}

export interface SampleRun {
  /** Problems (stderr) then the verdict (stdout), as a terminal shows them. */
  lines: string[];
  code: number;
}

/** `criu-readiness ARGS` from the sources, with `loader` (the TypeScript loader's Node options). */
export function runSample(args: readonly string[], loader: readonly string[]): SampleRun {
  const run = spawnSync(process.execPath, [...loader, CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (run.status === null)
    throw new Error(`criu-readiness ${args.join(' ')} did not finish: ${run.signal ?? String(run.error)}`);
  return { lines: [...run.stderr.split('\n'), ...run.stdout.split('\n')].filter(Boolean), code: run.status };
}

export function render(args: readonly string[], run: SampleRun): string {
  return [
    '```console',
    `# criu-readiness ${args.join(' ')}`,
    ...run.lines,
    '# echo $?',
    String(run.code),
    '```',
    '',
  ].join('\n');
}

/**
 * What a sample says of the kernel, apart from the wording: the exit status
 * and the features it names (`(NAME)` in CRIU's lines, the lists of
 * --format=npd's). Two machines with the same verdicts give the same.
 */
export function verdicts(lines: readonly string[], code: number): string {
  const named = new Set<string>();
  for (const line of lines) {
    const problem = /^(?:Error|Warn ) \(([^)]+)\): /.exec(line);
    if (problem) named.add(problem[1]);
    if (!/^(?:missing|unknown): /.test(line)) continue;
    for (const list of line.split('; ')) {
      const [label, names = ''] = list.split(': ');
      for (const name of names.split(', ')) named.add(`${label}: ${name}`);
    }
  }
  return `exit ${code}: ${[...named].sort().join(' ') || 'no feature named'}`;
}

/** The sample's own lines, from its rendered block. */
export function sampleRun(block: string): SampleRun | undefined {
  const lines = block.split('\n');
  const status = lines.lastIndexOf('# echo $?');
  if (!lines[1]?.startsWith('# criu-readiness ') || status < 0) return undefined;
  return { lines: lines.slice(2, status), code: Number(lines[status + 1]) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let readme = readFileSync(README, 'utf8');
  for (const sample of samples(readme)) {
    const block = render(sample.args, runSample(sample.args, ['--import=tsx']));
    readme = readme.replace(
      `<!-- sample: ${sample.args.join(' ')} -->\n${sample.block}`,
      `<!-- sample: ${sample.args.join(' ')} -->\n${block}`,
    );
    process.stdout.write(`${sample.args.join(' ')}: ${block === sample.block ? 'unchanged' : 'rewritten'}\n`);
  }
  writeFileSync(README, readme);
}
