import { DOCKER } from '../../test/guards/kit.ts';
import { testAuthorGuards } from '../../test/guards/test-author.guards.ts';
import { describeDocker } from '../../test/helpers/docker.ts';

// On the Docker sandbox (the same suite runs on the fake in guards.test.ts).
describeDocker('test-author guards on Docker', () => testAuthorGuards(DOCKER));
