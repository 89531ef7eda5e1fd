// sigstore-cases.json through the whole stack: policy.json text -> parsePolicy -> PolicyEvaluator
// -> sigstoreVerifier (the adapter onto image/signature/sigstore) -> verdict.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Signature } from '../../../src/image/index.ts';
import { PolicyEvaluator, parsePolicy, sigstoreVerifier } from '../../../src/image/signature/index.ts';
import { conformancePath } from '../../helpers/conformance.ts';
import { conformance, dockerLikeReference, memoryImage, readJson } from './helpers.ts';
import { parseSignatureBlob } from './sigstore/helpers.ts';

interface SigstoreCase {
  readonly image: string;
  readonly imageDockerReference: string;
  readonly requirement: Record<string, unknown>;
  readonly expectedValid: boolean;
  readonly notes: string;
  readonly mutation?: string;
}

const { cases } = await readJson<{ cases: SigstoreCase[] }>('sigstore-cases.json');

const pathKeys = new Set(['keyPath', 'rekorPublicKeyPath', 'caPath', 'caRootsPath', 'caIntermediatesPath']);
const pathListKeys = new Set(['keyPaths', 'rekorPublicKeyPaths']);

async function readSignatures(
  image: string,
): Promise<{ manifest: Uint8Array | undefined; signatures: Signature[] }> {
  if (image.endsWith('.signature'))
    return { manifest: undefined, signatures: [parseSignatureBlob(await readFile(conformance(image)))] };
  const manifest = await readFile(conformance(`${image}/manifest.json`)).catch(() => undefined);
  const signatures: Signature[] = [];
  for (let i = 1; ; i++) {
    const blob = await readFile(conformance(`${image}/signature-${i}`)).catch(() => undefined);
    if (blob === undefined) return { manifest, signatures };
    signatures.push(parseSignatureBlob(blob));
  }
}

/** The case's requirement as policy.json would hold it: absolute paths, placeholders filled, unset (null) keys dropped. */
async function policyRequirement(value: unknown, original: Signature[]): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((v) => policyRequirement(v, original)));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null) continue;
    if (pathKeys.has(k) && typeof v === 'string') out[k] = conformancePath(v);
    else if (pathListKeys.has(k) && Array.isArray(v)) out[k] = v.map((p: string) => conformancePath(p));
    else if (v === '<base64 of cosign.pub>')
      out[k] = (await readFile(conformance('containers-image/signature/fixtures/cosign.pub'))).toString(
        'base64',
      );
    else if (typeof v === 'string' && v.startsWith('<base64 of the ')) {
      const name = /the (\S+) annotation/.exec(v)?.[1] ?? '';
      const first = original[0];
      out[k] = Buffer.from(first?.format === 'sigstore-json' ? (first.annotations[name] ?? '') : '').toString(
        'base64',
      );
    } else out[k] = await policyRequirement(v, original);
  }
  return out;
}

function mutate(sig: Signature, mutation: string | undefined): Signature {
  if (mutation === undefined || sig.format !== 'sigstore-json') return sig;
  if (mutation === 'remove all annotations') return { ...sig, annotations: {} };
  const annotations = { ...sig.annotations };
  const remove = /^remove annotation (\S+)$/.exec(mutation);
  const setBase64 = /^set (\S+) = base64\("(.*)"\)$/.exec(mutation);
  const set = /^set (\S+) = "(.*)"$/.exec(mutation);
  if (remove) delete annotations[remove[1]!];
  else if (setBase64) annotations[setBase64[1]!] = Buffer.from(setBase64[2]!).toString('base64');
  else if (set) annotations[set[1]!] = set[2]!;
  else throw new Error(`unknown mutation ${mutation}`);
  return { ...sig, annotations };
}

describe('sigstore-cases.json through parsePolicy, PolicyEvaluator and sigstoreVerifier', () => {
  it('has every case', () => assert.equal(cases.length, 48));
  for (const [i, c] of cases.entries()) {
    it(`case ${i} ${c.image.split('/').pop()}${c.mutation ? ` (${c.mutation})` : ''}: ${c.expectedValid ? 'allowed' : 'denied'} — ${c.notes.slice(0, 80)}`, async () => {
      const { manifest, signatures } = await readSignatures(c.image);
      const requirement = await policyRequirement(c.requirement, signatures);
      const policy = parsePolicy(JSON.stringify({ default: [requirement] }));
      const image = memoryImage(
        dockerLikeReference(c.imageDockerReference),
        manifest ?? new Uint8Array(),
        signatures.map((s) => mutate(s, c.mutation)),
      );
      const unreadable = manifest === undefined && !c.image.endsWith('.signature');
      const subject = unreadable
        ? { ...image, manifest: () => Promise.reject(new Error('reading manifest: no such file')) }
        : image;
      const verdict = await new PolicyEvaluator(policy, { sigstore: sigstoreVerifier() }).evaluate(subject);
      assert.equal(verdict.allowed, c.expectedValid, JSON.stringify(verdict.explanation));
    });
  }

  it('an accepted signature is explained with its signer and payload', async () => {
    const { manifest, signatures } = await readSignatures(
      'containers-image/signature/fixtures/dir-img-cosign-valid',
    );
    const key = conformancePath('containers-image/signature/fixtures/cosign.pub');
    const policy = parsePolicy(
      JSON.stringify({
        default: [{ type: 'sigstoreSigned', keyPath: key, signedIdentity: { type: 'matchRepository' } }],
      }),
    );
    const image = memoryImage(
      dockerLikeReference('192.168.64.2:5000/cosign-signed-single-sample'),
      manifest!,
      signatures,
    );
    const v = await new PolicyEvaluator(policy, { sigstore: sigstoreVerifier() }).evaluate(image);
    const attempt = v.explanation.requirements[0]?.signatures?.[0];
    assert.equal(attempt?.accepted, true);
    assert.equal(attempt?.dockerReference, '192.168.64.2:5000/cosign-signed-single-sample');
  });
});
