import t from 'tap';
import { ProbeStop, stop, unsupported } from '../src/model.js';

t.test('stop() throws a ProbeStop that carries the outcome', async (t) => {
  const outcome = unsupported('gone');
  t.throws(() => stop(outcome), ProbeStop);
  try {
    stop(outcome);
  } catch (err) {
    t.ok(err instanceof ProbeStop);
    t.same((err as ProbeStop).outcome, outcome);
  }
});

t.test(
  "a ProbeStop made by another copy of model.ts (the catalogue's bundle, not the runner's) is still one",
  async (t) => {
    const foreign = Object.assign(new Error('gone'), {
      [Symbol.for('criu-readiness.ProbeStop')]: true,
      outcome: unsupported('gone'),
    });
    t.ok(foreign instanceof ProbeStop);
  },
);

t.test('any other error is not a ProbeStop', async (t) => {
  t.notOk(new Error('probe exploded') instanceof ProbeStop);
  t.notOk(
    Object.assign(new Error('x'), { outcome: unsupported('x') }) instanceof ProbeStop,
    'an outcome alone does not make one',
  );
});
