// The action's post step: revoke the credential, whatever happened to the job. Never fails the
// job: a credential that cannot be revoked still expires on its own.

import { revoke } from './lib/hoop.js';
import { readPostInputs } from './lib/inputs.js';
import { requestIdToken } from './lib/oidc.js';
import { getState, info, warning } from './lib/runner.js';

async function post() {
  const credentialId = getState('credential_id');
  if (!credentialId) {
    info('hoop: no credential was issued in this job; nothing to revoke');
    return;
  }
  try {
    const inputs = readPostInputs();
    // A fresh token of the same run: hoop checks issuer, repository id and run id, and does not
    // consume the token's jti for a revocation.
    const token = await requestIdToken(inputs.audience);
    const state = await revoke({ ...inputs, token, credentialId });
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
