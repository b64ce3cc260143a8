// What the screens ask for: sign in, enrol, unlock, lock, sync, save visits, renew the device
// token, wipe. Holds the unlocked session (device key, case keys, device token) in memory only.
import PouchDB from "pouchdb-core";
import { WrongPassphrase } from "./envelope.js";
import { login, logout, api } from "./lib/api.js";
import { enrol, forgetEnrolment, loadEnrolment, renewToken, unlock } from "./lib/device.js";
import { DeviceWiped, Offline, SignInExpired } from "./lib/errors.js";
import { idbDestroy } from "./lib/idb.js";
import { Replica } from "./lib/replica.js";
import { Vault } from "./lib/vault.js";
import { nowIso } from "./lib/dates.js";
import { recordPerf } from "./lib/perf.js";
import { ulid, newId } from "./lib/ulid.js";
import { getState, setState } from "./store.js";

let session = null; // {record, vault, replica, token, tokenKey}
const REVIEW_KEY = "doorstep.review";
const AUTO_SYNC_MS = 60_000;
const IDLE_LOCK_MS = 15 * 60_000;

export const currentSession = () => session;

const publicRecord = (r) => r && ({
  deviceId: r.deviceId, deviceName: r.deviceName, username: r.username, user: r.user, enrolledAt: r.enrolledAt,
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

// -- start-up ---------------------------------------------------------------------------------
export async function boot() {
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
  navigator.storage?.persist?.().catch(() => {});
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

async function startSession(record, { devicePrivateKey, tokenKey, token }, started = performance.now()) {
  const vault = new Vault({ devicePrivateKey, deviceId: record.deviceId });
  const replica = new Replica({
    name: record.replica,
    getToken: () => session?.token,
    onEnvelope: (doc) => vault.receiveEnvelope(doc),
    onPurge: (caseId) => vault.forgetCase(caseId),
  });
  session = { record, vault, replica, token, tokenKey };
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
}

export async function lock() {
  if (!session) return;
  const { vault, replica } = session;
  session = null;
  vault.clear();
  await replica.close();
  setState({ phase: "unlock", notice: null });
}

function watchIdle() {
  let last = Date.now();
  const touch = () => { last = Date.now(); };
  for (const ev of ["pointerdown", "keydown", "touchstart"]) addEventListener(ev, touch, { passive: true });
  setInterval(() => {
    if (session && Date.now() - last > IDLE_LOCK_MS && !getState().sync.status.startsWith("sync")) {
      dispatchEvent(new CustomEvent("doorstep:before-lock"));
      setTimeout(() => lock().then(() => notify("info", "Locked after 15 minutes without use. Your drafts are saved.")), 500);
    }
  }, 30_000);
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
    await publishSyncState();
    setSync({ status: "idle", progress: null, message: parts.length ? `Synced: ${parts.join(", ")}.` : "Synced: everything is up to date." });
    if (summary.refused.length) notify("error", `The server did not accept ${summary.refused.length} change${summary.refused.length > 1 ? "s" : ""}. They are kept on this tablet; see Sync for why.`);
    return summary;
  } catch (err) {
    if (err instanceof DeviceWiped) {
      await wipe(err.message);
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

export async function renewDeviceToken(password) {
  if (!session) throw new Error("Unlock the tablet first.");
  const { record, token } = await renewToken({ record: session.record, tokenKey: session.tokenKey, password });
  session.record = record;
  session.token = token;
  setSync({ status: "idle", message: "Signed in again." });
  await sync();
}

// -- wipe ------------------------------------------------------------------------------------------
/** Erase the replica, the keystore and the device record; keys in memory are dropped. */
export async function wipe(reason) {
  const record = session?.record || (await loadEnrolment().catch(() => null));
  if (session) {
    session.vault.clear();
    await session.replica.destroy();
    session = null;
  } else if (record) {
    await new PouchDB(record.replica, { adapter: "indexeddb" }).destroy().catch(() => {});
  }
  await forgetEnrolment().catch(() => {});
  await idbDestroy();
  sessionStorage.removeItem(REVIEW_KEY);
  setState({ phase: "wiped", wipedReason: reason, enrolment: null, user: null, notice: null,
    sync: { status: "idle", message: "", progress: null, lastSyncedAt: null, pending: 0, refused: {}, merges: [], lastError: null } });
  location.hash = "#/";
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
  const now = nowIso();
  const id = visitId || newId("visit");
  const current = visitId ? await replica.get(visitId) : null;
  let content;
  if (!current) {
    content = { author: me, created_at: now, status: "draft", transitions: [], ...fields };
  } else {
    const latest = await vault.open(current);
    if (latest.status === "signed_off") throw new Error("This visit has been signed off, so it can no longer be changed.");
    if (current._rev === baseRev) content = { ...latest, ...fields };
    else {
      content = { ...latest };
      for (const [k, v] of Object.entries(fields)) if (!same(v, base?.[k])) content[k] = v;
    }
  }
  for (const k of OPTIONAL_ENUMS) if (!content[k]) delete content[k];
  content.updated_at = now;
  content.updated_by = me;
  if (submit) {
    content.status = "submitted";
    content.submitted_at = now;
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
