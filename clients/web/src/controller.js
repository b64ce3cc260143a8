// What the screens ask for: sign in, enrol, unlock, lock, sync, save visits, renew the device
// token, erase. Holds the unlocked session (device key, case keys, device token) in memory only.
import PouchDB from "pouchdb-core";
import { WrongPassphrase } from "./envelope.js";
import { login, logout, api } from "./lib/api.js";
import { Autosaves } from "./lib/autosave.js";
import { correctedNow, deviceNow, setClockOffset } from "./lib/clock.js";
import { checkin, enrol, forgetEnrolment, loadEnrolment, renewToken, saveEnrolment, unlock } from "./lib/device.js";
import { DeviceSuspended, DeviceWiped, Offline, SignInExpired, UnsentWork } from "./lib/errors.js";
import { idbDestroy } from "./lib/idb.js";
import { learnDatabaseVersions } from "./lib/idbVersion.js";
import { cacheRead, cacheWrite } from "./lib/sealedCache.js";
import { setDirectory } from "./lib/directory.js";
import { Replica } from "./lib/replica.js";
import { Vault } from "./lib/vault.js";
import { recordPerf } from "./lib/perf.js";
import { ulid, newId } from "./lib/ulid.js";
import { getState, setState } from "./store.js";
import workflow from "../../../schemas/workflow.json" with { type: "json" };

let session = null; // {record, vault, replica, autosaves, token, tokenKey}
const REVIEW_KEY = "doorstep.review";
const SETTINGS_KEY = "doorstep.settings";
const AUTO_SYNC_MS = 60_000;
const DEFAULT_IDLE_LOCK_MINUTES = 15;

export const currentSession = () => session;

const publicRecord = (r) => r && ({
  deviceId: r.deviceId, deviceName: r.deviceName, username: r.username, user: r.user, enrolledAt: r.enrolledAt,
  suspendedAt: r.suspendedAt || null,
});

export function notify(kind, text) {
  setState({ notice: text ? { kind, text, at: Date.now() } : null });
}

function setSync(patch) {
  setState((s) => ({ sync: { ...s.sync, ...patch } }));
}

async function publishSyncState() {
  if (!session) return;
  const st = await session.replica.loadState();
  setSync({
    lastSyncedAt: st.lastSyncedAt,
    lastAttemptAt: st.lastAttemptAt,
    lastDurationMs: st.lastDurationMs,
    pending: Object.keys(st.pending).length,
    pendingIds: Object.keys(st.pending),
    refused: { ...st.refused },
    merges: [...st.merges],
    lastError: st.lastError,
  });
}

const bumpData = () => setState((s) => ({ dataVersion: s.dataVersion + 1 }));

// -- the council's settings (GET /api/tablet/settings/, kept for offline starts) --------------------
function cachedSettings() {
  try { return JSON.parse(localStorage.getItem(SETTINGS_KEY) || "null") || {}; } catch { return {}; }
}

export const idleLockMinutes = () => {
  const minutes = Number(cachedSettings().idle_lock_minutes);
  return Number.isFinite(minutes) && minutes > 0 ? minutes : DEFAULT_IDLE_LOCK_MINUTES;
};

async function refreshSettings() {
  try {
    const settings = await api("tablet/settings/");
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  } catch { /* offline: the cached (or default) settings stand */ }
}

// -- start-up ---------------------------------------------------------------------------------
export async function boot() {
  refreshSettings(); // in the background: a slow connection must not hold up opening the app
  addEventListener("online", () => { setState({ online: true }); if (session) sync(); });
  addEventListener("offline", () => {
    setState({ online: false });
    if (session) setSync({ status: "offline", message: new Offline().message });
  });
  setInterval(() => { if (session && navigator.onLine) sync({ quiet: true }); }, AUTO_SYNC_MS);
  watchIdle();
  const record = await loadEnrolment().catch(() => null);
  if (record) {
    setState({ phase: "unlock", enrolment: publicRecord(record) });
    return;
  }
  const review = readReviewSession();
  if (review) {
    setState({ phase: "supervisor", user: review.user });
    return;
  }
  setState({ phase: "signin" });
}

// -- sign-in and enrolment ---------------------------------------------------------------------
export async function signIn(username, password) {
  const res = await login(username.trim(), password);
  if (res.user.role === "practitioner") {
    const existing = await loadEnrolment().catch(() => null);
    if (existing) {
      logout(res.token);
      const mine = existing.username === username.trim();
      const error = new Error(mine
        ? "This tablet is already set up for you. Go back and unlock it with your passphrase."
        : `This tablet is set up for ${existing.user?.first_name || existing.username}. It must be erased on the unlock screen before you can set it up.`);
      error.status = 409;
      throw error;
    }
    setState({ phase: "enrol", signIn: { token: res.token, user: res.user, username: username.trim() } });
  } else {
    sessionStorage.setItem(REVIEW_KEY, JSON.stringify({ token: res.token, user: res.user, expires_at: res.expires_at }));
    setState({ phase: "supervisor", user: res.user });
    location.hash = "#/";
  }
}

export function cancelEnrol() {
  const pending = getState().signIn;
  if (pending) logout(pending.token);
  setState({ phase: "signin", signIn: null });
}

export async function enrolTablet({ passphrase, deviceName }) {
  const pending = getState().signIn;
  if (!pending) throw new Error("Sign in first.");
  const unlocked = await enrol({ userToken: pending.token, user: pending.user, username: pending.username, passphrase, deviceName });
  logout(pending.token);
  setState({ signIn: null });
  await startSession(unlocked.record, unlocked);
  location.hash = "#/";
  sync();
}

export async function unlockTablet(passphrase) {
  const record = await loadEnrolment();
  if (!record) { setState({ phase: "signin" }); return; }
  const started = performance.now();
  const unlocked = await unlock(record, passphrase); // WrongPassphrase propagates to the screen
  recordPerf("unlock-keystore", performance.now() - started);
  await startSession(record, unlocked, started);
  recordPerf("unlock", performance.now() - started);
  if (navigator.onLine) sync();
}

export { WrongPassphrase };

async function startSession(record, { devicePrivateKey, tokenKey, cacheKey, token }, started = performance.now()) {
  const vault = new Vault({ devicePrivateKey, deviceId: record.deviceId });
  await learnDatabaseVersions(); // before PouchDB opens the replica: see lib/idbVersion.js
  const replica = new Replica({
    name: record.replica,
    getToken: () => session?.token,
    onEnvelope: (doc) => vault.receiveEnvelope(doc),
    onPurge: (caseId) => vault.forgetCase(caseId),
  });
  session = { record, vault, replica, autosaves: new Autosaves({ replica, vault }), token, tokenKey, cacheKey };
  setDirectory(await cacheRead(replica, cacheKey, "directory"));
  setState({ attention: (await cacheRead(replica, cacheKey, "attention", { items: [] })).items });
  setClockOffset((await replica.loadState()).clock);
  // Unwrap every case key at once (WebCrypto works in parallel); a bad envelope only means
  // that case reads as locked.
  await Promise.all((await replica.envelopes()).map((doc) => vault.receiveEnvelope(doc).catch(() => {})));
  recordPerf("unlock-envelopes", performance.now() - started);
  await replica.refreshIndex();
  recordPerf("unlock-index", performance.now() - started);
  await publishSyncState();
  setState({
    phase: "ready",
    enrolment: publicRecord(record),
    user: record.user,
    sync: { ...getState().sync, status: navigator.onLine ? "idle" : "offline", message: "" },
  });
  bumpData();
  askPersistentStorage();
}

/** Ask the browser not to evict this tablet's data, and say whether it agreed (Sync page). */
async function askPersistentStorage() {
  const storage = navigator.storage;
  if (!storage?.persist) { setState({ storagePersisted: "unsupported" }); return; }
  let persisted = await storage.persisted().catch(() => false);
  if (!persisted) persisted = await storage.persist().catch(() => false);
  setState({ storagePersisted: persisted ? "granted" : "refused" });
}

// -- locking: forms in progress are sealed first, and come back as they were after unlocking --------
const flushers = new Set(); // () => Promise: seal the form in progress now
const resumeAfterLock = new Set(); // autosave keys a lock interrupted (memory only)

/** A screen with a form in progress registers how to seal it; returns the unregister function. */
export function onLockFlush(flush) {
  flushers.add(flush);
  return () => flushers.delete(flush);
}

/** Whether the form `key` was open when the tablet locked (then it is restored without asking). */
export const takeResumeAfterLock = (key) => resumeAfterLock.delete(key);

/** The user chose "Restore" for the form `key` elsewhere (the caseload): open it restored. */
export const restoreOnOpen = (key) => { resumeAfterLock.add(key); };

export async function lock({ idle = false } = {}) {
  if (!session) return;
  for (const flush of [...flushers]) {
    try {
      const key = await flush();
      if (key) resumeAfterLock.add(key);
    } catch { /* the last autosave (within a second of typing) stands */ }
  }
  const { vault, replica } = session;
  session = null;
  vault.clear();
  await replica.close();
  setState({ phase: "unlock", notice: null });
  if (idle) {
    const minutes = idleLockMinutes();
    notify("info", `Locked after ${minutes} minute${minutes === 1 ? "" : "s"} without use. Anything you were typing is kept: unlock to carry on where you were.`);
  }
}

function watchIdle() {
  let last = Date.now();
  const touch = () => { last = Date.now(); };
  for (const ev of ["pointerdown", "keydown", "touchstart", "input"]) addEventListener(ev, touch, { passive: true, capture: true });
  setInterval(() => {
    if (session && Date.now() - last > idleLockMinutes() * 60_000 && !getState().sync.status.startsWith("sync")) {
      last = Date.now();
      lock({ idle: true });
    }
  }, 10_000);
}

// -- sync --------------------------------------------------------------------------------------
let syncTimer = null;
export function syncSoon() {
  clearTimeout(syncTimer);
  syncTimer = setTimeout(() => { if (session && navigator.onLine) sync({ quiet: true }); }, 1500);
}

export async function sync({ quiet = false } = {}) {
  if (!session) return null;
  if (!navigator.onLine) {
    setSync({ status: "offline", message: new Offline().message });
    return null;
  }
  if (getState().sync.status === "expired" && quiet) return null;
  setSync({ status: "syncing", message: "", progress: { phase: "push", done: 0 } });
  const replica = session.replica;
  try {
    const started = performance.now();
    const checked = await checkinNow(replica);
    const summary = await replica.sync({ onProgress: (p) => setSync({ progress: p }) });
    recordPerf("sync", performance.now() - started, {
      pushed: summary.pushed, pulled: summary.pulled, pushMs: summary.pushMs, pullMs: summary.pullMs, indexMs: summary.indexMs,
    });
    if (session?.replica !== replica) return null;
    const parts = [];
    if (summary.pushed) parts.push(`${summary.pushed} sent`);
    if (summary.pulled) parts.push(`${summary.pulled} received`);
    if (summary.merged.length) parts.push(`${summary.merged.length} merged with other edits`);
    if (summary.refused.length) parts.push(`${summary.refused.length} not accepted`);
    if (summary.purged.length) parts.push(`${summary.purged.length} case${summary.purged.length > 1 ? "s" : ""} removed (no longer allocated to you)`);
    setClockOffset((await replica.loadState()).clock);
    if (checked?.instruction === "send_then_erase") {
      await retireNow();
      if (session?.replica !== replica) return summary; // erased
    } else {
      await refreshAttention(replica);
    }
    // Screens reload before the status says "synced", so what it reports is on screen.
    await publishSyncState();
    bumpData();
    setSync({ status: "idle", progress: null, message: parts.length ? `Synced: ${parts.join(", ")}.` : "Synced: everything is up to date." });
    if (summary.refused.length) notify("error", `The server did not accept ${summary.refused.length} change${summary.refused.length > 1 ? "s" : ""}. They are kept on this tablet; see Sync for why.`);
    return summary;
  } catch (err) {
    if (err instanceof DeviceWiped) {
      await wipe(err.message);
      return null;
    }
    if (err instanceof DeviceSuspended) {
      await suspend();
      return null;
    }
    const status = err instanceof SignInExpired ? "expired" : err instanceof Offline ? "offline" : "error";
    if (session?.replica === replica) await publishSyncState();
    setSync({ status, progress: null, message: err.message });
    if (status === "error" && err.code === "storage_full") notify("error", err.message);
    return null;
  } finally {
    if (session?.replica === replica) bumpData();
  }
}

// -- what the server tells the user: the attention list and the names of colleagues ------------------
/** Fetch the "For your attention" list and the directory, send dismissals made offline, and keep
 * both sealed for offline reading. A failure leaves the last copy in place. */
async function refreshAttention(replica) {
  const { token, cacheKey } = session;
  const kept = await cacheRead(replica, cacheKey, "attention", { items: [], dismissed: [] });
  const stillToSend = [];
  for (const id of kept.dismissed || []) {
    await api(`attention/${encodeURIComponent(id)}/dismiss/`, { method: "POST", token })
      .catch((err) => { if (err.status !== 404) stillToSend.push(id); });
  }
  try {
    const [attention, directory] = await Promise.all([api("attention/", { token }), api("directory/", { token })]);
    const items = attention.results.filter((item) => !stillToSend.includes(item.id));
    await cacheWrite(replica, cacheKey, "attention", { items, dismissed: stillToSend });
    await cacheWrite(replica, cacheKey, "directory", directory);
    setDirectory(directory);
    if (session?.replica === replica) setState({ attention: items });
  } catch {
    await cacheWrite(replica, cacheKey, "attention", { ...kept, dismissed: stillToSend });
  }
}

/** Dismiss an item of the attention list: at once on the tablet, on the server now or at the next sync. */
export async function dismissAttention(id) {
  if (!session) return;
  const { replica, cacheKey, token } = session;
  const kept = await cacheRead(replica, cacheKey, "attention", { items: [], dismissed: [] });
  const items = kept.items.filter((item) => item.id !== id);
  let sent = false;
  if (navigator.onLine) {
    sent = await api(`attention/${encodeURIComponent(id)}/dismiss/`, { method: "POST", token }).then(() => true, (err) => err.status === 404);
  }
  await cacheWrite(replica, cacheKey, "attention", { items, dismissed: sent ? kept.dismissed || [] : [...(kept.dismissed || []), id] });
  setState({ attention: items });
}

// -- the device's lifecycle, as the server tells it at each checkin -----------------------------
/** Check in before syncing: learns the status, the instruction and the server's clock. A failing
 * checkin other than for authorisation or the network does not stop the sync itself. */
async function checkinNow(replica) {
  const { count } = await replica.unsent();
  let answer;
  try {
    answer = await checkin({ token: session.token, unsent: count });
  } catch (err) {
    if (err.status === 401 && err.wipe) throw new DeviceWiped(err.message);
    if (err.status === 401 && err.lock) throw new DeviceSuspended();
    if (err.status === 401) throw new SignInExpired(err.message);
    if (err.offline) throw new Offline();
    return null;
  }
  if (answer) {
    replica.noteServerTime(answer.server_time, answer.sentAt, answer.receivedAt);
    setState({ deviceStatus: answer.status });
  }
  return answer;
}

/** The council is retiring this tablet: once everything has reached the server, erase it and
 * confirm; until then say what is holding it back (records the server refused, forms in progress). */
async function retireNow() {
  const unsent = await session.replica.unsent();
  if (unsent.count) {
    setState({ retiring: unsent });
    return;
  }
  setState({ retiring: null });
  await erase("Your council has retired this tablet. Everything recorded on it reached the server first; its copy of " +
    "your caseload and its keys have now been erased, and the council has been told. Your work is safe on the server.",
  { confirmWith: session.token, title: "This tablet has been retired" });
}

/** The council revoked this tablet: lock at once, keep everything sealed, and remember it. */
async function suspend() {
  const record = { ...session.record, suspendedAt: new Date().toISOString() };
  await saveEnrolment(record);
  await lock();
  setState({ enrolment: publicRecord(record) }); // the unlock screen now says why, and what next
}

/**
 * After an administrator re-admitted a suspended tablet: open the keystore with the passphrase,
 * sign in with the password for a new device token, and carry on. Raises WrongPassphrase, or an
 * ApiError (wrong password; `code` "not_readmitted" while the council has not re-admitted it).
 */
export async function readmitTablet({ passphrase, password }) {
  const record = await loadEnrolment();
  const unlocked = await unlock(record, passphrase);
  let renewed;
  try {
    renewed = await renewToken({ record, tokenKey: unlocked.tokenKey, password });
  } catch (err) {
    if (err.status === 403 || err.status === 409 || err.code === "device_revoked") err.code = "not_readmitted";
    throw err;
  }
  const { suspendedAt: _, ...readmitted } = renewed.record;
  await saveEnrolment(readmitted);
  await startSession(readmitted, { ...unlocked, token: renewed.token });
  if (navigator.onLine) sync();
}

export async function renewDeviceToken(password) {
  if (!session) throw new Error("Unlock the tablet first.");
  const { record, token } = await renewToken({ record: session.record, tokenKey: session.tokenKey, password });
  session.record = record;
  session.token = token;
  setSync({ status: "idle", message: "Signed in again." });
  await sync();
}

// -- erasing ----------------------------------------------------------------------------------------
/** Erase the replica (forms in progress with it), the keystore and the device record; keys in
 * memory are dropped. With `confirmWith` (the device token), tell the server it was done
 * (`POST /api/devices/wiped/`), so the device shows as wiped. */
async function erase(reason, { confirmWith = null, title = null } = {}) {
  const record = session?.record || (await loadEnrolment().catch(() => null));
  if (session) {
    session.vault.clear();
    await session.replica.destroy();
    session = null;
  } else if (record) {
    await learnDatabaseVersions();
    await new PouchDB(record.replica, { adapter: "indexeddb" }).destroy().catch(() => {});
  }
  await forgetEnrolment().catch(() => {});
  await idbDestroy();
  resumeAfterLock.clear();
  sessionStorage.removeItem(REVIEW_KEY);
  if (confirmWith) await api("devices/wiped/", { method: "POST", token: confirmWith }).catch(() => null);
  setState({ phase: "wiped", wipedReason: reason, wipedTitle: title, enrolment: null, user: null, notice: null, retiring: null,
    sync: { status: "idle", message: "", progress: null, lastSyncedAt: null, pending: 0, refused: {}, merges: [], lastError: null } });
  location.hash = "#/";
}

/** The council ordered this tablet wiped (lost or stolen): erase at once and confirm. */
export const wipe = (reason) => erase(reason, { confirmWith: session?.token || null });

/** What this tablet holds that the server does not ({records, forms, count}); works locked too. */
export async function unsentOnTablet() {
  if (session) return session.replica.unsent();
  const record = await loadEnrolment().catch(() => null);
  if (!record) return { records: [], forms: 0, count: 0 };
  await learnDatabaseVersions();
  return Replica.peekUnsent(record.replica);
}

/** Erase at the user's request; refused with UnsentWork while anything has not reached the server. */
export async function eraseTablet(reason) {
  const unsent = await unsentOnTablet();
  if (unsent.count) throw new UnsentWork(unsent);
  await erase(reason);
}

/**
 * Discard the `expected` unsent records and erase, as the user explicitly chose: the decision is
 * written to the council's audit trail first (`POST /api/tablet/discard-unsent/`, with the device
 * token when unlocked, else after signing in with `password`), so nothing unsent is destroyed
 * unrecorded. Offline, or if the count changed meanwhile, nothing is erased.
 */
export async function discardUnsentAndErase({ expected, password = null }) {
  const unsent = await unsentOnTablet();
  if (unsent.count !== expected) {
    throw new Error(`The number of records not yet sent has changed (it is now ${unsent.count}). Nothing was erased; check and try again.`);
  }
  const record = session?.record || (await loadEnrolment());
  const body = {
    device: record.devicePk, count: unsent.count, records: unsent.records.slice(0, 1000),
    reason: session ? "erase" : "forgotten_passphrase",
  };
  if (session) {
    await api("tablet/discard-unsent/", { method: "POST", token: session.token, body });
  } else {
    const signedIn = await login(record.username, password);
    try {
      await api("tablet/discard-unsent/", { method: "POST", token: signedIn.token, body });
    } finally {
      await logout(signedIn.token);
    }
  }
  const n = unsent.count;
  await erase(`You discarded ${n} unsent record${n === 1 ? "" : "s"} and erased this tablet's copy of your caseload and its keys; ` +
    "the council's audit trail records your decision. Sign in to set the tablet up again.");
}

// -- records ---------------------------------------------------------------------------------------
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const OPTIONAL_ENUMS = ["risk_level"];

/**
 * Save a visit locally. `base` is the content the form was opened with (null for a new visit)
 * and `baseRev` its revision: if the record changed underneath (a sync), only the fields this
 * form changed are applied on top of the newer revision. With `submit`, the visit moves to
 * submitted with a submit transition by this user. Returns the visit id.
 */
export async function saveVisit({ caseId, visitId, base, baseRev, fields, submit = false }) {
  if (!session) throw new Error("The tablet is locked.");
  const { vault, replica, record } = session;
  const me = record.user.ref;
  // Edit times by the server's clock (lib/clock.js); the tablet's own reading is kept beside them.
  const now = correctedNow();
  const id = visitId || newId("visit");
  const current = visitId ? await replica.get(visitId) : null;
  let content;
  if (!current) {
    content = { author: me, created_at: now, status: workflow.initial_status.visit, transitions: [], ...fields };
  } else {
    const latest = await vault.open(current);
    if (latest.status === workflow.final_status) throw new Error("This visit has been signed off, so it can no longer be changed.");
    if (current._rev === baseRev) content = { ...latest, ...fields };
    else {
      content = { ...latest };
      for (const [k, v] of Object.entries(fields)) if (!same(v, base?.[k])) content[k] = v;
    }
  }
  for (const k of OPTIONAL_ENUMS) if (!content[k]) delete content[k];
  content.updated_at = now;
  content.updated_at_device = deviceNow();
  content.updated_by = me;
  if (submit) {
    content.status = workflow.moves.submit.to;
    content[workflow.moves.submit.stamps] = now;
    content.transitions = [...(content.transitions || []), { id: `t-${ulid()}`, action: "submit", by: me, at: now }];
  }
  const sealed = await vault.seal({ _id: id, type: "visit", case_id: caseId }, content);
  if (current) sealed._rev = current._rev;
  await replica.save(sealed);
  await publishSyncState();
  bumpData();
  syncSoon();
  return id;
}

// -- supervisor (REST, online) -----------------------------------------------------------------------
export function readReviewSession() {
  try {
    const value = JSON.parse(sessionStorage.getItem(REVIEW_KEY) || "null");
    if (value && value.expires_at && new Date(value.expires_at) < new Date()) return null;
    return value;
  } catch {
    return null;
  }
}

export function reviewApi(path, options = {}) {
  const review = readReviewSession();
  if (!review) {
    setState({ phase: "signin", user: null });
    return Promise.reject(new Error("Your session has ended. Sign in again."));
  }
  return api(path, { ...options, token: review.token }).catch((err) => {
    if (err.status === 401) {
      sessionStorage.removeItem(REVIEW_KEY);
      setState({ phase: "signin", user: null });
      notify("error", "Your session has ended. Sign in again.");
    }
    throw err;
  });
}

export async function signOut() {
  const review = readReviewSession();
  sessionStorage.removeItem(REVIEW_KEY);
  if (review) await logout(review.token);
  const record = await loadEnrolment().catch(() => null);
  setState({ phase: record ? "unlock" : "signin", user: null, notice: null });
  location.hash = "#/";
}
