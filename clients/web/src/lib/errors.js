// Failures the user must be told about, each with a message that says what happened and
// what to do. Messages never contain case content.

export class StorageFull extends Error {
  constructor(during = "save") {
    super(during === "sync"
      ? "This tablet has run out of storage space, so the latest records could not be downloaded. " +
        "Free up space (remove other apps' data or files), then sync again. Nothing you recorded has been lost."
      : "This tablet has run out of storage space, so this change was not saved. Your text is still in the form. " +
        "Sync to send your waiting changes, free up space (remove other apps' data or files), then save again.");
    this.code = "storage_full";
  }
}

export class DeviceWiped extends Error {
  constructor(reason = "device revoked") {
    super("This tablet's access was withdrawn by your council (" + reason + "). " +
      "All case data and keys on it have been erased. Sign in to enrol it again if you still need it.");
    this.code = "wiped";
  }
}

/** The council revoked this tablet (suspected compromise): it locks and keeps its data sealed. */
export class DeviceSuspended extends Error {
  constructor() {
    super("Your council has suspended this tablet's access. Everything on it is kept, encrypted, and stays locked " +
      "until an administrator re-admits the tablet (or orders it wiped). Contact your IT service desk.");
    this.code = "suspended";
  }
}

export class SignInExpired extends Error {
  constructor(reason = "token has expired") {
    super("This tablet's sign-in is no longer valid (" + reason + "). Your work is safe on the tablet; " +
      "sign in again to carry on syncing.");
    this.code = "expired";
  }
}

/** Erasing was refused: the tablet holds work the server has not received. */
export class UnsentWork extends Error {
  constructor({ records = [], forms = 0, count = 0 } = {}) {
    const parts = [];
    if (records.length) parts.push(`${records.length} record${records.length === 1 ? "" : "s"} not yet sent (or not accepted) by the server`);
    if (forms) parts.push(`${forms} form${forms === 1 ? "" : "s"} in progress`);
    super(`This tablet holds ${parts.join(" and ")}. Erasing it now would destroy ${count === 1 ? "it" : "them"} for good, ` +
      "so it has not been erased. Sync with a connection first to send your work.");
    this.code = "unsent_work";
    this.count = count;
    this.records = records;
    this.forms = forms;
  }
}

export class Offline extends Error {
  constructor() {
    super("No connection to the Doorstep server. Your changes are saved on this tablet and will be sent when you sync online.");
    this.code = "offline";
  }
}

export class EditConflict extends Error {
  constructor() {
    super("This record changed while you were editing it (perhaps after a sync). Reopen it to see the latest version, then make your change again.");
    this.code = "conflict";
  }
}

/** True for IndexedDB running out of space, however PouchDB wrapped it. */
export function isQuotaError(err) {
  for (let e = err, depth = 0; e && depth < 4; e = e.error || e.cause || e.originalError, depth++) {
    if (typeof e !== "object") break;
    if (e.name === "QuotaExceededError" || e.code === 22) return true;
    const text = `${e.message || ""} ${e.reason || ""}`;
    if (/quota/i.test(text)) return true;
  }
  return false;
}

/**
 * Whether this origin's storage is full. PouchDB reports a transaction that IndexedDB aborted
 * for lack of space only as "transaction was aborted", so ask the browser (estimate), and if
 * that is inconclusive try to store `bytes` of random data in a scratch database.
 */
export async function storageIsFull(bytes = 64 * 1024) {
  try {
    const { usage, quota } = await navigator.storage.estimate();
    if (quota && usage / quota > 0.98) return true;
  } catch { /* no estimate: probe */ }
  const size = Math.max(1024, Math.min(bytes, 4 * 1024 * 1024));
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(size, i + 65536)));
  const name = "doorstep-quota-probe";
  return new Promise((resolve) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("probe");
    req.onerror = () => resolve(req.error?.name === "QuotaExceededError");
    req.onsuccess = () => {
      const db = req.result;
      const done = (full) => { db.close(); indexedDB.deleteDatabase(name); resolve(full); };
      try {
        const txn = db.transaction("probe", "readwrite");
        txn.objectStore("probe").put(data, 1);
        txn.oncomplete = () => done(false);
        txn.onabort = () => done(txn.error?.name === "QuotaExceededError");
      } catch (err) {
        done(err?.name === "QuotaExceededError");
      }
    };
  });
}

/** True for a fetch that never reached the server. */
export function isNetworkError(err) {
  if (!err) return false;
  if (err instanceof TypeError) return true;
  const text = `${err.message || ""} ${err.reason || ""} ${err.name || ""}`;
  return /failed to fetch|networkerror|network request failed|load failed|ERR_INTERNET_DISCONNECTED/i.test(text)
    || (err.status === 0) || (typeof navigator !== "undefined" && navigator.onLine === false);
}

const FIELD = (path) => path.split(/[./]/).filter((p) => p && !/^\d+$/.test(p))
  .map((p) => p.replace(/_/g, " ")).join(" › ").replace(/^./, (c) => c.toUpperCase());

/** The server's reason for refusing a record, in plain words where we recognise it. */
export function explainRefusal(reason = "") {
  let m = /^(\S+) breaks maxLength=(\d+)$/.exec(reason);
  if (m) return `${FIELD(m[1])} is longer than the ${Number(m[2]).toLocaleString("en-GB")} characters allowed.`;
  m = /^(\S+) breaks (\w+)/.exec(reason);
  if (m) return `${FIELD(m[1])} is not in the form the council's records need (${m[2]}).`;
  if (/outside your caseload/.test(reason)) return "This case is no longer allocated to you, so the server cannot take changes to it from this tablet.";
  if (/signed.off|cannot move a visit/.test(reason)) return "The visit had already moved on (for example, it was signed off) when this change arrived.";
  return `The server said: ${reason}.`;
}
