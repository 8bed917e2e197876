import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

function base32(bytes: Uint8Array, chars: number): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

/** A fresh random ticket id (50 random bits). */
export function randomTicketId(): string {
  return `tk-${base32(randomBytes(7), 10)}`;
}

/** The ticket id of an external id: the same external id always gives the same ticket id. */
export function ticketIdForExternalId(externalId: string): string {
  return `tk-${base32(createHash('sha256').update(`externalId:${externalId}`).digest(), 10)}`;
}
