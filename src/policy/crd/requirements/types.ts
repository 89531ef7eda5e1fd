// The CRD side of a policy requirement type: what the policy CRDs must know of it beyond what the
// policy parser checks. One module per type in this folder, beside its module in
// image/signature/requirements, registered in index.ts.
import type { ByteSource, PolicyRequirement } from '../../../image/index.ts';

/** The key parsers of the signature layer, injected by the composition root. */
export interface InlineKeyLoaders {
  /** Loads a GPG keyring (signedBy keyData); rejects when it holds no usable key. */
  readonly gpg: (keyrings: readonly Uint8Array[]) => Promise<unknown>;
  /** Parses one PEM public key (sigstoreSigned and sigstoreAttested keys, Rekor keys); throws when it cannot. */
  readonly sigstore: (pem: string, field: string) => unknown;
}

/**
 * The policy.json key-source families of a type. Each `<base>` stands for `<base>Path`,
 * `<base>Paths`, `<base>Data` (and `<base>Datas`); a CRD writes `<base>Data` or a
 * `<base>SecretRef`/`<base>ConfigMapRef` instead of a path.
 */
export interface KeySourceFields {
  /** Bases, on the requirement or in one of `nested`. */
  readonly bases: readonly string[];
  /** Members of the requirement whose objects hold key sources too. */
  readonly nested: readonly string[];
  /** Whether `<base>Datas` exists: without it, export must combine several files into one. */
  readonly dataLists: boolean;
}

/** An OpenAPI v3 schema object, as a CRD carries it. */
export type Schema = Record<string, unknown>;

/** One x-kubernetes-validations entry: a CEL expression over the object it sits on. */
export interface Rule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate';
}

/** The types that take a member group: a CEL test of `self.type`, and their names for a message. */
export interface Owners {
  readonly test: string;
  readonly names: string;
}

/**
 * Members of the requirement object that only some types take. Types that share members list the
 * same object (a constant of schema-fragments.ts or of one type's module): those are its owners.
 */
export interface CrdMembers {
  readonly properties: Readonly<Record<string, Schema>>;
  /** The rule that holds the members to their owners (see `onlyFor`, `requiredFor`). */
  readonly forOthers: (owners: Owners, fields: readonly string[]) => Rule;
}

/** What a type adds to the one object schema of a requirement in the policy CRDs. */
export interface CrdSchema {
  readonly members: readonly CrdMembers[];
  /**
   * Further CEL rules over the requirement object. Every type's rules apply to every requirement,
   * so each starts from `self.type` unless it only reads members its owners alone may hold. A
   * rule refuses only what the policy parser refuses.
   */
  readonly rules: readonly Rule[];
}

export interface CrdRequirementType<R extends PolicyRequirement> {
  readonly name: R['type'];
  readonly keySources: KeySourceFields;
  readonly schema: CrdSchema;
  /**
   * Parses the keys `req` holds inline, so that one that does not load fails the compile (the
   * controller keeps the last good policy) instead of every admission. `field` is where `req` is.
   */
  loadInlineKeys(req: R, field: string, loaders: InlineKeyLoaders): Promise<void>;
}

/** The inline bytes of a key source (files are read at evaluation time, not here). */
export function inlineBytes(source: ByteSource | undefined): Uint8Array[] {
  if (source === undefined) return [];
  if (source.kind === 'data') return [source.data];
  return source.kind === 'datas' ? [...source.datas] : [];
}
