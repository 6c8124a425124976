// The action's inputs (action.yml), read and checked once for main and post.

import { existsSync, readFileSync } from 'node:fs';
import { ActionError, getBooleanInput, getInput, warning } from './runner.js';
import { apiBase } from './hoop.js';

/** PEM text, or the path of a PEM file; `''` when not given. */
function readCaCert() {
  const value = getInput('ca-cert');
  if (value === '') return '';
  if (value.includes('-----BEGIN CERTIFICATE-----')) return `${value}\n`;
  if (!value.includes('\n')) {
    // One line: a path. Say which of the two it is not, rather than one message for both.
    if (!existsSync(value)) {
      throw new ActionError(`ca-cert: no file ${value} on the runner (give the PEM text itself, or the path of a file an earlier step wrote)`);
    }
    const text = readFileSync(value, 'utf8');
    if (text.includes('-----BEGIN CERTIFICATE-----')) return text;
    throw new ActionError(`ca-cert: ${value} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  throw new ActionError('ca-cert must be PEM text starting with -----BEGIN CERTIFICATE----- (or the path of such a file)');
}

/**
 * The base URL of hoop's API, from `url`, or from `gateway-url`, its deprecated name (`warn`:
 * say so, once per job: in main, not again in post).
 */
function readBase({ warn }) {
  const url = getInput('url');
  const legacy = getInput('gateway-url');
  if (legacy === '') {
    if (url === '') {
      throw new ActionError("Input required and not supplied: url (the base URL of hoop's API, e.g. https://hoop.internal)");
    }
    return apiBase(url, 'url');
  }
  const legacyBase = apiBase(legacy, 'gateway-url');
  if (url !== '' && apiBase(url, 'url') !== legacyBase) {
    throw new ActionError(
      `url (${url}) and gateway-url (${legacy}) differ: gateway-url is the old name of url; keep only url.`,
    );
  }
  if (warn) {
    warning(
      url === ''
        ? 'The gateway-url input is deprecated: rename it to url (same value, the base URL of hoop\'s API).'
        : 'The gateway-url input is deprecated and url is set to the same value: remove gateway-url.',
    );
  }
  return legacyBase;
}

export function readInputs() {
  const inputs = {
    base: readBase({ warn: true }),
    connection: getInput('connection', { required: true }),
    audience: getInput('audience') || 'hoop',
    role: getInput('role'),
    exportEnv: getBooleanInput('export-env', true),
    outputCredentials: getBooleanInput('output-credentials', false),
    ca: readCaCert(),
  };
  // Checked before the exchange: a credential no later step could use should not be issued.
  if (!inputs.exportEnv && !inputs.outputCredentials) {
    throw new ActionError(
      'With export-env: false and output-credentials: false no later step gets the password. ' +
        'Set output-credentials: true to read it from the database-url output, or remove export-env: false.',
    );
  }
  return inputs;
}

/** What `post` needs: it must not fail on inputs `main` did not need. */
export function readPostInputs() {
  return {
    base: readBase({ warn: false }),
    audience: getInput('audience') || 'hoop',
    ca: readCaCert(),
  };
}
