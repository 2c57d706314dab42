import { actorText } from '../../../lambda/core/audit/actor-text';

test('each actor kind in one line, as the CLI and the console show it', () => {
  expect(actorText({ kind: 'operator' })).toBe('operator');
  expect(actorText({ kind: 'anonymous' })).toBe('anonymous');
  expect(actorText({ kind: 'key', keyId: 'key_abc', name: 'ci deploy' })).toBe('key key_abc (ci deploy)');
  expect(actorText({ kind: 'user', issuer: 'https://acme.okta.com', subject: '00u1', name: 'alice@acme.test' })).toBe('alice@acme.test (00u1 at https://acme.okta.com)');
});
