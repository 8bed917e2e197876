import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../src/duration.js';

test('held-out: days, hours, minutes and seconds together', () => {
  assert.equal(parseDuration('1d1h1m1s'), 90_061_000);
  assert.equal(parseDuration('3d'), 259_200_000);
  assert.equal(parseDuration('45m'), 2_700_000);
});

test('held-out: refuses repeated and unknown units', () => {
  assert.equal(parseDuration('1h1h'), undefined);
  assert.equal(parseDuration('1w'), undefined);
  assert.equal(parseDuration(''), undefined);
});
