// NaCl secretbox (XSalsa20-Poly1305), which cosign's encrypted private keys use and node:crypto
// lacks. The one module that imports @noble/ciphers (audited); this file only fixes the sizes and
// turns an inauthentic box into `undefined`.
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';

export const SECRETBOX_KEY_BYTES = 32;
export const SECRETBOX_NONCE_BYTES = 24;
const TAG_BYTES = 16;

function checkSizes(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== SECRETBOX_KEY_BYTES)
    throw new RangeError(`secretbox: expected a 32-byte key, got ${key.length}`);
  if (nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw new RangeError(`secretbox: expected a 24-byte nonce, got ${nonce.length}`);
  }
}

/** secretbox.Seal: returns tag || ciphertext, as Go's x/crypto/nacl/secretbox does. */
export function secretboxSeal(plaintext: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  checkSizes(key, nonce);
  return xsalsa20poly1305(key, nonce).encrypt(plaintext);
}

/** secretbox.Open: the plaintext, or undefined when the box is not authentic under this key. */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  checkSizes(key, nonce);
  if (box.length < TAG_BYTES) return undefined;
  try {
    return xsalsa20poly1305(key, nonce).decrypt(box);
  } catch {
    // Sizes are checked above, so the one failure left is a tag mismatch.
    return undefined;
  }
}
