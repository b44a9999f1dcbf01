import { describe, expect, it } from 'vitest';
import { normalizeMsisdn } from '../../domain/msisdn';

describe('normalizeMsisdn (registration and push channels)', () => {
  it.each([
    ['+4915123456789', '+4915123456789'],
    ['004915123456789', '+4915123456789'],
    ['4915123456789', '+4915123456789'], // no prefix: taken as international
    ['+1 (555) 010-9999', '+15550109999'],
    ['+44.7700.900123', '+447700900123'],
    ['+49 151/2345 6789', '+4915123456789'],
    ['+1234567', '+1234567'], // 7 digits: the shortest
    ['+123456789012345', '+123456789012345'], // 15 digits: the longest E.164 allows
  ])('%s → %s', (raw, normalized) => expect(normalizeMsisdn(raw)).toBe(normalized));

  it.each([
    '',
    '+',
    '12345',
    '+123456', // 6 digits
    '+0049151',
    '01511234567', // national format: the country is unknown
    '+1234567890123456', // 16 digits
    'call me',
    '+49 151 x',
    '++4915123456789',
  ])('refuses %j', (raw) => {
    expect(normalizeMsisdn(raw)).toBeUndefined();
  });
});
