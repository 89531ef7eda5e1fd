// `portcullis policy lint FILE` and `portcullis policy eval [--policy F] [--registries.d D] IMAGE`.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
// Direct module imports (not the signature barrel) keep the sigstore code out of this command's start-up.
import { describeEvaluatedInstance, type Explanation, PolicyEvaluator } from '../image/signature/evaluate.ts';
import { JsonError } from '../image/signature/json.ts';
import { lintPolicy } from '../image/signature/lint.ts';
import { readPolicyFile } from '../image/signature/policy-parse.ts';
import type { SigstoreVerifier } from '../image/signature/requirements/sigstore-signed.ts';
import {
  type ImagesToEvaluate,
  imagesToEvaluate,
  unparsedImageFromReference,
} from '../image/signature/unparsed.ts';
import type { TransportRegistry } from '../image/transports/registry.ts';
import type { SystemContext } from '../image/types.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { globalFlags } from './flags.ts';

export interface PolicyCommandDeps {
  /** The transports image names may use (the composition root passes every registered one). */
  readonly transports: TransportRegistry;
  /** Verifies sigstoreSigned requirements; without it they deny with SIGSTORE_NOT_CONFIGURED. */
  readonly sigstore?: SigstoreVerifier;
}

const lintFlags = {
  json: { type: 'boolean', help: 'print errors and warnings as JSON' },
} as const;

const evalFlags = {
  policy: {
    type: 'string',
    metavar: 'FILE',
    help: 'policy.json to use (default: the containers-policy.json(5) locations)',
  },
  'registries.d': {
    type: 'string',
    metavar: 'DIR',
    help: 'registries.d directory (lookaside signature locations)',
  },
  'registries-conf': {
    type: 'string',
    metavar: 'FILE',
    help: 'registries.conf (mirrors, blocked registries)',
  },
  'require-signed': { type: 'boolean', help: 'deny images no requirement verified a signature for' },
  json: { type: 'boolean', help: 'print the explanation as JSON' },
  'tls-verify': { type: 'boolean', help: 'require HTTPS and verify certificates (default true)' },
  'cert-dir': { type: 'string', metavar: 'DIR', help: 'certificates for the registry' },
  authfile: { type: 'string', metavar: 'FILE', help: 'auth.json with registry credentials' },
  // As skopeo: a multi-arch IMAGE is judged by the instance for this platform (default this machine's).
  'override-os': globalFlags['override-os'],
  'override-arch': globalFlags['override-arch'],
  'override-variant': globalFlags['override-variant'],
} as const;

const usage = `Usage:
  portcullis policy lint [--json] FILE
  portcullis policy eval [FLAGS] IMAGE
  portcullis policy export [-o FILE] [--kind KIND] [--name NAME] [--namespace NS] [--mode MODE]
                           [--ref-dir DIR] FILE|-

lint: exit 0 when FILE is a valid policy (warnings go to stderr), 1 when it is not, 2 on usage errors.
eval: exit 0 when IMAGE is allowed, 1 when denied by the policy, 2 on errors (including an
image whose manifest or signatures cannot be read; it is never allowed).
export: converts a policy CRD (YAML) into policy.json, or policy.json into a ClusterImagePolicy
(or, with --kind ImagePolicy, an ImagePolicy) with its key files inlined; see docs/policy-crds.md.

lint flags:
${formatFlags(lintFlags)}

eval flags:
${formatFlags(evalFlags)}
`;

/** containers-policy.json(5): $HOME/.config/containers/policy.json, else /etc/containers/policy.json. */
export function defaultPolicyPath(env: Readonly<Record<string, string | undefined>>): string {
  const user = join(env.HOME ?? homedir(), '.config/containers/policy.json');
  return existsSync(user) ? user : '/etc/containers/policy.json';
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function lint(argv: readonly string[], io: Io): Promise<number> {
  const { flags, positionals } = parseArgs(argv, lintFlags);
  const [file] = positionals;
  if (file === undefined || positionals.length !== 1) throw new CliError('USAGE', 'expected one policy FILE');
  try {
    const warnings = lintPolicy(await readPolicyFile(file));
    if (flags.json) io.stdout.write(`${JSON.stringify({ valid: true, warnings }, null, 2)}\n`);
    for (const w of warnings) io.stderr.write(`${file}: warning: ${w.pointer}: ${w.message} [${w.code}]\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof JsonError)) {
      io.stderr.write(`portcullis policy lint: ${describeError(err)}\n`);
      return 2;
    }
    const { line, column, pointer } = err.location;
    if (flags.json)
      io.stdout.write(
        `${JSON.stringify({ valid: false, error: { code: err.code, pointer, line, column, message: err.message } }, null, 2)}\n`,
      );
    io.stderr.write(`${file}:${line}:${column}: error: ${err.message} [${err.code}]\n`);
    return 1;
  }
}

function printExplanation(e: Explanation, io: Io): void {
  const scope =
    e.matched.scope === null
      ? 'default'
      : `transports.${e.matched.transport}[${JSON.stringify(e.matched.scope)}]`;
  io.stdout.write(`${e.allowed ? 'allowed' : 'denied'}: ${e.image}\n`);
  if (e.instance !== undefined) io.stdout.write(`  evaluated: ${describeEvaluatedInstance(e.instance)}\n`);
  io.stdout.write(`  policy scope: ${scope}\n`);
  for (const r of e.requirements) {
    io.stdout.write(
      `  requirement ${r.index} (${r.type}): ${r.allowed ? 'allowed' : `denied: ${r.reason}`}\n`,
    );
    for (const s of r.signatures ?? []) {
      const signer =
        s.format === 'notation'
          ? `signer ${s.keyIdentity ?? '?'}`
          : `key ${s.keyIdentity ?? '?'}, ${s.digestOnly ? 'digest only, no identity: acceptDigestOnlySignatures' : `identity ${s.dockerReference ?? '?'}`}`;
      const what = s.accepted ? `accepted (${signer})` : `rejected: ${s.reason}`;
      const envelope = s.envelope === undefined ? '' : ` ${s.envelope}`;
      const where = `${s.referrer === undefined ? '' : `, referrer ${s.referrer}`}${s.list === undefined ? '' : `, of list ${s.list}`}`;
      io.stdout.write(`    signature ${s.index} (${s.format}${envelope}${where}): ${what}\n`);
      for (const w of s.warnings ?? []) io.stdout.write(`      logged: ${w}\n`);
    }
    for (const a of r.attestations ?? []) {
      io.stdout.write(
        `    attestation ${a.location}: ${a.verified ? `verified (signed by ${a.signer ?? '?'})${a.satisfied === undefined ? '' : a.satisfied ? ', conditions met' : ', conditions not met'}` : `rejected: ${a.reason}`}\n`,
      );
      for (const c of a.conditions ?? []) {
        const saw = (c.observed ?? []).map((o) => `${o.path} = ${o.value}`).join(', ');
        const result = c.result === 'error' ? `error (${c.code}): ${c.message}` : c.result;
        io.stdout.write(
          `      condition ${JSON.stringify(c.expression)}: ${result}${saw ? ` (saw ${saw})` : ''}\n`,
        );
      }
    }
    for (const p of r.probes ?? []) io.stdout.write(`    probed ${p}\n`);
  }
  if (e.requirements.length < e.requirementCount) {
    io.stdout.write(`  (${e.requirementCount - e.requirements.length} later requirement(s) not evaluated)\n`);
  }
  if (!e.allowed) io.stdout.write(`  reason: ${e.reason}\n`);
}

/** The dependencies, or a loader the composition root uses to import, for `eval` only, what IMAGE needs. */
export type PolicyCommandDepsSource = PolicyCommandDeps | ((imageName: string) => Promise<PolicyCommandDeps>);

async function evaluate(argv: readonly string[], io: Io, source: PolicyCommandDepsSource): Promise<number> {
  const { flags, positionals } = parseArgs(argv, evalFlags);
  const [name] = positionals;
  if (name === undefined || positionals.length !== 1)
    throw new CliError('USAGE', 'expected one IMAGE (transport:details)');
  const ctx: SystemContext = {
    ...(flags['registries.d'] === undefined ? {} : { registriesDirPath: flags['registries.d'] }),
    ...(flags['registries-conf'] === undefined ? {} : { registriesConfPath: flags['registries-conf'] }),
    ...(flags['tls-verify'] === undefined ? {} : { tlsVerify: flags['tls-verify'] }),
    ...(flags['cert-dir'] === undefined ? {} : { certDir: flags['cert-dir'] }),
    ...(flags.authfile === undefined ? {} : { authFilePath: flags.authfile }),
  };
  let image: ReturnType<typeof unparsedImageFromReference>;
  let evaluator: PolicyEvaluator;
  try {
    const deps = typeof source === 'function' ? await source(name) : source;
    const policy = await readPolicyFile(flags.policy ?? defaultPolicyPath(io.env), {
      transports: deps.transports,
    });
    evaluator = new PolicyEvaluator(policy, {
      requireSigned: flags['require-signed'] ?? false,
      ...(deps.sigstore === undefined ? {} : { sigstore: deps.sigstore }),
    });
    image = unparsedImageFromReference(deps.transports.parseImageName(name), ctx);
  } catch (err) {
    io.stderr.write(`portcullis policy eval: ${describeError(err)}\n`);
    return 2;
  }
  const platform = {
    ...(flags['override-os'] === undefined ? {} : { os: flags['override-os'] }),
    ...(flags['override-arch'] === undefined ? {} : { architecture: flags['override-arch'] }),
    ...(flags['override-variant'] === undefined ? {} : { variant: flags['override-variant'] }),
  };
  try {
    // The policy alone may decide (reject, insecureAcceptAnything): then nothing is read, as upstream.
    let verdict = evaluator.decideWithoutImage(image.reference);
    if (verdict === undefined) {
      const chosen = await imagesToEvaluate(image, image.forInstance, {
        kind: 'platforms',
        platforms: [platform],
      }).catch((err: unknown): ImagesToEvaluate => {
        // An unreadable manifest is judged like any unreadable image: EVALUATION_FAILED, explained.
        const failed = () => Promise.reject(err);
        return { images: [{ ...image, manifest: failed, signatures: failed }], missing: [], offered: [] };
      });
      const [only] = chosen.images;
      if (only === undefined) {
        io.stderr.write(
          `portcullis policy eval: choosing an instance of index ${chosen.list}: no image found for ${chosen.missing.join(', ')}; it offers ${chosen.offered.join(', ')}\n`,
        );
        return 2;
      }
      verdict = await evaluator.evaluate(only);
    }
    if (flags.json) io.stdout.write(`${JSON.stringify(verdict.explanation, null, 2)}\n`);
    else printExplanation(verdict.explanation, io);
    // A decision the image could not be read for is an error (2), not a policy denial (1).
    if (verdict.allowed) return 0;
    return verdict.code === 'EVALUATION_FAILED' ? 2 : 1;
  } finally {
    await image.close().catch(() => undefined);
  }
}

export function policyCommand(deps: PolicyCommandDepsSource): Command {
  return {
    usage,
    async run(argv: readonly string[], io: Io): Promise<number> {
      const [sub, ...rest] = argv;
      switch (sub) {
        case 'lint':
          return lint(rest, io);
        case 'eval':
          return evaluate(rest, io, deps);
        case 'export': {
          // Loaded here: it brings the Kubernetes client's YAML along, which lint and eval never need.
          const { runPolicyExport } = await import('./policy-export.ts');
          return runPolicyExport(rest, io);
        }
        default:
          throw new CliError(
            'USAGE',
            `expected a subcommand lint, eval or export, got ${JSON.stringify(sub ?? '')}`,
          );
      }
    },
  };
}
