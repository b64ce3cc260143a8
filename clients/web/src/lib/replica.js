// The tablet's local replica: a PouchDB database on IndexedDB holding exactly what
// /sync/caseload sends (ciphertext bodies, clear workflow `meta`, key envelopes), replicated
// with the device token. Alongside it, two `_local` documents (never replicated):
//   _local/doorstep-index  clear `meta` of every record by case, so lists render without
//                          reading or decrypting every document;
//   _local/doorstep-sync   what is waiting to be sent, what the server refused and why,
//                          merges seen, when the last sync finished, the server clock offset;
//   _local/doorstep-autosave  forms in progress, sealed with the case key (lib/autosave.js).
import PouchDB from "pouchdb-core";
import IndexedDbAdapter from "pouchdb-adapter-indexeddb";
import HttpAdapter from "pouchdb-adapter-http";
import Replication from "pouchdb-replication";
import {
  DeviceSuspended, DeviceWiped, EditConflict, Offline, SignInExpired, StorageFull, isNetworkError, isQuotaError, storageIsFull,
} from "./errors.js";
import { installClockProofOpen } from "./idbVersion.js";
import { offsetFromExchange } from "./clock.js";
import { typeOfId } from "./schemas.js";

PouchDB.plugin(IndexedDbAdapter).plugin(HttpAdapter).plugin(Replication);
installClockProofOpen();

const INDEX_ID = "_local/doorstep-index";
const STATE_ID = "_local/doorstep-sync";
const AUTOSAVE_ID = "_local/doorstep-autosave";
const MAX_MERGES_KEPT = 30;

const isRecord = (doc) => typeOfId(doc._id) !== null;

export class Replica {
  /**
   * @param name      IndexedDB database name for this enrolment
   * @param getToken  () => the device token (held in memory only)
   * @param onEnvelope async (keyenvDoc) => void, for the vault
   * @param onPurge   (caseId) => void, after a case's documents were removed
   */
  constructor({ name, getToken, onEnvelope = async () => {}, onPurge = () => {} }) {
    // Auto-compaction drops the bodies of superseded local revisions: the server keeps every
    // revision, the tablet needs only the leaves (and less of the user's storage).
    this.db = new PouchDB(name, { adapter: "indexeddb", auto_compaction: true });
    this.getToken = getToken;
    this.onEnvelope = onEnvelope;
    this.onPurge = onPurge;
    this.remote = new PouchDB(new URL("/sync/caseload", location.origin).href, {
      adapter: "http",
      skip_setup: true,
      fetch: (url, opts) => this.#fetch(url, opts),
    });
    this.index = null;
    this.state = null;
    this.syncing = null;
    this.queue = Promise.resolve();
  }

  // -- HTTP: the device token on every request; a 401 remembered (wipe order or expired token) --
  async #fetch(url, opts) {
    opts.headers.set("Authorization", `Token ${this.getToken()}`);
    opts.credentials = "omit";
    opts.cache = "no-store";
    const sentAt = Date.now();
    const response = await fetch(url, opts);
    this.#sampleClock(response, sentAt, Date.now());
    if (response.status === 401) {
      let body = {};
      try { body = await response.clone().json(); } catch { /* not JSON */ }
      this.authFailure = { wipe: body.wipe === true, lock: body.lock === true, reason: body.reason || "unauthorized" };
      return response;
    }
    return response;
  }

  /** Keep the quickest exchange of this sync with an HTTP Date header: the server's clock. */
  #sampleClock(response, sentAt, receivedAt) {
    const date = Date.parse(response.headers.get("Date") || "");
    if (!Number.isFinite(date)) return;
    const rtt = receivedAt - sentAt;
    if (this.clockSample && this.clockSample.rtt <= rtt) return;
    this.clockSample = { rtt, ms: offsetFromExchange({ serverMs: date, sentAt, receivedAt, resolutionMs: 1000 }) };
  }

  /** Note a server clock reading with a better source than a Date header (the device checkin). */
  noteServerTime(serverTime, sentAt, receivedAt) {
    const serverMs = Date.parse(serverTime);
    if (!Number.isFinite(serverMs)) return;
    this.clockSample = { rtt: -1, ms: offsetFromExchange({ serverMs, sentAt, receivedAt }), source: "checkin" };
  }

  /** Run `fn` after every earlier index/state update (one writer at a time). */
  #serial(fn) {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  // -- local documents ----------------------------------------------------------------------------
  async #loadLocal(id, fallback) {
    try {
      return await this.db.get(id);
    } catch (err) {
      if (err.status === 404) return { _id: id, ...fallback };
      throw err;
    }
  }

  async #saveLocal(doc) {
    try {
      const res = await this.db.put(doc);
      doc._rev = res.rev;
    } catch (err) {
      throw await this.#writeFailure(err, doc);
    }
  }

  /** What a failed local write means for the user: out of space, an edit conflict, or other. */
  async #writeFailure(err, doc) {
    if (err?.status === 409) return new EditConflict();
    if (isQuotaError(err) || await storageIsFull(Math.max(256 * 1024, JSON.stringify(doc ?? {}).length * 4))) {
      return new StorageFull();
    }
    const failure = new Error(`This change could not be saved on the tablet (${err?.message || err}). ` +
      "Your text is still in the form; try saving again, and tell IT if it keeps happening.");
    failure.code = "storage_error";
    return failure;
  }

  async loadIndex() {
    this.index ??= await this.#loadLocal(INDEX_ID, { v: 1, seq: 0, docs: {} });
    return this.index;
  }

  async loadState() {
    this.state ??= await this.#loadLocal(STATE_ID, {
      v: 1, lastSyncedAt: null, lastAttemptAt: null, pending: {}, refused: {}, merges: [], lastError: null,
    });
    return this.state;
  }

  saveState() {
    return this.#serial(() => this.#saveLocal(this.state));
  }

  async loadAutosaves() {
    this.autosaves ??= await this.#loadLocal(AUTOSAVE_ID, { v: 1, entries: {} });
    return this.autosaves;
  }

  /** Change the autosave entries with `fn(entries)` and store them (one writer at a time). */
  updateAutosaves(fn) {
    return this.#serial(async () => {
      const doc = await this.loadAutosaves();
      fn(doc.entries);
      await this.#saveLocal(doc);
    });
  }

  /** A `_local` document of the app's own (null if absent); `writeLocal` replaces it. */
  readLocal(id) {
    return this.#serial(async () => {
      const doc = await this.#loadLocal(id, {});
      return doc._rev ? doc : null;
    });
  }

  writeLocal(id, body) {
    return this.#serial(async () => {
      const current = await this.#loadLocal(id, {});
      await this.#saveLocal({ ...body, _id: id, ...(current._rev ? { _rev: current._rev } : {}) });
    });
  }

  /** What this tablet holds that the server does not: records waiting or refused, and forms in
   * progress. Readable while locked (ids and counts only). */
  async unsent() {
    const state = await this.loadState();
    const autosaves = await this.loadAutosaves();
    const records = [...new Set([...Object.keys(state.pending), ...Object.keys(state.refused)])];
    return { records, forms: Object.keys(autosaves.entries).length, count: records.length + Object.keys(autosaves.entries).length };
  }

  /**
   * Bring the index up to date with the local changes feed; hand new key envelopes to the
   * vault; carry out purge orders. Returns ids merged by the server since the last look.
   */
  refreshIndex() {
    return this.#serial(async () => {
      const index = await this.loadIndex();
      const feed = await this.db.changes({ since: index.seq, include_docs: true, style: "all_docs", return_docs: true });
      const merged = [];
      const purges = [];
      const envelopes = [];
      for (const change of feed.results) {
        const { id, doc } = change;
        if (id.startsWith("keyenv:")) { envelopes.push(doc); continue; }
        if (id.startsWith("purge:")) { if (!change.deleted) purges.push(doc); continue; }
        const type = typeOfId(id);
        if (!type) continue;
        const before = index.docs[id];
        if (change.deleted) { delete index.docs[id]; continue; }
        const leaves = change.changes.length;
        if (before && leaves > (before.l || 1)) merged.push(id);
        index.docs[id] = { t: type, c: doc.case_id, m: doc.meta || {}, l: leaves, r: doc._rev };
      }
      index.seq = feed.last_seq;
      for (const doc of envelopes) {
        try { await this.onEnvelope(doc); } catch { /* a bad envelope leaves that key missing; reads say so */ }
      }
      for (const order of purges) await this.#purgeCase(order, index);
      if (feed.results.length) await this.#saveLocal(index);
      return { merged, purged: purges.map((p) => p.case_id), changed: feed.results.length };
    });
  }

  /** Remove every local document of a case the user no longer has access to, without a trace
   * to replicate (PouchDB purge, not delete). */
  async #purgeCase(order, index) {
    const caseId = order.case_id;
    const ids = Object.keys(index.docs).filter((id) => index.docs[id].c === caseId);
    const envelopes = await this.db.allDocs({ startkey: `keyenv:${caseId}#`, endkey: `keyenv:${caseId}#\ufff0` });
    for (const id of [...ids, ...envelopes.rows.map((r) => r.id), order._id]) {
      await this.#purgeDoc(id);
      delete index.docs[id];
    }
    if (this.state) {
      for (const id of ids) { delete this.state.pending[id]; delete this.state.refused[id]; }
    }
    // Forms in progress on the case go too: its key is being forgotten, so they could never be
    // opened again, and the record is no longer the user's to hold.
    const autosaves = await this.loadAutosaves();
    const before = Object.keys(autosaves.entries).length;
    for (const [key, entry] of Object.entries(autosaves.entries)) if (entry.case_id === caseId) delete autosaves.entries[key];
    if (Object.keys(autosaves.entries).length !== before) await this.#saveLocal(autosaves);
    this.onPurge(caseId);
  }

  async #purgeDoc(id) {
    let leaves;
    try {
      leaves = await this.db.get(id, { open_revs: "all" });
    } catch (err) {
      if (err.status === 404) return;
      throw err;
    }
    for (const leaf of leaves) {
      const rev = leaf.ok?._rev;
      if (rev) await this.db.purge(id, rev);
    }
  }

  // -- reads and writes ----------------------------------------------------------------------------
  async get(id) {
    try {
      return await this.db.get(id);
    } catch (err) {
      if (err.status === 404) return null;
      throw err;
    }
  }

  async getMany(ids) {
    if (!ids.length) return [];
    const res = await this.db.allDocs({ keys: ids, include_docs: true });
    return res.rows.map((row) => row.doc).filter(Boolean);
  }

  async envelopes() {
    const res = await this.db.allDocs({ startkey: "keyenv:", endkey: "keyenv:\ufff0", include_docs: true });
    return res.rows.map((row) => row.doc);
  }

  /** Store a sealed record locally (a new revision); it waits to be sent at the next sync. */
  async save(doc) {
    let res;
    try {
      res = await this.db.put(doc);
    } catch (err) {
      throw await this.#writeFailure(err, doc);
    }
    const state = await this.loadState();
    state.pending[doc._id] = res.rev;
    await this.saveState();
    await this.refreshIndex();
    return res.rev;
  }

  // -- sync ----------------------------------------------------------------------------------------
  /** Push what waits, then pull; resolves to a summary, rejects with Offline, SignInExpired,
   * DeviceWiped, StorageFull or another Error. One sync at a time. */
  sync({ onProgress } = {}) {
    this.syncing ??= this.#sync(onProgress).finally(() => { this.syncing = null; });
    return this.syncing;
  }

  async #sync(onProgress) {
    const state = await this.loadState();
    const waiting = { ...state.pending };
    this.authFailure = null;
    this.refusedNow = [];
    if (this.clockSample?.source !== "checkin") this.clockSample = null;
    const summary = { pushed: 0, pulled: 0, refused: [], merged: [], purged: [] };
    const started = Date.now();
    state.lastAttemptAt = new Date().toISOString();
    let pushed = false;
    try {
      onProgress?.({ phase: "push", done: 0 });
      let t = performance.now();
      summary.pushed = await this.#push(Object.keys(waiting));
      summary.pushMs = performance.now() - t;
      pushed = true;
      onProgress?.({ phase: "pull", done: 0 });
      t = performance.now();
      const pull = this.db.replicate.from(this.remote, { batch_size: 250, batches_limit: 4, retry: false });
      pull.on("change", (info) => onProgress?.({ phase: "pull", done: info.docs_written }));
      summary.pulled = (await pull).docs_written;
      summary.pullMs = performance.now() - t;
    } catch (err) {
      this.#learnClock(state);
      const failure = this.#classify(err, await this.#pullRanOutOfSpace(err));
      if (!(failure instanceof DeviceWiped) && !(failure instanceof DeviceSuspended)) {
        this.#settle(state, waiting, pushed, summary);
        state.lastError = { code: failure.code || "error", message: failure.message, at: new Date().toISOString() };
        await this.saveState();
        if (!(failure instanceof SignInExpired)) await this.refreshIndex().catch(() => {});
      }
      throw failure;
    }
    this.#settle(state, waiting, true, summary);
    onProgress?.({ phase: "index", done: summary.pulled });
    const t = performance.now();
    const { merged, purged } = await this.refreshIndex();
    summary.indexMs = performance.now() - t;
    const index = this.index;
    const at = new Date().toISOString();
    for (const id of merged) {
      const entry = index.docs[id];
      if (!entry) continue;
      state.merges.unshift({ id, type: entry.t, case_id: entry.c, at, review: entry.m.decisions_pending || [] });
    }
    state.merges = state.merges.slice(0, MAX_MERGES_KEPT);
    state.lastSyncedAt = at;
    state.lastError = null;
    this.#learnClock(state);
    state.lastDurationMs = Date.now() - started;
    await this.saveState();
    summary.merged = merged;
    summary.purged = purged;
    summary.ms = state.lastDurationMs;
    return summary;
  }

  /**
   * Send what this tablet changed: every leaf revision of each waiting record that the server
   * lacks (as a replicator would, with new_edits=false). Only records edited here are looked
   * at, so a sync with nothing to send costs nothing however large the caseload. Refusals are
   * per document ({id, error, reason}) and are recorded, never dropped.
   */
  async #push(ids) {
    const leaves = [];
    for (const id of ids) {
      if (!isRecord({ _id: id })) continue;
      try {
        for (const leaf of await this.db.get(id, { open_revs: "all", revs: true })) if (leaf.ok) leaves.push(leaf.ok);
      } catch (err) {
        if (err.status !== 404) throw err;
      }
    }
    if (!leaves.length) return 0;
    const asked = {};
    for (const doc of leaves) (asked[doc._id] ??= []).push(doc._rev);
    const diff = await this.remote.revsDiff(asked);
    const missing = leaves.filter((doc) => diff[doc._id]?.missing?.includes(doc._rev));
    let written = 0;
    for (let i = 0; i < missing.length; i += 50) {
      const batch = missing.slice(i, i + 50);
      const results = await this.remote.bulkDocs({ docs: batch, new_edits: false });
      const refused = results.filter((r) => r && (r.error || r.name) && r.id);
      for (const r of refused) {
        this.refusedNow.push({ id: r.id, error: r.name || r.error, reason: r.reason || r.message || String(r.error) });
      }
      written += batch.length - refused.length;
    }
    return written;
  }

  /** Keep the server clock offset learnt in this sync (the checkin's, else a Date header's). */
  #learnClock(state) {
    const sample = this.clockSample;
    if (!sample) return;
    state.clock = { ms: sample.ms, learntAt: new Date(Date.now() + sample.ms).toISOString(), source: sample.source || "date-header" };
    this.clockSample = null;
  }

  /** Move refused documents out of "waiting", and clear what was sent. */
  #settle(state, waiting, pushed, summary) {
    const refusedIds = new Set();
    for (const item of this.refusedNow) {
      refusedIds.add(item.id);
      state.refused[item.id] = { ...item, rev: waiting[item.id] || state.pending[item.id] || null, at: new Date().toISOString() };
      if (state.pending[item.id] === waiting[item.id]) delete state.pending[item.id];
      summary.refused.push(item);
    }
    this.refusedNow = [];
    if (!pushed) return;
    for (const [id, rev] of Object.entries(waiting)) {
      if (refusedIds.has(id)) continue;
      delete state.refused[id];
      if (state.pending[id] === rev) delete state.pending[id];
    }
  }

  async #pullRanOutOfSpace(err) {
    if (this.authFailure || isNetworkError(err)) return false;
    return isQuotaError(err) || storageIsFull(512 * 1024);
  }

  #classify(err, outOfSpace = false) {
    if (this.authFailure?.wipe) return new DeviceWiped(this.authFailure.reason);
    if (this.authFailure?.lock) return new DeviceSuspended();
    if (this.authFailure) return new SignInExpired(this.authFailure.reason);
    if (outOfSpace) return new StorageFull("sync");
    if (isNetworkError(err)) return new Offline();
    const reason = err?.reason || err?.message || String(err);
    const failure = new Error(`Sync did not finish: ${reason}. Your changes are kept on this tablet; try again.`);
    failure.code = "sync_failed";
    return failure;
  }

  /** What a locked tablet's replica `name` holds unsent (see `unsent`), without unlocking. */
  static async peekUnsent(name) {
    const replica = new Replica({ name, getToken: () => null });
    try { return await replica.unsent(); } finally { await replica.close(); }
  }

  async destroy() {
    try { await this.db.destroy(); } catch { /* already gone */ }
  }

  close() {
    return this.db.close().catch(() => {});
  }
}
