// Shared pieces of the PouchDB conformance scripts: parameters in, JSON out, a PouchDB handle
// on /sync/caseload that authenticates with a device token, and a tablet keyring built from
// the device's key envelopes with the tablet's own envelope module (clients/web/src/envelope.js).
//
// Protocol with pytest: parameters arrive as JSON in $DOORSTEP_PARAMS (or argv[2]); every
// line a script prints on stdout is one JSON object; the last one is the result. Diagnostics
// go to stderr. A failure exits non-zero.
import { createInterface } from "node:readline";

import PouchDB from "pouchdb";
import memory from "pouchdb-adapter-memory";

import envelope from "./envelope.mjs";

PouchDB.plugin(memory);

export { PouchDB, envelope };

export function params() {
  const text = process.env.DOORSTEP_PARAMS ?? process.argv[2] ?? "{}";
  return JSON.parse(text);
}

export function emit(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Run `main`, print its result as the last line; exit 1 (with the error on stderr) on failure.
 * Exits only once the output is flushed: writes to a pipe are asynchronous in Node, and
 * process.exit() would cut a long result short. */
export function run(main) {
  main(params()).then(
    (result) => {
      const text = result === undefined ? "" : JSON.stringify(result) + "\n";
      process.stdout.write(text, () => process.exit(0));
    },
    (error) => {
      process.stderr.write(`${error?.stack ?? error}\n${JSON.stringify(error)}\n`, () => process.exit(1));
    },
  );
}

/** Lines from stdin, one at a time: `await lines.next()`. */
export function stdinLines() {
  const rl = createInterface({ input: process.stdin });
  const queue = [];
  const waiters = [];
  rl.on("line", (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  return {
    next() {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve) => waiters.push(resolve));
    },
    close() { rl.close(); },
  };
}

/**
 * Request statistics for one remote handle: how many requests per endpoint, how many docs were
 * asked for in _bulk_get, and which _changes feeds were used. `hooks.beforeRequest(url, opts)`
 * may delay a request (it is awaited).
 */
export class Traffic {
  constructor() {
    this.requests = {};
    this.bulkGetDocs = 0;
    this.feeds = [];
    this.changesSince = [];
    this.hooks = {};
  }
  endpoint(url) {
    const path = new URL(url).pathname.replace(/^.*\/sync\/caseload\/?/, "");
    if (path === "") return "_db";
    if (path.startsWith("_local/")) return "_local";
    return path.startsWith("_") ? path : "_doc";
  }
  async record(url, opts) {
    const name = this.endpoint(url);
    if (this.hooks.beforeRequest) await this.hooks.beforeRequest(name, url, opts);
    this._changesParams(name, url);
    this.requests[name] = (this.requests[name] ?? 0) + 1;
  }
  /** Documents served: counted when the server answered, not when asked. */
  answered(url, opts, response) {
    if (this.endpoint(url) === "_bulk_get" && response.ok && typeof opts.body === "string") {
      this.bulkGetDocs += JSON.parse(opts.body).docs.length;
    }
  }
  _changesParams(name, url) {
    if (name === "_changes") {
      const query = new URL(url).searchParams;
      this.feeds.push(query.get("feed") ?? "normal");
      this.changesSince.push(query.get("since"));
    }
  }
}

/** A PouchDB handle on the server's replication endpoint, authenticated by `token`. */
export function remoteDb(url, token, traffic = new Traffic()) {
  const db = new PouchDB(url, {
    skip_setup: true,
    fetch: async (requestUrl, opts) => {
      opts.headers.set("Authorization", `Token ${token}`);
      await traffic.record(requestUrl, opts);
      const response = await PouchDB.fetch(requestUrl, opts);
      traffic.answered(requestUrl, opts, response);
      return response;
    },
  });
  db.traffic = traffic;
  return db;
}

let localCounter = 0;
export function localDb(name = "tablet") {
  return new PouchDB(`${name}-${process.pid}-${++localCounter}`, { adapter: "memory" });
}

/** The replication result fields pytest looks at. */
export function summary(result) {
  return {
    ok: result.ok,
    status: result.status,
    docs_read: result.docs_read,
    docs_written: result.docs_written,
    doc_write_failures: result.doc_write_failures,
    errors: (result.errors ?? []).map(plainError),
    last_seq: result.last_seq,
  };
}

export function plainError(error) {
  if (!error || typeof error !== "object") return { message: String(error) };
  return {
    id: error.id, name: error.name, error: error.error, status: error.status,
    reason: error.reason, message: error.message,
  };
}

/** Replicate and collect events; resolves with the summary even when the replication fails. */
export async function replicate(source, target, options = {}) {
  const denied = [];
  const changes = [];
  const replication = PouchDB.replicate(source, target, options);
  replication.on("denied", (error) => denied.push(plainError(error)));
  replication.on("change", (info) => changes.push({ docs_read: info.docs_read, docs_written: info.docs_written }));
  try {
    const result = await replication;
    return { ...summary(result), denied, changes, failed: null };
  } catch (error) {
    return { ...summary(error.result ?? {}), denied, changes, failed: plainError(error) };
  }
}

/** Enrol a new device for a user token, with a key pair made by envelope.js. */
export async function enrolDevice(baseUrl, userToken, name = "node-tablet") {
  const { privateRaw, publicRaw } = await envelope.generateDeviceKeypair();
  const response = await fetch(`${baseUrl}/api/devices/`, {
    method: "POST",
    headers: { Authorization: `Token ${userToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name, public_key: envelope.b64(publicRaw), app_version: "pouchdb-e2e" }),
  });
  if (response.status !== 201) throw new Error(`enrol: ${response.status} ${await response.text()}`);
  const body = await response.json();
  return { deviceId: body.device.id, token: body.token, privateRaw };
}

/** Case keys of one device: unwrapped from its `keyenv:` documents, held as CryptoKeys. */
export class Keyring {
  static async open(deviceId, privateRaw) {
    const keyring = new Keyring();
    keyring.deviceId = deviceId;
    keyring.privateKey = await envelope.importDevicePrivateKey(privateRaw);
    keyring.keys = new Map();
    return keyring;
  }

  /** Unwrap every live envelope among `docs` (deleted ones drop their key). */
  async add(docs) {
    for (const doc of docs) {
      if (doc.type !== "key_envelope") continue;
      const kid = doc._id.slice("keyenv:".length);
      if (doc._deleted) { this.keys.delete(kid); continue; }
      const raw = await envelope.unwrapKeyForDevice(doc.envelope, {
        devicePrivateKey: this.privateKey, deviceId: this.deviceId,
      });
      if (kid !== doc.envelope.kid) throw new Error(`envelope ${doc._id} names ${doc.envelope.kid}`);
      this.keys.set(kid, await envelope.importDataKey(raw));
      raw.fill(0);
    }
  }

  /** The newest key version held for a case. */
  currentKid(caseId) {
    let best = null;
    for (const kid of this.keys.keys()) {
      const [c, v] = [kid.slice(0, kid.lastIndexOf("#")), Number(kid.slice(kid.lastIndexOf("#") + 1))];
      if (c === caseId && (best === null || v > best[1])) best = [kid, v];
    }
    if (best === null) throw new Error(`no key for ${caseId}`);
    return best[0];
  }

  /** The secret fields of a document. */
  async open(doc) {
    const key = this.keys.get(doc.enc.kid);
    if (!key) throw new Error(`no key ${doc.enc.kid}`);
    return envelope.decryptBody(doc.enc, { key, docId: doc._id, docType: doc.type, caseId: doc.case_id });
  }

  /** `enc` for `secret` under the case's current key. */
  async seal(doc, secret) {
    const kid = this.currentKid(doc.case_id);
    return envelope.encryptBody(secret, {
      key: this.keys.get(kid), kid, docId: doc._id, docType: doc.type, caseId: doc.case_id,
    });
  }
}

/** Everything in a local replica, with the device's keys unwrapped. */
export async function loadReplica(db, keyring) {
  const all = await db.allDocs({ include_docs: true, conflicts: true });
  const docs = all.rows.map((row) => row.doc);
  if (keyring) await keyring.add(docs);
  return docs;
}

export const nowIso = () => new Date().toISOString();

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** A fresh `<type>:<ULID>` document id. */
export function newId(type) {
  let time = Date.now();
  let text = "";
  for (let i = 0; i < 10; i++) { text = CROCKFORD[time % 32] + text; time = Math.floor(time / 32); }
  const random = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 0; i < 16; i++) text += CROCKFORD[random[i] % 32];
  return `${type}:${text}`;
}

/** An offline edit on the tablet: decrypt, change, re-seal under the current kid, put. */
export async function editLocally(db, keyring, docId, { secretChanges = {}, metaChanges = {}, userRef }) {
  const doc = await db.get(docId);
  const secret = { ...(await keyring.open(doc)), ...secretChanges };
  const meta = { ...doc.meta, ...metaChanges, updated_at: nowIso(), updated_by: userRef };
  const enc = await keyring.seal(doc, secret);
  const written = await db.put({ ...doc, meta, enc });
  return { id: docId, rev: written.rev, parent: doc._rev };
}
