import type { UpstreamAddressingMode } from './settings.ts';

/**
 * A bucket name usable as a DNS label under the endpoint's TLS wildcard certificate: no dots (they would
 * need a deeper wildcard), lower case, 3–63 characters.
 */
function isVirtualHostableBucket(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket);
}

/**
 * How one upstream request names its bucket. `auto` follows what the AWS SDKs do: virtual-hosted style on
 * AWS (path style is deprecated there), path style for other S3-compatible servers, which often have no
 * wildcard DNS for bucket subdomains.
 */
export function resolveUpstreamAddressing(
  mode: UpstreamAddressingMode,
  endpointHost: string,
  bucket: string,
): 'path' | 'virtual' {
  if (mode === 'path') return 'path';
  if (mode === 'virtual') return 'virtual';
  const host = endpointHost.toLowerCase().replace(/\.$/, '');
  const isAws =
    host === 'amazonaws.com' || host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
  return isAws && isVirtualHostableBucket(bucket) ? 'virtual' : 'path';
}
