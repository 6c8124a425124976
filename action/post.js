// The action's post step: revoke the credential, whatever happened to the job. Never fails the
// job: a credential that cannot be revoked still expires on its own.

import { revoke } from './lib/hoop.js';
import { readPostInputs } from './lib/inputs.js';
import { requestIdToken } from './lib/oidc.js';
import { withRetries } from './lib/retry.js';
import { getState, info, mask, warning } from './lib/runner.js';

async function post() {
  const credentialId = getState('credential_id');
  if (!credentialId) {
    info('hoop: no credential was issued in this job; nothing to revoke');
    return;
  }
  try {
    const inputs = readPostInputs();
    // The credential's revoke token: valid while the credential lives, whatever happened to the
    // job's id token. From a hoop that gave none, a fresh id token of the same run for each
    // attempt: hoop checks issuer, repository id and run id, and does not consume its jti.
    const revokeToken = getState('revoke_token');
    if (revokeToken) mask(revokeToken);
    const state = await withRetries(async () => {
      const bearer = revokeToken || (await requestIdToken(inputs.audience));
      return revoke({ ...inputs, bearer, credentialId });
    });
    info(
      state === 'revoked'
        ? `hoop: revoked credential ${credentialId}`
        : `hoop: revoked credential ${credentialId} (accepted: its sessions ended; hoop drops its database role as soon as the database allows)`,
    );
  } catch (e) {
    const expiresAt = getState('expires_at') || 'the end of its lifetime';
    // Messages often end with their own period: one sentence end, not two.
    const why = String(e?.message ?? e).replace(/\.+$/, '');
    warning(`hoop: could not revoke credential ${credentialId}: ${why}. It expires at ${expiresAt} anyway.`);
  }
}

post();
