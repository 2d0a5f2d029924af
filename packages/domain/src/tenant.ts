/**
 * Tenant ids appear in object keys, job ids and URLs, so they are limited to characters that are
 * safe in all three: letters, digits, '-' and '_', starting with a letter or digit, 1-64 long.
 */
export const TENANT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const TENANT_ID_REGEX = new RegExp(TENANT_ID_PATTERN);

export function isValidTenantId(value: string): boolean {
  return TENANT_ID_REGEX.test(value);
}

export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 7;
/** Retention of a tenant whose feature settings were never written (the column's default too). */
export const DEFAULT_RETENTION_DAYS = 3;

export function isValidRetentionDays(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= MIN_RETENTION_DAYS && value <= MAX_RETENTION_DAYS;
}
