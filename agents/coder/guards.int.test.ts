import { DOCKER } from '../../test/guards/kit.ts';
import { coderGuards } from '../../test/guards/coder.guards.ts';
import { describeDocker } from '../../test/helpers/docker.ts';

// On the Docker sandbox (the same suite runs on the fake in guards.test.ts).
describeDocker('coder guards on Docker', () => coderGuards(DOCKER));
