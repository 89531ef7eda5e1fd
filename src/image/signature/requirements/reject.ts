// `reject`: every image is denied, without looking at it.
import { imageName } from '../../transports/registry.ts';
import type { ObjectReader } from '../json.ts';
import type { Outcome, RequirementType } from './types.ts';

export interface RejectRequirement {
  readonly type: 'reject';
}

export const reject: RequirementType<RejectRequirement> = {
  name: 'reject',
  parse(obj: ObjectReader) {
    obj.finish(['type']);
    return { type: 'reject' };
  },
  decideWithoutImage: (_req, _ctx, reference): Outcome => ({
    allowed: false,
    code: 'REJECTED_BY_POLICY',
    reason: `Running image ${imageName(reference)} is rejected by policy.`,
  }),
  evaluate: async (req, view, ctx) => reject.decideWithoutImage(req, ctx, view.image.reference)!,
  policyOnly: true,
  readsSigstoreSignatures: false,
  strength: () => 'rejects',
  extensionFields: () => [],
  lint: () => [],
  files: () => [],
};
