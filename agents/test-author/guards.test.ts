import { FAKE } from '../../test/guards/kit.ts';
import { testAuthorGuards } from '../../test/guards/test-author.guards.ts';

// On the fake sandbox: no Docker needed (the same suite runs on Docker in guards.int.test.ts).
testAuthorGuards(FAKE);
