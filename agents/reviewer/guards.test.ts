import { FAKE } from '../../test/guards/kit.ts';
import { reviewerGuards } from '../../test/guards/reviewer.guards.ts';

// On the fake sandbox: no Docker needed (the same suite runs on Docker in guards.int.test.ts).
reviewerGuards(FAKE);
