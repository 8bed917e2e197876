import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../src/duration.js';

test('parses seconds, minutes and hours', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('2h'), 7_200_000);
});

test('refuses what is not a duration', () => {
  assert.equal(parseDuration('soon'), undefined);
  assert.equal(parseDuration('5 minutes'), undefined);
});
