// The layers of src/, read from the imports themselves: every import points
// down (or within a layer), and no files or parts import each other in a
// circle. A file's layer comes from its path, so new files need no listing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Layers, lowest first; a path (relative to src/, without .ts) takes the first
 * that matches. The engine sits below the probes and the catalogue: it runs
 * whatever table its runner loads and depends on the vocabulary and native
 * code only. Within http, the routes use the modules beside them, the app
 * mounts the routes, and serve.ts runs the app.
 */
const LAYERS: readonly { name: string; paths: RegExp }[] = [
  { name: 'model', paths: /^(model|version|compile-cache|v8-code-cache|check-args)$/ },
  { name: 'native', paths: /^native\// },
  { name: 'engine', paths: /^engine\// },
  { name: 'probes', paths: /^probes\// },
  { name: 'catalogue', paths: /^catalogue$/ },
  { name: 'service', paths: /^service\// },
  { name: 'metrics, nfd, config, openapi', paths: /^(metrics|nfd|config|openapi)$/ },
  { name: 'http support', paths: /^http\/(?!(app|serve|serve-http)$)[^/]+$/ },
  { name: 'http routes', paths: /^http\/routes\// },
  { name: 'http app', paths: /^http\/app$/ },
  { name: 'http serve', paths: /^http\/serve(-http)?$/ },
  { name: 'cli', paths: /^cli$/ },
];

/** Imports allowed although they point up: the runner's entry loads the probe table it runs. */
const EXCEPTIONS = new Set(['engine/runner-main -> catalogue']);

function layerOf(file: string): number {
  const rank = LAYERS.findIndex(({ paths }) => paths.test(file));
  if (rank < 0) throw new Error(`src/${file}.ts is in no layer: give it one in test/layers.test.ts`);
  return rank;
}

/** The part of src/ a file belongs to: its top directory, or itself at the top. */
function partOf(file: string): string {
  return file.split('/')[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** src/a/b.ts -> a/b */
const idOf = (path: string) => relative(SRC, path).replace(/\.ts$/, '');

/** Every relative import of a file (static, export ... from, dynamic and import types), as ids. */
function importsOf(path: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => {
      const target = resolve(dirname(path), specifier.replace(/\.js$/, '.ts'));
      if (!existsSync(target)) throw new Error(`${idOf(path)} imports ${specifier}, which is no file of src/`);
      return idOf(target);
    });
}

type Graph = Map<string, Set<string>>;

const files = sourceFiles(SRC).map(idOf).sort();
const fileGraph: Graph = new Map(files.map((file) => [file, new Set(importsOf(join(SRC, `${file}.ts`)))]));
const partGraph: Graph = new Map();
for (const [from, targets] of fileGraph) {
  const edges = partGraph.get(partOf(from)) ?? new Set<string>();
  for (const to of targets) if (partOf(to) !== partOf(from)) edges.add(partOf(to));
  partGraph.set(partOf(from), edges);
}

/** A shortest path from `start` back to itself through `members` only. */
function circleThrough(graph: Graph, start: string, members: ReadonlySet<string>): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next) || previous.has(next)) continue;
      previous.set(next, node);
      if (next === start) {
        const path = [start];
        for (let at = node; at !== start; at = previous.get(at) as string) path.unshift(at);
        return [start, ...path];
      }
      queue.push(next);
    }
  }
  return [start];
}

/** The circles of a graph: one import path that closes for each set of nodes that reach each other. */
function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (stack.includes(next)) low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop() as string;
      component.unshift(member);
    } while (member !== node);
    if (component.length > 1) found.push(circleThrough(graph, component[0], new Set(component)));
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

t.test('every file of src/ is in a layer', async (t) => {
  for (const file of files) t.doesNotThrow(() => layerOf(file), file);
});

t.test('every import points down the layers or within one, never up', async (t) => {
  const upward: string[] = [];
  for (const [from, targets] of fileGraph) {
    for (const to of targets) {
      const edge = `${from} -> ${to}`;
      if (layerOf(to) > layerOf(from) && !EXCEPTIONS.has(edge))
        upward.push(`${edge} (${LAYERS[layerOf(from)].name} imports ${LAYERS[layerOf(to)].name})`);
    }
  }
  t.same(upward, []);
});

t.test('the only upward import allowed is still there (else drop the exception)', async (t) => {
  for (const edge of EXCEPTIONS) {
    const [from, to] = edge.split(' -> ');
    t.ok(fileGraph.get(from)?.has(to), edge);
  }
});

t.test('routes import no other route', async (t) => {
  const between = [...fileGraph].flatMap(([from, targets]) =>
    [...targets]
      .filter((to) => from.startsWith('http/routes/') && to.startsWith('http/routes/'))
      .map((to) => `${from} -> ${to}`),
  );
  t.same(between, []);
});

t.test('no files import each other in a circle', async (t) => {
  t.same(
    cycles(fileGraph).map((cycle) => cycle.join(' -> ')),
    [],
  );
});

t.test('no parts of src/ (its directories and top-level files) import each other in a circle', async (t) => {
  t.same(
    cycles(partGraph).map((cycle) => cycle.join(' -> ')),
    [],
  );
});

t.test('the cycle finder finds a circle and only the circle', async (t) => {
  const graph: Graph = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a', 'd'])],
    ['d', new Set<string>()],
  ]);
  t.same(cycles(graph), [['a', 'b', 'c', 'a']]);
});
