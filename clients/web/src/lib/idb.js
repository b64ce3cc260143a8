// A tiny promise wrapper over one IndexedDB object store, for the device record (keystore,
// sealed device token, who enrolled). Case data never goes here: it lives in the PouchDB replica.
const DB_NAME = "doorstep-device";
const STORE = "device";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opening;
function open() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => {
      const db = req.result;
      // Another tab deleting the database (a wipe) must not be blocked by this handle.
      db.onversionchange = () => { db.close(); opening = undefined; };
      resolve(db);
    };
    req.onerror = () => { opening = undefined; reject(req.error); };
    req.onblocked = () => { opening = undefined; reject(new Error("device store is blocked by another tab")); };
  });
  return opening;
}

async function tx(mode, fn) {
  const db = await open();
  const t = db.transaction(STORE, mode);
  const done = new Promise((resolve, reject) => {
    t.oncomplete = () => resolve();
    t.onabort = t.onerror = () => reject(t.error);
  });
  const result = await fn(t.objectStore(STORE));
  await done;
  return result;
}

export const idbGet = (key) => tx("readonly", (s) => request(s.get(key)));
export const idbSet = (key, value) => tx("readwrite", (s) => request(s.put(value, key)));
export const idbDelete = (key) => tx("readwrite", (s) => request(s.delete(key)));

/** Delete the whole device database (part of a wipe). */
export async function idbDestroy() {
  if (opening) {
    try { (await opening).close(); } catch { /* already gone */ }
    opening = undefined;
  }
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}
