import { DOCKER } from '../../test/guards/kit.ts';
import { refinerGuards } from '../../test/guards/refiner.guards.ts';
import { describeDocker } from '../../test/helpers/docker.ts';

// On the Docker sandbox (the same suite runs on the fake in guards.test.ts).
describeDocker('refiner guards on Docker', () => refinerGuards(DOCKER));
