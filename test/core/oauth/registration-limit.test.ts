import { RegistrationLimit } from '../../../lambda/core/oauth/registration-limit';

test('per address: the 11th registration within a minute is refused with the seconds left; the next minute admits again', () => {
  let now = Date.parse('2026-12-01T10:00:15.000Z');
  const limit = new RegistrationLimit({ now: () => now });
  for (let i = 0; i < 10; i++) expect(limit.take('203.0.113.7')).toEqual({ ok: true });
  expect(limit.take('203.0.113.7')).toEqual({ ok: false, retryAfterSeconds: 45 });
  // Another address has its own count.
  expect(limit.take('198.51.100.1')).toEqual({ ok: true });
  now += 45_000;
  expect(limit.take('203.0.113.7')).toEqual({ ok: true });
});

test('in total: many addresses together are bounded too', () => {
  const now = Date.parse('2026-12-01T10:00:00.000Z');
  const limit = new RegistrationLimit({ now: () => now, perAddressPerMinute: 100, totalPerMinute: 5 });
  const results = Array.from({ length: 8 }, (_, i) => limit.take(`192.0.2.${i}`).ok);
  expect(results).toEqual([true, true, true, true, true, false, false, false]);
});
