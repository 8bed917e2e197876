/**
 * Forges beyond the local one (GitHub, through Octokit), and the router that picks one per
 * repository. Separate from `shared/index.ts` so that commands which never talk to GitHub do not load
 * its client.
 */
export { createForgeRouter, forgesFromConfig } from './router.ts';
export { appJwt, connectGitHub, gitCredentials, gitHubError, GitHubError, gitHubHosts, parseGitHubUrl } from './github-client.ts';
export type { ConnectGitHubOptions, GitHubConnection, GitHubRepo } from './github-client.ts';
export { createGitHubForge, isSummaryReview, pullRequestDescription, summaryMarker, summaryReviewBody } from './github.ts';
export type { GitHubForgeDeps } from './github.ts';
