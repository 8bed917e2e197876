import { FAKE } from '../../test/guards/kit.ts';
import { coderGuards } from '../../test/guards/coder.guards.ts';

// On the fake sandbox: no Docker needed (the same suite runs on Docker in guards.int.test.ts).
coderGuards(FAKE);
