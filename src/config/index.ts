export { resolveUpstreamAddressing } from './addressing.ts';
export { renderHelp } from './help.ts';
export { type Config, type LoadConfigResult, loadConfig } from './load.ts';
export { formatListenAddress, type HttpEndpoint, type ListenAddress, parseListenAddress } from './parse.ts';
export {
  AWS_CREDENTIAL_VARIABLES,
  type LogLevel,
  SETTINGS,
  type UnencryptedObjectPolicy,
  type UpstreamAddressingMode,
  type VaultAuthMethod,
} from './settings.ts';
export {
  parseTransitKeyMapping,
  type TransitKeyEntry,
  TransitKeyMap,
  type TransitKeyName,
  transitKeyRef,
} from './transit-keys.ts';
