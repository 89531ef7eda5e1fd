// policy.json parsing with upstream's rules (containers/image signature/policy_config*.go):
// every object is exact, duplicates and unknown keys are errors, and each requirement type (its
// module in requirements/) checks its key sources the way upstream does. Deliberately stricter
// than upstream: a JSON null where a string, array or base64 value is expected is an error (Go
// reads it as "absent" or "empty"), and duplicate keys are rejected at every level.
import { readFile } from 'node:fs/promises';
import { SignatureError } from './errors.ts';
import { asArray, invalidValue, type JsonLimits, type JsonNode, ObjectReader, parseJson } from './json.ts';
import type { Policy, PolicyRequirements } from './policy-types.ts';
import { parseRequirement } from './requirements/index.ts';
import { scopeValidatorFor, type TransportLookup } from './scope-validation.ts';

export interface PolicyParseOptions {
  /** Registered transports validate their own scopes; others fall back to the built-in table. */
  readonly transports?: TransportLookup;
  readonly limits?: JsonLimits;
}

/** Parses a policy.json document; throws JsonError (code JSON_*) with the location of the problem. */
export function parsePolicy(input: Uint8Array | string, options: PolicyParseOptions = {}): Policy {
  const root = parseJson(input, options.limits);
  const obj = new ObjectReader(root, 'a policy object');
  const defaultNode = obj.take('default');
  const transportsNode = obj.take('transports');
  obj.finish(['default', 'transports']);
  if (defaultNode === undefined) throw invalidValue(root, 'default policy is missing');
  const transports = new Map<string, ReadonlyMap<string, PolicyRequirements>>();
  if (transportsNode !== undefined) {
    const t = new ObjectReader(transportsNode, 'an object of transports');
    for (const [name, scopesNode] of t.node.members) {
      t.take(name);
      transports.set(name, parseScopes(name, scopesNode, options.transports));
    }
  }
  return { default: parseRequirements(defaultNode), transports };
}

/** Reads and parses a policy file; unreadable files are SignatureError POLICY_FILE_UNREADABLE. */
export async function readPolicyFile(path: string, options: PolicyParseOptions = {}): Promise<Policy> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new SignatureError('POLICY_FILE_UNREADABLE', `reading policy ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parsePolicy(data, options);
}

function parseScopes(
  transportName: string,
  node: JsonNode,
  transports: TransportLookup | undefined,
): ReadonlyMap<string, PolicyRequirements> {
  const obj = new ObjectReader(node, 'an object of scopes');
  const validate = scopeValidatorFor(transportName, transports);
  const scopes = new Map<string, PolicyRequirements>();
  for (const [scope, reqsNode] of obj.node.members) {
    if (scope !== '' && validate !== undefined) {
      const problem = validate(scope);
      if (problem !== undefined) {
        throw invalidValue(
          reqsNode,
          `scope ${JSON.stringify(scope)} is not valid for transport ${transportName}: ${problem}`,
        );
      }
    }
    obj.take(scope);
    scopes.set(scope, parseRequirements(reqsNode));
  }
  return scopes;
}

function parseRequirements(node: JsonNode): PolicyRequirements {
  const items = asArray(node, 'a list of policy requirements').items;
  const [first, ...rest] = items;
  if (first === undefined)
    throw invalidValue(node, 'list of verification policy requirements must not be empty');
  return [parseRequirement(first), ...rest.map(parseRequirement)];
}
