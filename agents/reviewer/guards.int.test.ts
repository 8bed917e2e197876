import { DOCKER } from '../../test/guards/kit.ts';
import { reviewerGuards } from '../../test/guards/reviewer.guards.ts';
import { describeDocker } from '../../test/helpers/docker.ts';

// On the Docker sandbox (the same suite runs on the fake in guards.test.ts).
describeDocker('reviewer guards on Docker', () => reviewerGuards(DOCKER));
