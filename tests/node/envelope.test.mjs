// clients/web/src/envelope.js against every vector in tests/vectors/envelope.json
// (docs/envelope.md, "Checking an implementation against the vectors").
// Run: node --test tests/node/envelope.test.mjs   (pytest runs it: tests/e2e/test_envelope_js.py)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import envelope from "./lib/envelope.mjs";

const {
  DecryptionError, InvalidDocument, LocalSyncError, RemoteSyncError, WrongPassphrase,
  b64, unb64, canonicalJson, importDataKey, encryptBody, decryptBody,
  importDevicePrivateKey, generateDeviceKeypair, unwrapKeyForDevice, lockPrivateKey, unlockPrivateKey,
} = envelope;

const vectors = JSON.parse(readFileSync(new URL("../vectors/envelope.json", import.meta.url), "utf8"));
const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const raw = (text) => unb64(text);
const ERRORS = { DecryptionError, WrongPassphrase };

describe("body", () => {
  for (const v of vectors.body) {
    test(`${v.name}: canonical JSON`, () => {
      assert.equal(canonicalJson(v.secret), v.plaintext);
    });
    test(`${v.name}: encrypt reproduces enc`, async () => {
      const key = await importDataKey(raw(v.key));
      const enc = await encryptBody(v.secret, {
        key, kid: v.kid, docId: v.doc_id, docType: v.doc_type, caseId: v.case_id, iv: raw(v.iv),
      });
      assert.deepEqual(enc, v.enc);
    });
    test(`${v.name}: decrypt gives the secret`, async () => {
      const key = await importDataKey(raw(v.key));
      const secret = await decryptBody(v.enc, { key, docId: v.doc_id, docType: v.doc_type, caseId: v.case_id });
      assert.deepEqual(secret, v.secret);
    });
    test(`${v.name}: aad and a round trip with a random iv`, async () => {
      const key = await importDataKey(raw(v.key));
      const enc = await encryptBody(v.secret, { key, kid: v.kid, docId: v.doc_id, docType: v.doc_type, caseId: v.case_id });
      assert.notEqual(enc.iv, v.enc.iv);
      assert.deepEqual(await decryptBody(enc, { key, docId: v.doc_id, docType: v.doc_type, caseId: v.case_id }), v.secret);
      // The AAD really is the documented string: open the vector with it directly.
      const plain = await subtle.decrypt({ name: "AES-GCM", iv: raw(v.iv), additionalData: utf8.encode(v.aad) },
        key, raw(v.enc.ct));
      assert.equal(new TextDecoder().decode(plain), v.plaintext);
    });
  }
});

describe("device_keywrap", () => {
  for (const v of vectors.device_keywrap) {
    test(`${v.name}: unwrap gives the data key`, async () => {
      const devicePrivateKey = await importDevicePrivateKey(raw(v.device_private_key));
      const key = await unwrapKeyForDevice(v.envelope, { devicePrivateKey, deviceId: v.device_id });
      assert.equal(b64(key), v.data_key);
    });
    test(`${v.name}: X25519, HKDF and AES-GCM reproduce the envelope`, async () => {
      const ephemeral = await importDevicePrivateKey(raw(v.ephemeral_private_key));
      const peer = await subtle.importKey("raw", raw(v.device_public_key), { name: "X25519" }, false, []);
      const shared = await subtle.deriveBits({ name: "X25519", public: peer }, ephemeral, 256);
      assert.equal(b64(shared), v.shared_secret);
      assert.equal(v.info, `doorstep.keywrap.v1\n${v.device_id}\n${v.case_id}\n${v.kid}`);
      const ikm = await subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
      const wrapping = await subtle.deriveBits(
        { name: "HKDF", hash: "SHA-256", salt: raw(v.envelope.epk), info: utf8.encode(v.info) }, ikm, 256);
      assert.equal(b64(wrapping), v.wrapping_key);
      const aes = await subtle.importKey("raw", wrapping, "AES-GCM", false, ["encrypt"]);
      const ct = await subtle.encrypt({ name: "AES-GCM", iv: raw(v.iv), additionalData: utf8.encode(v.info) },
        aes, raw(v.data_key));
      assert.equal(b64(ct), v.envelope.ct);
    });
  }
});

describe("keystore", () => {
  for (const v of vectors.keystore) {
    const { n, r, p, salt, iv } = v.keystore;
    test(`${v.name}: lock reproduces the keystore`, async () => {
      const keystore = await lockPrivateKey(raw(v.private_key), {
        passphrase: v.passphrase, deviceId: v.device_id, n, r, p, salt: raw(salt), iv: raw(iv),
      });
      assert.deepEqual(keystore, v.keystore);
    });
    test(`${v.name}: unlock gives the private key`, async () => {
      const key = await unlockPrivateKey(v.keystore, { passphrase: v.passphrase, deviceId: v.device_id });
      assert.equal(b64(key), v.private_key);
    });
    test(`${v.name}: the NFKC passphrase bytes`, () => {
      assert.equal(b64(utf8.encode(v.passphrase.normalize("NFKC"))), v.passphrase_bytes);
    });
  }
});

describe("invalid", () => {
  for (const v of vectors.invalid) {
    if (v.kind === "keyring") continue; // server-only format: the tablet never sees it
    test(`${v.name} → ${v.error}`, async () => {
      const i = v.inputs;
      let call;
      if (v.kind === "body") {
        call = async () => decryptBody(i.enc, {
          key: await importDataKey(raw(i.key)), docId: i.doc_id, docType: i.doc_type, caseId: i.case_id,
        });
      } else if (v.kind === "device_keywrap") {
        call = async () => unwrapKeyForDevice(i.envelope, {
          devicePrivateKey: await importDevicePrivateKey(raw(i.device_private_key)), deviceId: i.device_id,
        });
      } else if (v.kind === "keystore") {
        call = () => unlockPrivateKey(i.keystore, { passphrase: i.passphrase, deviceId: i.device_id });
      } else {
        assert.fail(`unknown kind ${v.kind}`);
      }
      const expected = ERRORS[v.error];
      assert.ok(expected, `unknown error class ${v.error}`);
      await assert.rejects(call, (error) => {
        assert.ok(error instanceof expected, `${error?.constructor?.name}: ${error?.message}`);
        if (v.error === "DecryptionError") assert.ok(!(error instanceof WrongPassphrase));
        return true;
      });
    });
  }
});

// Beyond the vectors: the points where a port drifts from the Python implementation.
describe("parity with sync/_envelope.py", () => {
  const body = vectors.body[0];
  const open = async (enc) => decryptBody(enc, {
    key: await importDataKey(raw(body.key)), docId: body.doc_id, docType: body.doc_type, caseId: body.case_id,
  });

  test("only canonical base64 is accepted", async () => {
    const iv = body.enc.iv;
    for (const spelling of [` ${iv}`, iv.replace(/=*$/, "") + "\n", iv.slice(0, -1) + "u"]) {
      await assert.rejects(open({ ...body.enc, iv: spelling }), DecryptionError);
    }
    const bare = b64(raw(body.enc.ct)).replace(/=+$/, "");
    if (bare !== body.enc.ct) await assert.rejects(open({ ...body.enc, ct: bare }), DecryptionError);
    assert.throws(() => unb64("YR=="), DecryptionError); // stray bits in the last character
    assert.equal(b64(unb64("YQ==")), "YQ==");
  });

  test("the writer refuses what Python refuses, with Python's error classes", async () => {
    const key = await importDataKey(raw(body.key));
    const args = { key, kid: body.kid, docId: body.doc_id, docType: body.doc_type, caseId: body.case_id };
    await assert.rejects(encryptBody([1, 2], args), InvalidDocument);
    await assert.rejects(encryptBody({ x: NaN }, args), InvalidDocument);
    await assert.rejects(encryptBody({ x: "\ud800" }, args), InvalidDocument);
    await assert.rejects(encryptBody({ when: new Date(0) }, args), InvalidDocument);
    await assert.rejects(encryptBody({ ids: new Set(["a"]) }, args), InvalidDocument);
    await assert.rejects(encryptBody({}, { ...args, docId: "a\nb" }), InvalidDocument);
    await assert.rejects(encryptBody({}, { ...args, kid: "case:X#0" }), RemoteSyncError);
    await assert.rejects(encryptBody({}, { ...args, kid: "case:OTHER#1" }), LocalSyncError);
    await assert.rejects(encryptBody({}, { ...args, iv: new Uint8Array(16) }), LocalSyncError);
    assert.throws(() => importDataKey(new Uint8Array(16)), LocalSyncError);
  });

  test("keystores: empty passphrase, lone surrogates and out-of-bounds parameters", async () => {
    const v = vectors.keystore[0];
    const privateRaw = raw(v.private_key);
    const base = { deviceId: v.device_id, n: 1024, r: 8, p: 1 };
    await assert.rejects(lockPrivateKey(privateRaw, { ...base, passphrase: "" }), LocalSyncError);
    await assert.rejects(lockPrivateKey(privateRaw, { ...base, passphrase: "a\udc00b" }), LocalSyncError);
    await assert.rejects(lockPrivateKey(privateRaw, { ...base, passphrase: "x", n: 1000 }), LocalSyncError);
    await assert.rejects(lockPrivateKey(privateRaw, { ...base, passphrase: "x", n: 2 ** 22 }), LocalSyncError);
    await assert.rejects(lockPrivateKey(privateRaw.subarray(1), { ...base, passphrase: "x" }), LocalSyncError);
    await assert.rejects(unlockPrivateKey(v.keystore, { passphrase: "", deviceId: v.device_id }), WrongPassphrase);
    // A lone surrogate must not open the keystore of its U+FFFD replacement.
    const replaced = await lockPrivateKey(privateRaw, { ...base, passphrase: "a\ufffdb" });
    await assert.rejects(unlockPrivateKey(replaced, { passphrase: "a\udc00b", deviceId: v.device_id }), WrongPassphrase);
    // Parameters past Python's bounds (128·n·r ≤ 256 MiB) are a malformed keystore, refused
    // before any scrypt work.
    await assert.rejects(unlockPrivateKey({ ...v.keystore, n: 2 ** 21, r: 2 }, { passphrase: "x", deviceId: v.device_id }),
      (e) => e instanceof DecryptionError && !(e instanceof WrongPassphrase));
  });

  test("a low-order ephemeral key is refused", async () => {
    const v = vectors.device_keywrap[0];
    const devicePrivateKey = await importDevicePrivateKey(raw(v.device_private_key));
    const zero = b64(new Uint8Array(32)); // u = 0: a low-order point, the shared secret is all zeros
    await assert.rejects(unwrapKeyForDevice({ ...v.envelope, epk: zero }, { devicePrivateKey, deviceId: v.device_id }),
      DecryptionError);
  });

  test("a generated device key pair is 32 + 32 raw bytes and imports non-extractable", async () => {
    const { privateRaw, publicRaw } = await generateDeviceKeypair();
    assert.equal(privateRaw.length, 32);
    assert.equal(publicRaw.length, 32);
    const devicePrivateKey = await importDevicePrivateKey(privateRaw);
    assert.equal(devicePrivateKey.extractable, false);
  });
});
