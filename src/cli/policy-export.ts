// `portcullis policy export`: a policy CRD (YAML) <-> policy.json, so one policy can be enforced
// by the webhook and installed on nodes for CRI-O/Podman. The direction follows the input.
import { readFileSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { parsePolicy } from '../image/signature/index.ts';
import { parseYamlDocuments, toYaml } from '../kube/index.ts';
import { policyJsonToSpec, policySettings, specToPolicyJson } from '../policy/crd/convert.ts';
import { CrdError } from '../policy/crd/errors.ts';
import {
  POLICY_API_VERSION,
  POLICY_MODES,
  type PolicyKind,
  type PolicyMode,
  type PolicyObject,
} from '../policy/crd/types.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Io } from './command.ts';

const flags = {
  output: { type: 'string', short: 'o', metavar: 'FILE', help: 'write here instead of stdout' },
  kind: {
    type: 'string',
    metavar: 'KIND',
    help: 'policy.json -> CRD: ClusterImagePolicy (default) or ImagePolicy',
  },
  name: {
    type: 'string',
    metavar: 'NAME',
    help: 'the object name (CRD -> policy.json: which object of the input; default "default" the other way)',
  },
  namespace: { type: 'string', metavar: 'NS', help: 'policy.json -> CRD: the namespace of an ImagePolicy' },
  mode: {
    type: 'string',
    metavar: 'MODE',
    help: 'policy.json -> CRD: enforce, warn or audit (default: unset, meaning enforce)',
  },
  'ref-dir': {
    type: 'string',
    metavar: 'DIR',
    help: 'CRD -> policy.json: write key references as files DIR/<name>/<key> (where you mount the Secrets/ConfigMaps)',
  },
} as const;

export const POLICY_EXPORT_USAGE = `Usage: portcullis policy export [FLAGS] FILE|-

Converts between the policy CRDs (portcullis.dev/v1alpha1 ClusterImagePolicy and ImagePolicy) and
containers-policy.json(5). A YAML input holding a policy CRD becomes policy.json; a policy.json
input becomes a CRD, with every key file it names inlined as base64 data. Both directions run the
result through the strict policy parser.

mode and namespaceSelector have no policy.json equivalent: exporting a policy that sets them
prints a warning, since a node enforces the policy everywhere. Key references (keySecretRef,
keyConfigMapRef, ...) cannot be read outside the cluster: pass --ref-dir to write them as paths.

Flags:
${formatFlags(flags)}
`;

/** Key files are public keys and CA bundles; refuse anything larger. */
const MAX_KEY_FILE_BYTES = 1024 * 1024;
const MAX_INPUT_BYTES = 4 * 1024 * 1024;

async function readInput(path: string, io: Io): Promise<string> {
  if (path !== '-') {
    try {
      if (statSync(path).size > MAX_INPUT_BYTES)
        throw new CliError('FAILED', `reading ${path}: larger than ${MAX_INPUT_BYTES} bytes`);
      return await readFile(path, 'utf8');
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError('FAILED', `reading ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > MAX_INPUT_BYTES)
      throw new CliError('FAILED', `reading stdin: larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function readKeyFile(path: string, field: string): Uint8Array {
  try {
    if (statSync(path).size > MAX_KEY_FILE_BYTES) {
      throw new CrdError('EXPORT_FAILED', `${field}: ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`, {
        field,
      });
    }
    return readFileSync(path);
  } catch (err) {
    if (err instanceof CrdError) throw err;
    throw new CrdError('EXPORT_FAILED', `${field}: reading ${path}: ${(err as Error).message}`, {
      cause: err,
      field,
    });
  }
}

const isPolicyObject = (d: unknown): d is PolicyObject & { kind: PolicyKind } =>
  typeof d === 'object' &&
  d !== null &&
  (d as PolicyObject).apiVersion === POLICY_API_VERSION &&
  ((d as PolicyObject).kind === 'ClusterImagePolicy' || (d as PolicyObject).kind === 'ImagePolicy');

function crdToPolicyJson(
  docs: readonly unknown[],
  f: { name?: string | undefined; 'ref-dir'?: string | undefined },
  io: Io,
): string {
  const policies = docs
    .filter(isPolicyObject)
    .filter((d) => f.name === undefined || d.metadata?.name === f.name);
  if (policies.length !== 1) {
    const names = docs.filter(isPolicyObject).map((d) => `${d.kind}/${d.metadata?.name}`);
    throw new CliError(
      'USAGE',
      policies.length === 0
        ? `no policy object${f.name === undefined ? '' : ` named ${JSON.stringify(f.name)}`} in the input`
        : `the input holds several policies (${names.join(', ')}): choose one with --name`,
    );
  }
  const obj = policies[0]!;
  const settings = policySettings(obj.kind, obj.spec);
  const label = `${obj.kind}/${obj.metadata?.name}`;
  if (settings.mode !== 'enforce')
    io.stderr.write(`warning: ${label} has mode ${settings.mode}; policy.json always enforces\n`);
  if (settings.namespaceSelector !== undefined) {
    io.stderr.write(`warning: ${label} selects namespaces; policy.json applies to every image\n`);
  }
  const refDir = f['ref-dir'];
  const text = specToPolicyJson(obj.spec, {
    resolve: (kind, ref, field) => {
      if (refDir === undefined) {
        throw new CrdError(
          'REF_UNRESOLVED',
          `${field}: ${kind} ${ref.name} cannot be read outside the cluster; pass --ref-dir DIR`,
          {
            field,
          },
        );
      }
      return { kind: 'path', path: posix.join(refDir, ref.name, ref.key) };
    },
  });
  parsePolicy(text);
  return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
}

function policyJsonToCrd(
  text: string,
  f: {
    kind?: string | undefined;
    name?: string | undefined;
    namespace?: string | undefined;
    mode?: string | undefined;
  },
): string {
  parsePolicy(text);
  const kind = f.kind ?? 'ClusterImagePolicy';
  if (kind !== 'ClusterImagePolicy' && kind !== 'ImagePolicy') {
    throw new CliError(
      'USAGE',
      `--kind: expected ClusterImagePolicy or ImagePolicy, got ${JSON.stringify(kind)}`,
    );
  }
  if (kind === 'ImagePolicy' && f.namespace === undefined)
    throw new CliError('USAGE', '--namespace is required for an ImagePolicy');
  if (kind === 'ClusterImagePolicy' && f.namespace !== undefined)
    throw new CliError('USAGE', '--namespace is only for an ImagePolicy');
  if (f.mode !== undefined && !POLICY_MODES.includes(f.mode as PolicyMode)) {
    throw new CliError(
      'USAGE',
      `--mode: expected one of ${POLICY_MODES.join(', ')}, got ${JSON.stringify(f.mode)}`,
    );
  }
  const spec = {
    ...(f.mode === undefined ? {} : { mode: f.mode }),
    ...policyJsonToSpec(JSON.parse(text), readKeyFile),
  };
  // The CRD must convert back to a policy the parser accepts (inlined keys stay valid base64).
  parsePolicy(
    specToPolicyJson(spec, {
      resolve: (_k, _r, field) => {
        throw new CrdError('EXPORT_FAILED', `${field}: unexpected reference`);
      },
    }),
  );
  const metadata = {
    name: f.name ?? 'default',
    ...(f.namespace === undefined ? {} : { namespace: f.namespace }),
  };
  return toYaml({ apiVersion: POLICY_API_VERSION, kind, metadata, spec });
}

/** Runs `portcullis policy export ARGV`; the policy command dispatches here. Returns the exit code. */
export async function runPolicyExport(argv: readonly string[], io: Io): Promise<number> {
  const { flags: f, positionals } = parseArgs(argv, flags);
  if (positionals.length !== 1)
    throw new CliError('USAGE', `expected one input file (or -), got ${positionals.length}`);
  const input = await readInput(positionals[0]!, io);
  let out: string;
  try {
    const trimmed = input.trimStart();
    const isJson = trimmed.startsWith('{');
    const docs = isJson ? [] : parseYamlDocuments(input);
    out = isJson || !docs.some(isPolicyObject) ? policyJsonToCrd(input, f) : crdToPolicyJson(docs, f, io);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('FAILED', `exporting ${positionals[0]}: ${(err as Error).message}`, { cause: err });
  }
  if (f.output === undefined) io.stdout.write(out);
  else await writeFile(f.output, out);
  return 0;
}
