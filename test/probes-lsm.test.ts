import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { runProbe } from './helpers/probe.js';

const apparmorVisible = existsSync('/sys/kernel/security/apparmor');
const apparmorEnabled = (() => {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'latin1').trim() === 'Y';
  } catch {
    return false;
  }
})();

const asRoot = new Map([['apparmor_stacking', runProbe('apparmor_stacking').outcome]]);
const asNobody = new Map([['apparmor_stacking', runProbe('apparmor_stacking', { unprivileged: true }).outcome]]);

t.test(
  'apparmor_stacking reads the domain features where AppArmor is active, and is not applicable elsewhere',
  async (t) => {
    for (const outcome of [asRoot.get('apparmor_stacking'), asNobody.get('apparmor_stacking')]) {
      t.comment(`${outcome?.status} (${outcome?.reason}) ${outcome?.message}`);
      if (apparmorVisible) {
        t.not(outcome?.reason, 'NotApplicable', String(outcome?.message));
      } else if (apparmorEnabled) {
        t.equal(outcome?.status, 'unknown', String(outcome?.message));
        t.equal(outcome?.reason, 'MissingDependency');
      } else {
        t.equal(outcome?.status, 'supported', String(outcome?.message));
        t.equal(outcome?.reason, 'NotApplicable');
        t.equal(outcome?.message, 'AppArmor not active: nothing to stack');
      }
    }
  },
);
