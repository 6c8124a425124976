// action/release against temporary git repositories: a copy of this repository's action/
// (the source) and a checkout of the action's own repository with a bare origin.
//
//   node --test action/test/release.test.mjs

import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ACTION_DIR, run } from '../testing/harness.mjs';

let dir;
let source; // a repository with action/ as this one has it
let target; // a checkout of the action's repository
let origin; // its bare origin

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'release test',
  GIT_AUTHOR_EMAIL: 'release@test.invalid',
  GIT_COMMITTER_NAME: 'release test',
  GIT_COMMITTER_EMAIL: 'release@test.invalid',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
};

async function git(cwd, ...args) {
  const r = await run('git', ['-C', cwd, ...args], { env: GIT_ENV });
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.output}`);
  return r.stdout.trim();
}

/** action/release in the source copy; the suite is replaced by a command that leaves a mark. */
function release(args, { testCommand = 'echo tested >> ../tested' } = {}) {
  return run(join(source, 'action', 'release'), args, {
    env: { ...GIT_ENV, HOOP_ACTION_TEST_COMMAND: testCommand, HOOP_DOCS_URL: 'https://github.com/acme/hoop/blob/main/docs' },
    timeoutMs: 60_000,
  });
}

async function setVersion(version, { changelog = true } = {}) {
  const pkgPath = join(source, 'action', 'package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  pkg.version = version;
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  if (changelog) {
    const path = join(source, 'action', 'CHANGELOG.md');
    const text = readFileSync(path, 'utf8').replace('## [Unreleased]\n', `## [Unreleased]\n\n## [${version}] - 2026-12-07\n\n### Fixed\n\n- Something.\n`);
    writeFileSync(path, text);
  }
  await git(source, 'commit', '-qam', `action ${version}`);
}

describe('action/release', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoop-action-release-'));
    source = join(dir, 'hoop');
    origin = join(dir, 'action.git');
    target = join(dir, 'action');
    await git(dir, 'init', '-q', '-b', 'main', source);
    cpSync(ACTION_DIR, join(source, 'action'), {
      recursive: true,
      filter: (path) => !path.includes('node_modules'),
    });
    await git(source, 'add', '-A');
    await git(source, 'commit', '-qm', 'hoop with its action');
    await git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
    await git(dir, 'clone', '-q', origin, target);
    await git(target, 'commit', '-q', '--allow-empty', '-m', 'empty action repository');
    await git(target, 'push', '-q', 'origin', 'main');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('tests, exports the action without its tests, commits, tags vX.Y.Z and vX, and prints the push commands', async () => {
    const version = JSON.parse(readFileSync(join(ACTION_DIR, 'package.json'), 'utf8')).version;
    const major = `v${version.split('.')[0]}`;
    const r = await release([target]);
    assert.equal(r.code, 0, r.output);
    assert.equal(readFileSync(join(source, 'action', '..', 'tested'), 'utf8'), 'tested\n', 'the test suite did not run');

    const files = readdirSync(target).filter((f) => f !== '.git').sort();
    assert.deepEqual(files, ['CHANGELOG.md', 'README.md', 'action.yml', 'lib', 'main.js', 'package.json', 'post.js']);
    assert.ok(existsSync(join(target, 'lib', 'proxy.js')));
    assert.equal(readFileSync(join(target, 'main.js'), 'utf8'), readFileSync(join(ACTION_DIR, 'main.js'), 'utf8'));
    assert.ok(!readFileSync(join(target, 'README.md'), 'utf8').includes('](../docs/'), 'README keeps links into hoop');

    const head = await git(target, 'rev-parse', 'HEAD');
    assert.equal(await git(target, 'rev-parse', `v${version}^{commit}`), head);
    assert.equal(await git(target, 'rev-parse', `${major}^{commit}`), head);
    assert.equal(await git(target, 'cat-file', '-t', `v${version}`), 'tag', 'vX.Y.Z is an annotated tag');
    assert.match(await git(target, 'log', '-1', '--format=%B'), new RegExp(`hoop action v${version}\\n\\nExported from action/ of hoop commit [0-9a-f]{40}\\.`));
    assert.ok(r.stdout.includes(`uses: <owner>/<repo>@${head} # v${version}`), r.stdout);
    assert.ok(r.stdout.includes(`git -C ${target} push origin v${version}`), r.stdout);
    assert.ok(r.stdout.includes(`git -C ${target} push --force origin ${major}`), r.stdout);
    // Not pushed without --push.
    assert.equal(await git(origin, 'tag', '--list'), '');
  });

  it('refuses a version already tagged, and a version without a CHANGELOG section', async () => {
    const again = await release([target]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already has tag v\d+\.\d+\.\d+: bump the version/);

    await setVersion('1.0.1', { changelog: false });
    const r = await release([target]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /action\/CHANGELOG\.md has no section for 1\.0\.1: add '## \[1\.0\.1\] - \d{4}-\d{2}-\d{2}'/);
  });

  it('refuses a dirty source tree, and failing tests', async () => {
    await setVersion('1.1.0');
    writeFileSync(join(source, 'action', 'main.js'), '// uncommitted\n', { flag: 'a' });
    const dirty = await release([target]);
    assert.notEqual(dirty.code, 0);
    assert.match(dirty.stderr, /action has uncommitted changes; commit or stash them/);
    await git(source, 'checkout', '--', 'action/main.js');

    const failing = await release([target], { testCommand: 'false' });
    assert.notEqual(failing.code, 0);
    assert.match(failing.stderr, /the action's tests failed; nothing was released/);
    assert.equal(await git(target, 'tag', '--list', 'v1.1.0'), '');
  });

  it('moves the floating major tag on the next release, keeps the old tag, and pushes with --push', async () => {
    const first = await git(target, 'rev-parse', 'v1.0.0^{commit}');
    const r = await release([target, '--push']);
    assert.equal(r.code, 0, r.output);
    const head = await git(target, 'rev-parse', 'HEAD');
    assert.notEqual(head, first);
    assert.equal(await git(target, 'rev-parse', 'v1.1.0^{commit}'), head);
    assert.equal(await git(target, 'rev-parse', 'v1^{commit}'), head);
    assert.equal(await git(target, 'rev-parse', 'v1.0.0^{commit}'), first);
    // The origin has the branch, the new tag and the moved major tag.
    assert.equal(await git(origin, 'rev-parse', 'main'), head);
    assert.equal(await git(origin, 'rev-parse', 'v1.1.0^{commit}'), head);
    assert.equal(await git(origin, 'rev-parse', 'v1^{commit}'), head);
    assert.match(readFileSync(join(target, 'CHANGELOG.md'), 'utf8'), /## \[1\.1\.0\]/);
  });
});
