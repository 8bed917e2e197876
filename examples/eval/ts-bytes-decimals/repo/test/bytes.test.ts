import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes } from '../src/bytes.ts';

test('keeps small counts in bytes', () => {
  assert.equal(formatBytes(512), '512 B');
});

test('scales to kilobytes and megabytes', () => {
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(20 * 1024 * 1024), '20 MB');
});
