import { BaseError } from '../errors.ts';

export type RegistriesErrorCode =
  | 'TOML_INVALID'
  | 'REGISTRIES_CONF_INVALID'
  | 'REGISTRIES_D_INVALID'
  | 'AUTH_FILE_INVALID'
  | 'CREDENTIAL_HELPER_FAILED'
  | 'CERTS_INVALID'
  | 'REGISTRY_BLOCKED'
  | 'SHORT_NAME_UNRESOLVED'
  | 'SHORT_NAME_AMBIGUOUS';

export class RegistriesError extends BaseError<RegistriesErrorCode> {}
