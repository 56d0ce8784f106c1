// The deploy/ tree for tests: YAML loading and a small kustomize that
// resolves exactly the features deploy/ uses (resources, components,
// patches, configMapGenerator, namespace, images, replacements) and refuses
// any other, so a manifest cannot silently mean something the tests did not check.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy');

/** The port the service listens on by default (config.ts) and the manifests use. */
export const SERVICE_PORT = 9870;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface K8sObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & { name: string; namespace?: string; labels?: { [key: string]: string } };
}

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

/** Every YAML document in a file, parsed strictly (duplicate keys, bad syntax and warnings all fail). */
export function loadYaml(path: string): Json[] {
  return parseYaml(readFileSync(path, 'utf8'), path);
}

function parseYaml(text: string, where: string): Json[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const out: Json[] = [];
  for (const doc of docs) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length) throw new Error(`${where}: ${problems.map((p) => p.message).join('; ')}`);
    const value = doc.toJS({ maxAliasCount: 0 }) as Json;
    if (value !== null) out.push(value);
  }
  return out;
}

/** Every file under `dir` whose name ends with one of `extensions`, recursively. */
export function filesUnder(dir: string, extensions: readonly string[]): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, extensions);
    return extensions.some((e) => entry.name.endsWith(e)) ? [path] : [];
  });
}

function asK8sObject(value: Json, where: string): K8sObject {
  if (
    !isObject(value) ||
    typeof value.apiVersion !== 'string' ||
    typeof value.kind !== 'string' ||
    !isObject(value.metadata) ||
    typeof value.metadata.name !== 'string'
  ) {
    throw new Error(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
  }
  return value as K8sObject;
}

// ---------------------------------------------------------------------------
// Strategic merge patch, with the merge keys of the Kubernetes fields we patch.

/** List fields merged item by item (by this key) rather than replaced. */
const MERGE_KEYS: Record<string, (item: JsonObject) => string> = {
  containers: () => 'name',
  initContainers: () => 'name',
  volumes: () => 'name',
  env: () => 'name',
  volumeMounts: () => 'mountPath',
  imagePullSecrets: () => 'name',
  // Container ports merge by containerPort, Service ports by port.
  ports: (item) => ('containerPort' in item ? 'containerPort' : 'port'),
};

function strategicMerge(target: Json, patch: Json, field?: string): Json {
  if (isObject(target) && isObject(patch)) {
    const out: JsonObject = { ...target };
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith('$')) throw new Error(`patch directive ${key} is not supported here`);
      if (value === null) delete out[key];
      else out[key] = key in out ? strategicMerge(out[key], value, key) : strip(value);
    }
    return out;
  }
  if (Array.isArray(target) && Array.isArray(patch) && field && field in MERGE_KEYS && patch.every(isObject)) {
    const out = [...target];
    for (const item of patch as JsonObject[]) {
      const key = MERGE_KEYS[field](item);
      const at = out.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
      if (item.$patch === 'delete') {
        if (at >= 0) out.splice(at, 1);
      } else if (at >= 0) out[at] = strategicMerge(out[at], item, undefined);
      else out.push(strip(item));
    }
    return out;
  }
  return strip(patch);
}

/** A new value from a patch: nulls mean "absent". */
function strip(value: Json): Json {
  if (Array.isArray(value)) return value.map(strip);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, strip(v)]),
  );
}

// ---------------------------------------------------------------------------
// Field paths as kustomize's replacements write them: a.b.[name=x].c

function pathSegments(fieldPath: string): string[] {
  return fieldPath.split(/\.(?![^[]*\])/);
}

function step(node: Json | undefined, segment: string): Json | undefined {
  const selector = /^\[(\w+)=(.+)\]$/.exec(segment);
  if (selector)
    return Array.isArray(node) ? node.find((item) => isObject(item) && item[selector[1]] === selector[2]) : undefined;
  if (Array.isArray(node) && /^\d+$/.test(segment)) return node[Number(segment)];
  return isObject(node) ? node[segment] : undefined;
}

export function getField(object: Json, fieldPath: string): Json | undefined {
  let node: Json | undefined = object;
  for (const segment of pathSegments(fieldPath)) node = step(node, segment);
  return node;
}

function setField(object: Json, fieldPath: string, value: Json, create: boolean): void {
  const segments = pathSegments(fieldPath);
  let node: Json | undefined = object;
  for (const segment of segments.slice(0, -1)) node = step(node, segment);
  const last = segments.at(-1)!;
  if (!isObject(node) || (!(last in node) && !create))
    throw new Error(`replacement target ${fieldPath} does not exist`);
  node[last] = clone(value);
}

// ---------------------------------------------------------------------------
// kustomize

interface Selector {
  kind?: string;
  name?: string;
}

function selects(selector: Selector, object: K8sObject): boolean {
  return (
    (!selector.kind || selector.kind === object.kind) && (!selector.name || selector.name === object.metadata.name)
  );
}

const KNOWN_KEYS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'components',
  'patches',
  'configMapGenerator',
  'images',
  'replacements',
]);

/** Kinds the namespace transformer leaves alone (kustomize's built-in cluster-scoped list, for the kinds used here). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
]);

interface Kustomization extends JsonObject {
  kind: string;
}

function readKustomization(dir: string): Kustomization {
  const [doc, ...rest] = loadYaml(join(dir, 'kustomization.yaml'));
  if (!isObject(doc) || rest.length) throw new Error(`${dir}: kustomization.yaml must hold one object`);
  for (const key of Object.keys(doc))
    if (!KNOWN_KEYS.has(key))
      throw new Error(`${dir}: kustomization field ${key} is not understood by the test resolver`);
  return { kind: 'Kustomization', ...doc } as Kustomization;
}

function strings(value: Json | undefined, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new Error(`${where} must be a list of strings`);
  return value as string[];
}

function objects(value: Json | undefined, where: string): JsonObject[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw new Error(`${where} must be a list of objects`);
  return value as JsonObject[];
}

/** `kustomize build dir`, for the features deploy/ uses. */
export function build(dir: string): K8sObject[] {
  const kustomization = readKustomization(dir);
  if (kustomization.kind !== 'Kustomization') throw new Error(`${dir} is a ${kustomization.kind}, not a Kustomization`);
  return accumulate(dir, kustomization, []);
}

function accumulate(dir: string, k: Kustomization, input: K8sObject[]): K8sObject[] {
  let resources = [...input];
  for (const entry of strings(k.resources, `${dir} resources`)) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) resources.push(...build(path));
    else resources.push(...loadYaml(path).map((doc) => asK8sObject(doc, path)));
  }
  for (const entry of strings(k.components, `${dir} components`)) {
    const path = resolve(dir, entry);
    const component = readKustomization(path);
    if (component.kind !== 'Component') throw new Error(`${path} is listed as a component but is a ${component.kind}`);
    resources = accumulate(path, component, resources);
  }
  resources.push(...generateConfigMaps(dir, k));
  for (const patch of objects(k.patches, `${dir} patches`)) resources = applyPatch(dir, patch, resources);
  if (typeof k.namespace === 'string') {
    for (const object of resources) if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = k.namespace;
  }
  for (const image of objects(k.images, `${dir} images`)) setImages(image, resources);
  for (const replacement of objects(k.replacements, `${dir} replacements`)) replace(replacement, resources);
  const ids = resources.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
  if (duplicate) throw new Error(`${dir}: ${duplicate} is defined twice`);
  return resources;
}

function generateConfigMaps(dir: string, k: Kustomization): K8sObject[] {
  return objects(k.configMapGenerator, `${dir} configMapGenerator`).map((generator) => {
    const options = isObject(generator.options) ? generator.options : {};
    // With a hash suffix, kustomize renames the ConfigMap and every reference to it; not resolved here.
    if (options.disableNameSuffixHash !== true)
      throw new Error(`${dir}: configMapGenerator ${String(generator.name)} needs disableNameSuffixHash: true`);
    const data: { [key: string]: string } = {};
    for (const file of strings(generator.files, `${dir} configMapGenerator files`)) {
      const [key, path] = file.includes('=') ? file.split('=') : [basename(file), file];
      data[key] = readFileSync(resolve(dir, path), 'utf8');
    }
    const metadata: K8sObject['metadata'] = { name: String(generator.name) };
    if (typeof generator.namespace === 'string') metadata.namespace = generator.namespace;
    if (isObject(options.labels)) metadata.labels = options.labels as { [key: string]: string };
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
  });
}

function applyPatch(dir: string, patch: JsonObject, resources: K8sObject[]): K8sObject[] {
  if (!isObject(patch.target)) throw new Error(`${dir}: every patch needs a target (kind and name)`);
  const target = patch.target as Selector;
  if (typeof patch.path !== 'string' && typeof patch.patch !== 'string')
    throw new Error(`${dir}: a patch needs path or patch`);
  const docs =
    typeof patch.path === 'string'
      ? loadYaml(resolve(dir, patch.path))
      : parseYaml(String(patch.patch), `${dir} inline patch`);
  if (docs.length !== 1 || !isObject(docs[0])) throw new Error(`${dir}: a patch must be one object`);
  const body = docs[0];
  const matched = resources.filter((o) => selects(target, o));
  if (matched.length === 0) throw new Error(`${dir}: patch target ${target.kind}/${target.name} matches nothing`);
  if (body.$patch === 'delete') return resources.filter((o) => !matched.includes(o));
  const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, ...rest } = body;
  return resources.map((o) => (matched.includes(o) ? (strategicMerge(o, rest) as K8sObject) : o));
}

/** Pod templates' containers, as kustomize's images transformer finds them. */
function podContainers(object: K8sObject): JsonObject[] {
  const spec = getField(object, 'spec.template.spec');
  if (!isObject(spec)) return [];
  return [...objects(spec.containers, 'containers'), ...objects(spec.initContainers, 'initContainers')];
}

function setImages(image: JsonObject, resources: K8sObject[]): void {
  for (const container of resources.flatMap(podContainers)) {
    if (typeof container.image !== 'string') continue;
    const [name, tag] = container.image.split(':');
    if (name !== image.name) continue;
    container.image = `${typeof image.newName === 'string' ? image.newName : name}${typeof image.newTag === 'string' ? `:${image.newTag}` : tag ? `:${tag}` : ''}`;
  }
}

function replace(replacement: JsonObject, resources: K8sObject[]): void {
  const source = replacement.source as JsonObject & Selector & { fieldPath: string };
  const sources = resources.filter((o) => selects(source, o));
  if (sources.length !== 1)
    throw new Error(`replacement source ${source.kind}/${source.name} matches ${sources.length} objects`);
  const value = getField(sources[0], source.fieldPath);
  if (value === undefined) throw new Error(`replacement source ${source.fieldPath} does not exist`);
  for (const target of objects(replacement.targets, 'replacement targets')) {
    const options = isObject(target.options) ? target.options : {};
    for (const object of resources.filter((o) => selects(target.select as Selector, o))) {
      for (const fieldPath of strings(target.fieldPaths, 'fieldPaths'))
        setField(object, fieldPath, value, options.create === true);
    }
  }
}

// ---------------------------------------------------------------------------
// Comparison with the real kustomize, where kubectl is installed.

/** `kubectl kustomize dir`, or undefined when kubectl is not installed. */
export function realKustomize(dir: string): K8sObject[] | undefined {
  const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  if (run.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${run.stderr}`);
  return parseAllDocuments(run.stdout).map((d) => asK8sObject(d.toJS() as Json, dir));
}

/** Objects in a canonical order, with merge-keyed lists sorted by key (kustomize sorts them its own way). */
export function canonical(built: readonly K8sObject[]): Json[] {
  const sortLists = (value: Json, field?: string): Json => {
    if (Array.isArray(value)) {
      const items = value.map((v) => sortLists(v));
      if (field && field in MERGE_KEYS && items.every(isObject)) {
        return [...(items as JsonObject[])].sort((a, b) =>
          String(a[MERGE_KEYS[field](a)]).localeCompare(String(b[MERGE_KEYS[field](b)])),
        );
      }
      return items;
    }
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sortLists(v, k)]));
  };
  return [...built]
    .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`))
    .map((o) => sortLists(o));
}

/** Every kustomization directory under deploy/, by kind. */
export function kustomizations(): { overlays: string[]; components: string[]; base: string } {
  const dirs = filesUnder(DEPLOY, ['kustomization.yaml']).map(dirname);
  return {
    base: join(DEPLOY, 'base'),
    overlays: dirs.filter((d) => d.includes('/overlays/')).sort(),
    components: dirs.filter((d) => readKustomization(d).kind === 'Component').sort(),
  };
}

/** The DaemonSet of a build, and its containers by name. */
export function daemonSet(built: readonly K8sObject[]): {
  ds: K8sObject;
  pod: JsonObject;
  containers: Map<string, JsonObject>;
} {
  const found = built.filter((o) => o.kind === 'DaemonSet');
  if (found.length !== 1) throw new Error(`expected one DaemonSet, found ${found.length}`);
  const pod = getField(found[0], 'spec.template.spec') as JsonObject;
  const containers = new Map(objects(pod.containers, 'containers').map((c) => [String(c.name), c]));
  return { ds: found[0], pod, containers };
}

/** A kustomization in a temporary directory: base + the given components (paths below deploy/components), in order. */
export function composed(t: { teardown(fn: () => void): void }, componentNames: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'criu-readiness-kustomize-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    `  - ${relative(dir, join(DEPLOY, 'base'))}`,
    'components:',
    ...componentNames.map((c) => `  - ${relative(dir, join(DEPLOY, 'components', c))}`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'kustomization.yaml'), text);
  return dir;
}
