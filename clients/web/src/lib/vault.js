// Case keys in memory for the unlocked session: key envelopes from the replica are unwrapped
// with the device private key into non-extractable AES-GCM CryptoKeys, never stored. Documents
// are opened (decrypted) and sealed (encrypted) here; the replica only ever sees ciphertext.
import { decryptBody, encryptBody, importDataKey, unwrapKeyForDevice } from "../envelope.js";
import { schemaVersion, split } from "./schemas.js";

const KID = /^(.+)#([1-9][0-9]{0,8})$/;

export class MissingKey extends Error {
  constructor() { super("This tablet has no key for that case yet. Sync to fetch it."); }
}

export class Vault {
  constructor({ devicePrivateKey, deviceId }) {
    this.devicePrivateKey = devicePrivateKey;
    this.deviceId = deviceId;
    this.keys = new Map(); // kid -> CryptoKey
    this.opened = new Map(); // `${id}@${rev}` -> content (plaintext, memory only)
  }

  /** Take in a `keyenv:<kid>` document: unwrap a live one, forget a deleted one. */
  async receiveEnvelope(doc) {
    const kid = doc._id.slice("keyenv:".length);
    if (doc._deleted || !doc.envelope) {
      this.forgetKid(kid);
      return;
    }
    if (this.keys.has(kid)) return;
    const raw = await unwrapKeyForDevice(doc.envelope, { devicePrivateKey: this.devicePrivateKey, deviceId: this.deviceId });
    try {
      this.keys.set(kid, await importDataKey(raw));
    } finally {
      raw.fill(0);
    }
  }

  forgetKid(kid) {
    this.keys.delete(kid);
  }

  forgetCase(caseId) {
    for (const kid of [...this.keys.keys()]) if (kid.startsWith(`${caseId}#`)) this.keys.delete(kid);
    this.opened.clear();
  }

  /** The newest key version this tablet holds for a case (new writes use it). */
  currentKid(caseId) {
    let best = null, bestN = 0;
    for (const kid of this.keys.keys()) {
      const m = KID.exec(kid);
      if (m && m[1] === caseId && Number(m[2]) > bestN) { best = kid; bestN = Number(m[2]); }
    }
    return best;
  }

  hasCase(caseId) { return this.currentKid(caseId) !== null; }

  /** Decrypt a stored document into its content (secret fields joined with clear meta). */
  async open(doc) {
    const cacheKey = `${doc._id}@${doc._rev}`;
    const hit = this.opened.get(cacheKey);
    if (hit) return hit;
    const key = this.keys.get(doc.enc?.kid);
    if (!key) throw new MissingKey();
    const secret = await decryptBody(doc.enc, { key, docId: doc._id, docType: doc.type, caseId: doc.case_id });
    const content = { ...secret, ...doc.meta };
    if (this.opened.size > 5000) this.opened.clear();
    this.opened.set(cacheKey, content);
    return content;
  }

  /** Encrypt content into the stored form `{_id, type, case_id, schema, meta, enc}`. */
  async seal({ _id, type, case_id }, content) {
    const kid = this.currentKid(case_id);
    if (!kid) throw new MissingKey();
    const { meta, secret } = split(type, content);
    const enc = await encryptBody(secret, { key: this.keys.get(kid), kid, docId: _id, docType: type, caseId: case_id });
    return { _id, type, case_id, schema: schemaVersion(type), meta, enc };
  }

  /**
   * Seal a value kept only on this tablet (a form in progress) with the case's current key,
   * bound to `id` and `type` as a document body is, so it cannot be moved to another case or slot.
   */
  async sealLocal({ id, type, caseId }, value) {
    const kid = this.currentKid(caseId);
    if (!kid) throw new MissingKey();
    return encryptBody(value, { key: this.keys.get(kid), kid, docId: id, docType: type, caseId });
  }

  /** Open what `sealLocal` sealed; raises MissingKey or DecryptionError. */
  async openLocal({ id, type, caseId }, enc) {
    const key = this.keys.get(enc?.kid);
    if (!key) throw new MissingKey();
    return decryptBody(enc, { key, docId: id, docType: type, caseId });
  }

  clear() {
    this.keys.clear();
    this.opened.clear();
    this.devicePrivateKey = null;
  }
}
