import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError, parseArgs } from '../../src/cli/args.ts';

const specs = {
  'tls-verify': { type: 'boolean', help: 'verify TLS' },
  creds: { type: 'string', help: 'user:pass' },
  all: { type: 'boolean', short: 'a', help: 'all' },
  'additional-tag': { type: 'list', help: 'extra tag' },
} as const;

describe('parseArgs (skopeo-style flags)', () => {
  it('reads --flag value, --flag=value, booleans and positionals', () => {
    const { flags, positionals } = parseArgs(
      [
        '--tls-verify=false',
        '--creds',
        'u:p',
        '-a',
        'docker://x',
        '--additional-tag=a',
        '--additional-tag',
        'b',
        'dir:/y',
      ],
      specs,
    );
    assert.equal(flags['tls-verify'], false);
    assert.equal(flags.creds, 'u:p');
    assert.equal(flags.all, true);
    assert.deepEqual(flags['additional-tag'], ['a', 'b']);
    assert.deepEqual(positionals, ['docker://x', 'dir:/y']);
  });

  it('leaves unset flags undefined so defaults are resolved in one place', () => {
    const { flags } = parseArgs([], specs);
    assert.equal(flags['tls-verify'], undefined);
    assert.deepEqual(flags['additional-tag'], []);
  });

  const bad: [string, string[]][] = [
    ['unknown flag', ['--nope']],
    ['missing value', ['--creds']],
    ['bad boolean', ['--tls-verify=maybe']],
    ['unknown short flag', ['-z']],
  ];
  for (const [what, argv] of bad) {
    it(`rejects ${what} as a usage error`, () => {
      assert.throws(
        () => parseArgs(argv, specs),
        (e: unknown) => e instanceof CliError && e.code === 'USAGE',
      );
    });
  }

  it('treats everything after -- as positionals', () => {
    assert.deepEqual(parseArgs(['--', '--creds'], specs).positionals, ['--creds']);
  });
});
