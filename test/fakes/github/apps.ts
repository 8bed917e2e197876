import { randomBytes } from 'node:crypto';
import { findRepo, HttpError, key, type FakeState, type Operations } from './state.ts';

/** The GitHub App endpoints: a repository's installation (made on demand) and its access tokens, both for the App's JWT only. */
export function appOperations(s: FakeState): Operations {
  return {
    async 'apps/get-repo-installation'({ op, as }) {
      if (as !== 'app') throw new HttpError(401, 'A JSON web token could not be decoded');
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      let id = s.installations.get(key(r.owner, r.name));
      if (id === undefined) s.installations.set(key(r.owner, r.name), (id = 4_000 + s.installations.size));
      return [200, { ...s.api.example('installation'), id, app_id: s.opts.app!.id }];
    },
    async 'apps/create-installation-access-token'({ op, as }) {
      if (as !== 'app') throw new HttpError(401, 'A JSON web token could not be decoded');
      const id = Number(op.params.installation_id);
      if (![...s.installations.values()].includes(id)) throw new HttpError(404, 'Not Found');
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      const expiresAt = Date.now() + 60 * 60_000;
      s.installationTokens.set(token, { installation: id, expiresAt });
      s.issuedTokens.push(token);
      return [201, { ...s.api.example('installation-token'), token, expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') }];
    },
  };
}
