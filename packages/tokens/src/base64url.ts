// URL-safe base64 without padding, as JWTs and OpenTok session IDs use it.

export function encodeBase64Url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes URL-safe base64 (padding optional); returns null for anything that is not. */
export function decodeBase64Url(input: string): Buffer | null {
  const unpadded = input.replace(/=+$/, '');
  if (!BASE64URL.test(unpadded) || unpadded.length % 4 === 1) return null;
  return Buffer.from(unpadded, 'base64url');
}
