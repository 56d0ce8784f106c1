// README.md's sample outputs are what the code prints: each sample's command
// runs again here and must print the sample's lines. Where this machine's
// verdicts differ from the sample's (other features missing, another exit
// status), the wording cannot be compared and the sample is skipped, saying so.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { README, render, runSample, sampleRun, samples, verdicts } from '../scripts/readme-samples.js';
import { TS_LOADER } from './helpers/node.js';

const found = samples(readFileSync(README, 'utf8'));

t.test('README has samples, each a console block of the command its marker names', async (t) => {
  t.ok(found.length >= 2, `${found.length} samples`);
  for (const sample of found) {
    const own = sampleRun(sample.block);
    t.ok(own, `${sample.args.join(' ')}: a console block with its exit status`);
    if (own) t.equal(render(sample.args, own), sample.block, `${sample.args.join(' ')}: in the form the script writes`);
  }
});

for (const sample of found) {
  const command = `criu-readiness ${sample.args.join(' ')}`;
  t.test(`README's sample of \`${command}\` is what it prints (npm run readme-samples rewrites it)`, async (t) => {
    const own = sampleRun(sample.block);
    if (!own) return t.fail('the sample is not a console block');
    const now = runSample(sample.args, TS_LOADER);
    const theirs = verdicts(own.lines, own.code);
    const ours = verdicts(now.lines, now.code);
    if (theirs !== ours) {
      return t.pass("the sample's lines", {
        skip: `this machine's verdicts differ from the sample's (sample ${theirs}; here ${ours}): its wording cannot be compared here`,
      });
    }
    t.equal(render(sample.args, now), sample.block);
  });
}

t.test('verdicts() tells apart samples with other features or another exit status, not other wording', async (t) => {
  const warn = (name: string, message: string) => `Warn  (${name}): ${message}`;
  const sample = verdicts([warn('autofs', 'old wording'), 'Looks good.'], 1);
  t.equal(verdicts([warn('autofs', 'new wording'), 'Looks good.'], 1), sample, 'wording alone: the same verdicts');
  t.not(verdicts([warn('tun', 'old wording')], 1), sample, 'another feature');
  t.not(verdicts([warn('autofs', 'old wording')], 2), sample, 'another exit status');
  t.equal(verdicts(['missing: a, b; unknown: c'], 1), 'exit 1: missing: a missing: b unknown: c');
  t.not(
    verdicts(['missing: a, b'], 1),
    verdicts(['missing: a; unknown: b'], 1),
    'npd lists: which list a name is in counts',
  );
});
