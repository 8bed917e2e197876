import type { Role } from '../shared/index.ts';

/** Roles nightshift ships an agent for (see agents/registry.ts, which loads them). */
export const BUILT_IN_ROLES: readonly Role[] = ['triager', 'refiner', 'test-author', 'coder', 'reviewer'];
