import { FAKE } from '../../test/guards/kit.ts';
import { refinerGuards } from '../../test/guards/refiner.guards.ts';

// On the fake sandbox: no Docker needed (the same suite runs on Docker in guards.int.test.ts).
refinerGuards(FAKE);
