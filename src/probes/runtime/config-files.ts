// Reading the runtimes' configuration files from the host: TOML files and
// drop-in directories, with errors that name the file and line.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { hostPath, type RuntimeEnv } from './host.js';
import { parseToml, TomlError, tomlGet, type TomlTable, type TomlValue } from './toml.js';

export type ConfigRead =
  | { kind: 'absent' }
  | { kind: 'ok'; file: string; table: TomlTable }
  | { kind: 'error'; file: string; message: string };

/** Read a host TOML file: absent, parsed, or an error naming the file (and line). */
export function readTomlFile(file: string, env: RuntimeEnv): ConfigRead {
  let text: string;
  try {
    text = readFileSync(hostPath(file, env.root), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'absent' };
    return { kind: 'error', file, message: `${file}: cannot be read: ${code ?? String(err)}` };
  }
  try {
    return { kind: 'ok', file, table: parseToml(text) };
  } catch (err) {
    if (err instanceof TomlError) return { kind: 'error', file, message: `${file}: ${err.message}` };
    throw err;
  }
}

/**
 * Regular files in a host directory (recursively with `recursive`), in lexical order of their paths; [] when it is
 * absent.
 */
export function filesIn(
  dir: string,
  env: RuntimeEnv,
  options: { recursive?: boolean; suffix?: string } = {},
): string[] {
  let names: string[];
  try {
    names = readdirSync(hostPath(dir, env.root)).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const file = posix.join(dir, name);
    try {
      const st = statSync(hostPath(file, env.root));
      if (st.isDirectory()) return options.recursive ? filesIn(file, env, options) : [];
      if (!st.isFile()) return [];
    } catch {
      return [];
    }
    return options.suffix && !name.endsWith(options.suffix) ? [] : [file];
  });
}

/** Host paths matching a pattern with `*` or `?` in its last part (containerd's imports); the path itself otherwise. */
export function globLast(pattern: string, env: RuntimeEnv): string[] {
  const base = posix.basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  const re = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );
  return filesIn(posix.dirname(pattern), env).filter((f) => re.test(posix.basename(f)));
}

/** The last value found for `keys` across parsed files read in order (later wins), with the file it came from. */
export function lastValue(
  tables: { file: string; table: TomlTable }[],
  ...paths: (readonly string[])[]
): { value: TomlValue; file: string } | undefined {
  let found: { value: TomlValue; file: string } | undefined;
  for (const { file, table } of tables) {
    for (const keys of paths) {
      const value = tomlGet(table, keys);
      if (value !== undefined) found = { value, file };
    }
  }
  return found;
}
