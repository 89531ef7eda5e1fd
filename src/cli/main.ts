// Composition root of the CLI: the only place that knows every command. Each command's module
// graph is imported only when that command runs, so `--version` or `inspect` load a fraction of it.

import type { SigstoreVerifier } from '../image/signature/requirements/sigstore-signed.ts';
import { allTransports, transportRegistryFor } from '../image/transports/all.ts';
import { expectShortLife } from '../image/transports/docker/parser-tiering.ts';
import { CliError } from './args.ts';
import type { Command, Io } from './command.ts';

interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  /** Runs until stopped (a server): its HTTP parser is left to V8's optimising tier. */
  readonly longLived?: true;
  load(): Promise<Command>;
}

/**
 * The sigstore verifier, importing it (and @sigstore/*) at the first sigstoreSigned requirement.
 * Required<>: a method added to SigstoreVerifier must be forwarded here too.
 */
function sigstore(): Required<SigstoreVerifier> {
  let verifier: Promise<Required<SigstoreVerifier>> | undefined;
  const load = () =>
    (verifier ??= import('../image/signature/sigstore-verifier.ts').then((m) => m.sigstoreVerifier()));
  return {
    verify: async (...args) => (await load()).verify(...args),
    verifyReferrers: async (...args) => (await load()).verifyReferrers(...args),
    verifyAttestations: async (...args) => (await load()).verifyAttestations(...args),
  };
}

const commands: readonly CommandEntry[] = [
  {
    name: 'copy',
    summary: 'Copy an image from one location to another',
    async load() {
      const [{ copyCommand }, { closeAllAgents }] = await Promise.all([
        import('./copy.ts'),
        import('./registry-support.ts'),
      ]);
      return copyCommand({
        transports: transportRegistryFor,
        cleanup: closeAllAgents,
        sigstore: sigstore(),
      });
    },
  },
  {
    name: 'sync',
    summary: 'Synchronize one or more images from one location to another',
    async load() {
      const [{ syncCommand }, support, { publishSyncReport }] = await Promise.all([
        import('./sync.ts'),
        import('./registry-support.ts'),
        import('./sync-publish.ts'),
      ]);
      return syncCommand({
        transports: transportRegistryFor,
        sigstore: sigstore(),
        listTags: support.listRepositoryTags,
        probeDestination: support.probeRegistryDestination,
        listDestinationTags: support.listDestinationTags,
        cleanup: support.closeAllAgents,
        publishReport: publishSyncReport,
      });
    },
  },
  {
    name: 'inspect',
    summary: 'Inspect image IMAGE-NAME',
    load: async () => (await import('./inspect.ts')).inspectCommand(transportRegistryFor),
  },
  {
    name: 'list-tags',
    summary: 'List tags in the transport/repository specified by the SOURCE-IMAGE',
    load: async () => (await import('./list-tags.ts')).listTagsCommand(await allTransports()),
  },
  {
    name: 'delete',
    summary: 'Delete image IMAGE-NAME',
    load: async () => (await import('./delete.ts')).deleteCommand(await allTransports()),
  },
  {
    name: 'manifest-digest',
    summary: 'Compute a manifest digest of a file',
    load: async () => (await import('./manifest-digest.ts')).manifestDigestCommand,
  },
  {
    name: 'login',
    summary: 'Login to a container registry',
    load: async () => (await import('./login.ts')).loginCommand(await allTransports()),
  },
  {
    name: 'logout',
    summary: 'Logout of a container registry',
    load: async () => (await import('./login.ts')).logoutCommand,
  },
  {
    name: 'attest',
    summary: 'Attach a signed in-toto attestation to an image, as cosign attest does',
    load: async () => (await import('./attest.ts')).attestCommand(transportRegistryFor),
  },
  {
    name: 'generate-sigstore-key',
    summary: 'Generate a sigstore (cosign-compatible) public/private key pair',
    load: async () => (await import('./generate-sigstore-key.ts')).generateSigstoreKeyCommand,
  },
  {
    name: 'policy',
    summary: 'Check a policy.json (lint), evaluate it for an image (eval), convert to/from a CRD (export)',
    async load() {
      const { policyCommand } = await import('./policy.ts');
      // Transports and the sigstore verifier only for `eval`, and only the image's transport.
      return policyCommand(async (imageName) => ({
        transports: await transportRegistryFor([imageName]),
        sigstore: sigstore(),
      }));
    },
  },
  {
    name: 'audit',
    summary: 'List the running workloads whose images the policies would refuse, and why',
    load: async () => (await import('./audit.ts')).auditCommand,
  },
  {
    name: 'serve',
    summary: 'Run the image-trust admission webhook (HTTPS)',
    longLived: true,
    load: async () => (await import('./serve.ts')).serveCommand,
  },
  {
    name: 'standalone-sign',
    summary: 'Create a simple-signing signature using local files',
    load: async () => (await import('./standalone-sign.ts')).standaloneSignCommand,
  },
  {
    name: 'standalone-verify',
    summary: 'Verify a simple-signing signature using local files',
    load: async () => (await import('./standalone-verify.ts')).standaloneVerifyCommand,
  },
];

function globalUsage(): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length)) + 2;
  const list = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
  return `portcullis: image trust for Kubernetes, and a skopeo-compatible image tool

Usage:
  portcullis COMMAND [FLAGS] [ARGS]

Commands:
${list}

Global flags (before or after COMMAND):
  --debug   print each request made to a registry on stderr

Run 'portcullis COMMAND --help' for a command's flags.
`;
}

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  // --debug is global, as in skopeo: before the command name or among its flags.
  const leadingDebug = argv[0] === '--debug';
  const [name, ...rest] = leadingDebug ? argv.slice(1) : argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(globalUsage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write('portcullis version 0.1.0\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr.write(
      `portcullis: unknown command ${JSON.stringify(name)}\nRun 'portcullis --help' for the list.\n`,
    );
    return 2;
  }
  if (command.longLived !== true) expectShortLife();
  let stopTrace: (() => void) | undefined;
  try {
    if (leadingDebug || rest.includes('--debug') || rest.some((a) => a.startsWith('--debug='))) {
      const debug = await import('./debug.ts');
      if (debug.debugRequested(leadingDebug ? ['--debug', ...rest] : rest))
        stopTrace = debug.traceRequestsTo(io);
    }
    const loaded = await command.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(loaded.usage);
      return 0;
    }
    return await loaded.run(rest, io);
  } catch (err) {
    if (err instanceof CliError && err.code === 'USAGE') {
      io.stderr.write(`portcullis ${name}: ${err.message}\nRun 'portcullis ${name} --help' for usage.\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`portcullis ${name}: ${message}\n`);
    return 1;
  } finally {
    stopTrace?.();
  }
}
