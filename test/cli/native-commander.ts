/**
 * commander 15 is ESM-only, and jest (CommonJS here) only transforms the node_modules that
 * jest.config.js lists (@middy). Until `commander` is added to `transformIgnorePatterns`, the CLI
 * tests load it with Node's own loader (require(esm), Node >= 22.12), outside jest's registry:
 *
 *   jest.mock('commander', () => jest.requireActual('./native-commander').load());
 */
import Module from 'node:module';

export function load(): unknown {
  const loader = Module as unknown as { _load(request: string, parent: null, isMain: boolean): unknown };
  return loader._load(require.resolve('commander'), null, false);
}
