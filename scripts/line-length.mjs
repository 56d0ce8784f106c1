// No line of src/ over 120 characters: the formatter keeps code within it,
// but not strings or comments. Lists each line over, and fails.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const MAX = 120;
const root = new URL('../src/', import.meta.url).pathname;
const over = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts'))
  .flatMap((file) =>
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .flatMap((line, i) => (line.length > MAX ? [`src/${file}:${i + 1}: ${line.length} characters`] : [])),
  );
for (const line of over) console.error(line);
if (over.length > 0) {
  console.error(`${over.length} lines of src/ over ${MAX} characters`);
  process.exit(1);
}
