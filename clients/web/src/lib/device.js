// This tablet's enrolment: the X25519 key pair (private key only ever stored locked under the
// user's passphrase), the device token (stored sealed under a key derived from the private key,
// so a lost tablet gives up neither), and the record of who enrolled it.
import {
  b64, unb64, generateDeviceKeypair, importDevicePrivateKey, lockPrivateKey, unlockPrivateKey,
} from "../envelope.js";
import { api, login, logout } from "./api.js";
import { idbDelete, idbGet, idbSet } from "./idb.js";

const RECORD = "enrolment";
const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
export const MIN_PASSPHRASE = 10;
export const APP_VERSION = typeof __APP_VERSION__ === "string" ? `web-${__APP_VERSION__}` : "web-dev";

export const loadEnrolment = () => idbGet(RECORD);
export const saveEnrolment = (record) => idbSet(RECORD, record);
export const forgetEnrolment = () => idbDelete(RECORD);

/** Key that seals the device token at rest: HKDF-SHA256 of the raw private key. */
async function deriveTokenKey(privateRaw, deviceId) {
  const ikm = await subtle.importKey("raw", privateRaw, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode(`doorstep.devicetoken.v1\n${deviceId}`) },
    ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  );
}

/** Key that seals what the server sends about the user (attention list, directory of names) in
 * the tablet's cache: HKDF-SHA256 of the raw private key, under its own label. */
function deriveCacheKey(privateRaw, deviceId) {
  return subtle.importKey("raw", privateRaw, "HKDF", false, ["deriveKey"]).then((ikm) => subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode(`doorstep.localcache.v1\n${deviceId}`) },
    ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  ));
}

export async function sealToken(tokenKey, token) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await subtle.encrypt({ name: "AES-GCM", iv }, tokenKey, utf8.encode(token));
  return { iv: b64(iv), ct: b64(ct) };
}

async function openToken(tokenKey, box) {
  const plain = await subtle.decrypt({ name: "AES-GCM", iv: unb64(box.iv, 12) }, tokenKey, unb64(box.ct));
  return new TextDecoder().decode(plain);
}

const replicaName = (deviceId) => `doorstep-${deviceId.replace(/[^A-Za-z0-9]/g, "")}`;

/**
 * Enrol this tablet for a signed-in practitioner: make the key pair, register the public key
 * (POST /api/devices/), lock the private key under `passphrase`, store the record.
 * Returns the unlocked session. Raises ApiError from the server.
 */
export async function enrol({ userToken, user, username, passphrase, deviceName }) {
  const { privateRaw, publicRaw } = await generateDeviceKeypair();
  try {
    const created = await api("devices/", {
      method: "POST",
      token: userToken,
      body: { name: deviceName, public_key: b64(publicRaw), app_version: APP_VERSION },
    });
    const deviceId = created.device.id;
    const keystore = await lockPrivateKey(privateRaw, { passphrase, deviceId });
    const tokenKey = await deriveTokenKey(privateRaw, deviceId);
    const devicePrivateKey = await importDevicePrivateKey(privateRaw);
    const record = {
      v: 1,
      deviceId,
      devicePk: created.device.pk,
      deviceName,
      username,
      user: { id: user.id, ref: user.ref, first_name: user.first_name, last_name: user.last_name, role: user.role, job_title: user.job_title },
      keystore,
      tokenBox: await sealToken(tokenKey, created.token),
      tokenExpiresAt: created.expires_at,
      enrolledAt: new Date().toISOString(),
      replica: replicaName(deviceId),
    };
    await saveEnrolment(record);
    const cacheKey = await deriveCacheKey(privateRaw, deviceId);
    return { record, devicePrivateKey, tokenKey, cacheKey, token: created.token };
  } finally {
    privateRaw.fill(0);
  }
}

/** Open the keystore with the passphrase. Raises WrongPassphrase (from envelope.js). */
export async function unlock(record, passphrase) {
  const privateRaw = await unlockPrivateKey(record.keystore, { passphrase, deviceId: record.deviceId });
  try {
    const tokenKey = await deriveTokenKey(privateRaw, record.deviceId);
    const devicePrivateKey = await importDevicePrivateKey(privateRaw);
    const token = await openToken(tokenKey, record.tokenBox);
    const cacheKey = await deriveCacheKey(privateRaw, record.deviceId);
    return { devicePrivateKey, tokenKey, cacheKey, token };
  } finally {
    privateRaw.fill(0);
  }
}

/**
 * Tell the server this tablet is here, at the start of a sync (`POST /api/devices/me/checkin/`):
 * how much it holds unsent; the answer gives its status, what it must do (`instruction`) and the
 * server's clock, with the device times the exchange took. Null from a server without it.
 * Raises ApiError (401: revoked, wipe ordered, or the token expired).
 */
export async function checkin({ token, unsent }) {
  const sentAt = Date.now();
  try {
    const answer = await api("devices/me/checkin/", {
      method: "POST", token, body: { unsent, client_time: new Date(sentAt).toISOString() },
    });
    return { ...answer, sentAt, receivedAt: Date.now() };
  } catch (err) {
    if (err.status === 404 || err.status === 405) return null;
    throw err;
  }
}

/** After the device token expired: sign in again and get a fresh token for this device. */
export async function renewToken({ record, tokenKey, password }) {
  const session = await login(record.username, password);
  try {
    const renewed = await api(`devices/${record.devicePk}/token/`, { method: "POST", token: session.token });
    const updated = { ...record, tokenBox: await sealToken(tokenKey, renewed.token), tokenExpiresAt: renewed.expires_at };
    await saveEnrolment(updated);
    return { record: updated, token: renewed.token };
  } finally {
    await logout(session.token);
  }
}
