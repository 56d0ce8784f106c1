// How a test starts another Node process on src/*.ts: with the TypeScript
// loader this test process runs under (tap's), so coverage follows it.
export const TS_LOADER: string[] = (() => {
  const loader = process.execArgv.filter((arg) => /@tapjs[/\\]typescript/.test(arg));
  return loader.length > 0 ? loader : ['--import=tsx'];
})();
