// The runner's side of an action, without @actions/core: inputs and state from the environment,
// workflow commands on stdout, outputs/env/state appended to the files the runner names.
//
// https://docs.github.com/actions/reference/workflow-commands-for-github-actions

import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { EOL } from 'node:os';

/** An input as the runner passes it: `INPUT_<NAME>`, upper case, spaces as `_`, hyphens kept. */
export function getInput(name, { required = false } = {}) {
  const value = (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
  if (required && value === '') {
    throw new ActionError(`Input required and not supplied: ${name}`);
  }
  return value;
}

/** A YAML 1.2 "core schema" boolean input, like @actions/core's getBooleanInput. */
export function getBooleanInput(name, fallback) {
  const value = getInput(name);
  if (value === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw new ActionError(`Input ${name} must be true or false, not ${JSON.stringify(value)}`);
}

/** State saved by `main` and handed to `post` as `STATE_<name>`. */
export function getState(name) {
  return process.env[`STATE_${name}`] ?? '';
}

/** An error whose message is meant for the workflow log as it is. */
export class ActionError extends Error {}

// ---------------------------------------------------------------------------------------------
// Workflow commands (stdout)

function escapeData(text) {
  return String(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function command(name, message) {
  process.stdout.write(`::${name}::${escapeData(message)}${EOL}`);
}

/**
 * Tells the runner to replace `secret` with *** in the log from now on. Multi-line values are
 * masked line by line, as the runner matches single lines.
 */
export function mask(secret) {
  for (const line of String(secret).split(/\r?\n/)) {
    if (line.trim() !== '') command('add-mask', line);
  }
}

/**
 * `message` as one log line. Control characters (a CR or LF would start a line the runner reads
 * as a workflow command, `::stop-commands::` say) and Unicode line separators are shown as
 * `\u000a`: values from hoop's answer or a token cannot write a line of their own.
 */
export function info(message) {
  process.stdout.write(`${oneLine(message)}${EOL}`);
}

/** `text` with every C0/C1 control character and line separator shown as `\uXXXX`. */
export function oneLine(text) {
  return String(text).replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function warning(message) {
  command('warning', message);
}

export function error(message) {
  command('error', message);
}

/** Reports `message` as the step's error and makes the step fail. */
export function setFailed(message) {
  error(message);
  process.exitCode = 1;
}

// ---------------------------------------------------------------------------------------------
// File commands: GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STATE

/** Appends `name<<delimiter\nvalue\ndelimiter` to the file the runner named in `variable`. */
function fileCommand(variable, name, value) {
  const path = process.env[variable];
  if (!path) {
    throw new ActionError(`${variable} is not set: this must run as a step of a GitHub Actions job`);
  }
  const text = String(value);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  if (name.includes(delimiter) || text.includes(delimiter)) {
    throw new ActionError(`${name}: the value contains the file command delimiter`);
  }
  appendFileSync(path, `${name}<<${delimiter}${EOL}${text}${EOL}${delimiter}${EOL}`, 'utf8');
}

export function setOutput(name, value) {
  fileCommand('GITHUB_OUTPUT', name, value);
}

/** Exports a variable to the job's later steps (not to this process). */
export function exportVariable(name, value) {
  fileCommand('GITHUB_ENV', name, value);
}

export function saveState(name, value) {
  fileCommand('GITHUB_STATE', name, value);
}
