/**
 * Key-lifecycle timings in seconds instead of days, so rotations happen within a test:
 * JWKS_MAX_AGE < KEY_PREPUBLISH < KEY_ROTATION_INTERVAL and KEY_SYNC_INTERVAL ≤ KEY_PREPUBLISH / 2.
 */
export const FAST_KEY_LIFECYCLE = {
  KEY_PREPUBLISH: '3',
  JWKS_MAX_AGE: '1',
  KEY_SYNC_INTERVAL: '1',
  KEY_ROTATION_INTERVAL: '60',
  RATE_LIMIT_TOKEN_PER_CLIENT: '0',
  RATE_LIMIT_TOKEN_PER_ADDRESS: '0',
} as const;
