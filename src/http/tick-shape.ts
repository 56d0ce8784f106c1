// Node's process.nextTick makes each tick an object literal, and the HTTP
// process makes several ticks for each request. V8 keeps that literal's shape
// (its map) only while some tick object lives: a full garbage collection when
// no tick is pending drops it, the next tick makes the shape again, and after
// a few such rounds the literal's site in nextTick is left on V8's slow path
// for good. Start-up loads the HTTP side with several full collections between
// its few ticks, and did exactly that: nextTick ran several times slower in
// this process than in a fresh one, and cached GET /check lost about a tenth
// of its rate against a bare route.
import { createHook } from 'node:async_hooks';

let kept: object | undefined;

/**
 * A new tick object of process.nextTick: the resource of a 'TickObject'
 * async hook, taken with a hook that is enabled for that one nextTick only.
 */
export function newTickObject(): object | undefined {
  let tick: object | undefined;
  const hook = createHook({
    init(_asyncId: number, type: string, _triggerAsyncId: number, resource: object) {
      if (type === 'TickObject') tick ??= resource;
    },
  }).enable();
  try {
    process.nextTick(() => undefined);
  } finally {
    hook.disable();
  }
  return tick;
}

/**
 * Keep one tick object for the life of the process, so that its shape
 * outlives every collection. Called before the HTTP side loads. Returns it.
 */
export function keepTickShape(): object | undefined {
  kept ??= newTickObject();
  return kept;
}
