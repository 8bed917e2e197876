import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes } from '../src/bytes.ts';

test('held-out: terabytes with decimals', () => {
  assert.equal(formatBytes(1.5 * 1024 ** 4), '1.5 TB');
  assert.equal(formatBytes(1.25 * 1024 ** 4, { decimals: 2 }), '1.25 TB');
});

test('held-out: zero decimals rounds', () => {
  assert.equal(formatBytes(1536, { decimals: 0 }), '2 KB');
});
