import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const CIPHERTEXT_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A new signing secret as Standard Webhooks writes it: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** Encrypts and decrypts tenants' webhook secrets at rest. */
export interface SecretBox {
  /** `tenantId` is bound to the ciphertext: a ciphertext copied onto another tenant's row does not decrypt. */
  seal(tenantId: string, secret: string): string;
  open(tenantId: string, sealed: string): string;
}

/**
 * AES-256-GCM under a key derived (HKDF-SHA256) from the configured WEBHOOK_SECRET_KEY, so any
 * string of at least 32 characters works as configuration. Stored as `v1.<iv>.<tag>.<ciphertext>`.
 */
export function createSecretBox(configuredKey: string): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(configuredKey, 'utf8'), Buffer.alloc(0), 'dcar webhook secrets v1', 32));
  return {
    seal(tenantId, secret) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(tenantId, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return [CIPHERTEXT_VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join('.');
    },
    open(tenantId, sealed) {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== CIPHERTEXT_VERSION || !iv || !tag || ciphertext === undefined) throw new Error('unreadable webhook secret ciphertext');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(tenantId, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      // A wrong WEBHOOK_SECRET_KEY or a tampered row fails here (GCM authentication), never yields garbage.
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
    },
  };
}
