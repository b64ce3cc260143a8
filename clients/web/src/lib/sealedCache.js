// What the server tells the user about their work (the "For your attention" list) and the names
// of the people they work with (the directory), kept on the tablet so they read offline: each in
// a `_local/doorstep-cache/<name>` document of the replica, sealed with AES-256-GCM under a key
// derived from the device private key (lib/device.js), so readable only while unlocked.
import { b64, unb64 } from "../envelope.js";

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const aad = (name) => utf8.encode(`doorstep.cache.v1\n${name}`);
const docId = (name) => `_local/doorstep-cache/${name}`;

export async function cacheWrite(replica, key, name, value) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(name) }, key, utf8.encode(JSON.stringify(value)));
  await replica.writeLocal(docId(name), { iv: b64(iv), ct: b64(ct) });
}

/** The value last written under `name`, or `fallback` (absent, or sealed under another key). */
export async function cacheRead(replica, key, name, fallback = null) {
  const doc = await replica.readLocal(docId(name));
  if (!doc) return fallback;
  try {
    const plain = await subtle.decrypt({ name: "AES-GCM", iv: unb64(doc.iv, 12), additionalData: aad(name) }, key, unb64(doc.ct));
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return fallback;
  }
}
