import { scryptAsync } from "@noble/hashes/scrypt.js";

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class DecryptionError extends Error {
  constructor(message = "ciphertext could not be decrypted") { super(message); }
}
export class WrongPassphrase extends DecryptionError {
  constructor() { super("wrong passphrase"); }
}
// Writer-side errors, as in Python (docs/envelope.md, "Errors"): misuse on our own side (a key
// or IV of the wrong size, a kid of another case, an empty passphrase) ...
export class LocalSyncError extends Error {}
// ... identity fields unfit for a binding string, or a body that cannot be canonical JSON ...
export class InvalidDocument extends Error {}
// ... and a malformed kid.
export class RemoteSyncError extends Error {}

// Standard base64 with padding.
export function b64(bytes) {
  const view = ArrayBuffer.isView(bytes)
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  let bin = "";
  for (let i = 0; i < view.length; i += 0x8000) bin += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(bin);
}
// Only the canonical spelling, as Python: atob() alone would also take whitespace, missing
// padding and stray bits in the last character, so re-encode and compare.
export function unb64(text, size, minSize = 0) {
  if (typeof text !== "string") throw new DecryptionError();
  let bytes;
  try { bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
  catch { throw new DecryptionError(); }
  if (b64(bytes) !== text || bytes.length < minSize) throw new DecryptionError();
  if (size !== undefined && bytes.length !== size) throw new DecryptionError();
  return bytes;
}
function bytesOf(value, size, name) {
  if (!(value instanceof Uint8Array) || value.length !== size) throw new LocalSyncError(`${name} must be ${size} bytes`);
  return value;
}
const freshIv = (iv) => (iv === undefined || iv === null
  ? crypto.getRandomValues(new Uint8Array(12)) : bytesOf(iv, 12, "iv"));

// JSON with object keys sorted by code point (= UTF-8 byte order, not JavaScript's UTF-16
// order), no whitespace, non-ASCII characters left as they are: Python's
// json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).
function byCodePoint(a, b) {
  const x = utf8.encode(a), y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
export function canonicalJson(value) {
  if (typeof value === "string") {
    if (!value.isWellFormed()) throw new TypeError("lone surrogate");
    return JSON.stringify(value);
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("not finite");
  if (value === null || typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  if (typeof value !== "object") throw new TypeError("not JSON");
  // A Date, Map, Set or class instance would silently become "{}" (Python refuses them).
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new TypeError("not a plain object");
  // Build the text ourselves: a JS object would put integer-like keys ("9", "10") first.
  return "{" + Object.keys(value).sort(byCodePoint)
    .map((k) => canonicalJson(k) + ":" + canonicalJson(value[k])).join(",") + "}";
}

// "label\nfield\nfield..." as UTF-8; fields are non-empty and hold no line break.
const fitField = (f) => typeof f === "string" && f !== "" && !f.includes("\n") && f.isWellFormed();
function binding(label, ...fields) {
  if (!fields.every(fitField)) throw new DecryptionError();
  return utf8.encode([label, ...fields].join("\n"));
}
// The same for a writer: an unfit field is the caller's InvalidDocument, not a bad ciphertext.
function writerBinding(label, ...fields) {
  if (!fields.every(fitField)) throw new InvalidDocument("identity fields must be non-empty text without line breaks");
  return utf8.encode([label, ...fields].join("\n"));
}
function caseOfKid(kid, Err = DecryptionError) {
  const m = fitField(kid) && /^([^#\n]+)#([1-9][0-9]{0,8})$/.exec(kid);
  if (!m) throw new Err("malformed key id (expected '<case_id>#<version>')");
  return m[1];
}

// -- bodies ------------------------------------------------------------------------------
// WebCrypto would also take a 16- or 24-byte AES key: case data keys are 32 bytes.
export const importDataKey = (raw) =>
  subtle.importKey("raw", bytesOf(raw, 32, "data key"), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);

function checkDataKey(key) {
  if (!(key instanceof CryptoKey) || key.algorithm.name !== "AES-GCM" || key.algorithm.length !== 256) {
    throw new LocalSyncError("key must be an AES-256-GCM CryptoKey");
  }
  return key;
}

export async function encryptBody(secret, { key, kid, docId, docType, caseId, iv }) {
  checkDataKey(key);
  iv = freshIv(iv);
  const additionalData = writerBinding("doorstep.body.v1", docId, docType, caseId, kid);
  if (caseOfKid(kid, RemoteSyncError) !== caseId) throw new LocalSyncError("kid names a key of another case");
  if (secret === null || typeof secret !== "object" || Array.isArray(secret)) {
    throw new InvalidDocument("the secret fields must be a JSON object");
  }
  let plaintext;
  try { plaintext = utf8.encode(canonicalJson(secret)); }
  catch { throw new InvalidDocument("the secret fields cannot be serialised as JSON"); }
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData }, key, plaintext);
  return { alg: "A256GCM", kid, iv: b64(iv), ct: b64(ct) };
}

export async function decryptBody(enc, { key, docId, docType, caseId }) {
  checkDataKey(key);
  if (enc?.alg !== "A256GCM" || caseOfKid(enc.kid) !== caseId) throw new DecryptionError();
  const additionalData = binding("doorstep.body.v1", docId, docType, caseId, enc.kid);
  const iv = unb64(enc.iv, 12), ct = unb64(enc.ct, undefined, 16);
  let value;
  try {
    const plaintext = await subtle.decrypt({ name: "AES-GCM", iv, additionalData }, key, ct);
    value = JSON.parse(fromUtf8.decode(plaintext));
  } catch {
    throw new DecryptionError();
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DecryptionError();
  return value;
}

// -- the device's X25519 key ---------------------------------------------------------------
// PKCS#8 wrapping of a raw 32-byte X25519 private key (RFC 8410): a fixed 16-byte prefix.
const PKCS8_X25519 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
  0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

export async function importDevicePrivateKey(raw) {
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_X25519); pkcs8.set(bytesOf(raw, 32, "device private key"), 16);
  try {
    return await subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, ["deriveBits"]);
  } finally {
    pkcs8.fill(0);
  }
}

export async function generateDeviceKeypair() {
  const pair = await subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
  const jwk = await subtle.exportKey("jwk", pair.privateKey);
  const privateRaw = unb64(jwk.d.replace(/-/g, "+").replace(/_/g, "/") + "=", 32);
  const publicRaw = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
  return { privateRaw, publicRaw };
}

async function wrappingKey(privateKey, peerRaw, epk, info, usage) {
  const peer = await subtle.importKey("raw", peerRaw, { name: "X25519" }, false, []);
  const shared = await subtle.deriveBits({ name: "X25519", public: peer }, privateKey, 256);
  // A low-order peer key gives the all-zero secret (RFC 7748 §6.1): refuse it, as Python does.
  if (new Uint8Array(shared).every((b) => b === 0)) throw new DecryptionError();
  const ikm = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: epk, info }, ikm,
                          { name: "AES-GCM", length: 256 }, false, [usage]);
}

export async function unwrapKeyForDevice(envelope, { devicePrivateKey, deviceId }) {
  if (envelope?.alg !== "ECDH-ES+A256GCM" || envelope.device_id !== deviceId
      || caseOfKid(envelope.kid) !== envelope.case_id) throw new DecryptionError();
  const info = binding("doorstep.keywrap.v1", deviceId, envelope.case_id, envelope.kid);
  const epk = unb64(envelope.epk, 32), iv = unb64(envelope.iv, 12), ct = unb64(envelope.ct, 48);
  try {
    const key = await wrappingKey(devicePrivateKey, epk, epk, info, "decrypt");
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: info }, key, ct));
  } catch {
    throw new DecryptionError();
  }
}

// -- the passphrase keystore ---------------------------------------------------------------
// null for what is not text or holds a lone surrogate (TextEncoder would silently turn that
// into U+FFFD, so two different passphrases would open the same keystore).
const passphraseBytes = (passphrase) =>
  typeof passphrase === "string" && passphrase.isWellFormed() ? utf8.encode(passphrase.normalize("NFKC")) : null;
const keystoreAad = (deviceId) => binding("doorstep.keystore.v1", deviceId);
// n a power of two from 2, r 1-32, p 1-16, 128·n·r at most 256 MiB (same bounds as Python).
const ok = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
const scryptParamsOk = (n, r, p) =>
  ok(n, 2, 2 ** 28) && (n & (n - 1)) === 0 && ok(r, 1, 32) && ok(p, 1, 16) && 128 * n * r <= 256 * 2 ** 20;

export async function lockPrivateKey(privateRaw, { passphrase, deviceId, n = 32768, r = 8, p = 1, salt, iv }) {
  bytesOf(privateRaw, 32, "private key");
  const secret = passphraseBytes(passphrase);
  if (!secret || secret.length === 0) throw new LocalSyncError("the passphrase must be non-empty, valid Unicode text");
  if (!scryptParamsOk(n, r, p)) throw new LocalSyncError("scrypt parameters out of bounds");
  salt = salt === undefined || salt === null ? crypto.getRandomValues(new Uint8Array(16)) : bytesOf(salt, 16, "salt");
  iv = freshIv(iv);
  if (!fitField(deviceId)) throw new InvalidDocument("device_id must be non-empty text without line breaks");
  const derived = await scryptAsync(secret, salt, { N: n, r, p, dkLen: 32 });
  const key = await subtle.importKey("raw", derived, "AES-GCM", false, ["encrypt"]);
  derived.fill(0);
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: keystoreAad(deviceId) }, key, privateRaw);
  return { alg: "scrypt+A256GCM", n, r, p, salt: b64(salt), iv: b64(iv), ct: b64(ct) };
}

export async function unlockPrivateKey(keystore, { passphrase, deviceId }) {
  const { alg, n, r, p } = keystore ?? {};
  if (alg !== "scrypt+A256GCM" || !scryptParamsOk(n, r, p)) throw new DecryptionError();
  const salt = unb64(keystore.salt, 16), iv = unb64(keystore.iv, 12), ct = unb64(keystore.ct, 48);
  const additionalData = keystoreAad(deviceId);
  const secret = passphraseBytes(passphrase);
  if (!secret || secret.length === 0) throw new WrongPassphrase();
  const derived = await scryptAsync(secret, salt, { N: n, r, p, dkLen: 32 });
  const key = await subtle.importKey("raw", derived, "AES-GCM", false, ["decrypt"]);
  derived.fill(0);
  try {
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData }, key, ct));
  } catch {
    throw new WrongPassphrase();
  }
}
