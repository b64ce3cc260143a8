// PouchDB 9 tablets (Node, memory adapter) for tests/bench/bench_sync.py: initial pulls,
// no-change syncs, offline edits and pushes, timed from the client's side. Driven line by line
// from Python like tests/node/merge_peers.mjs: every command is one JSON line on stdin with a
// `seq`, answered by one line {"event": "reply", "seq", "ok", "result" | "error"}.
//
// Each tablet holds a remote handle (Doorstep's /sync/caseload with a device token, or a
// pouchdb-server database without one) and, once it pulled, a local in-memory replica. Every
// HTTP request carries an `x-bench-tag` header (the current phase, e.g. "pull-100-2") so the
// server's timing log (tests/bench/asgi.py) can be matched to client phases, and its client
// wall time (request sent → whole body received) is recorded per endpoint.
//
//   add      {name, url, token?, device_id?, private_key?}      a tablet (empty replica)
//   pull     {name, batch_size, tag, fresh}   replicate remote → local (a fresh replica if
//            `fresh`); {ms, docs_read, docs_written, failures, requests, per_request}
//   nochange {name, runs, tag}   `runs` one-shot pulls on an up-to-date replica
//   push     {name, batch_size, tag}          replicate local → remote, timed
//   copy     {name, url, batch_size}          replicate the tablet's replica to another remote
//            (loads pouchdb-server with the very same wire documents and revision histories)
//   edit     {name, ids, user_ref, variant}   offline edits (decrypt, change, re-encrypt, put)
//   info     {name}                          local doc count and update_seq
//   leaves   {name, ids}                     number of live leaves of each id (after a pull)
//   drop     {name}                          destroy the tablet's replica and forget it
//   quit
import { performance } from "node:perf_hooks";

import { Keyring, PouchDB, emit, envelope, loadReplica, plainError, stdinLines } from "../node/lib/peer.mjs";

const tablets = new Map();
let localCounter = 0;

function tablet(name) {
  const found = tablets.get(name);
  if (!found) throw new Error(`no tablet ${name}`);
  return found;
}

/** Per-request client timings, grouped by endpoint, for the current phase. */
class Timings {
  constructor() { this.reset(""); }
  reset(tag) { this.tag = tag; this.entries = []; }
  endpoint(url) {
    const path = new URL(url).pathname.replace(/^.*\/caseload\/?/, "");
    if (path === "") return "_db";
    if (path.startsWith("_local/")) return "_local";
    return path.startsWith("_") ? path : "_doc";
  }
  add(url, method, ms, status, bytes) {
    this.entries.push({ endpoint: this.endpoint(url), method, ms, status, bytes });
  }
  summary() {
    const by = {};
    for (const e of this.entries) {
      const key = `${e.method} ${e.endpoint}`;
      by[key] ??= { n: 0, ms: 0, bytes: 0 };
      by[key].n += 1; by[key].ms += e.ms; by[key].bytes += e.bytes;
    }
    return by;
  }
}

function remoteHandle(url, token, timings) {
  return new PouchDB(url, {
    skip_setup: !!token,
    fetch: async (requestUrl, opts) => {
      if (token) opts.headers.set("Authorization", `Token ${token}`);
      opts.headers.set("x-bench-tag", timings.tag || "-");
      const method = (opts.method ?? "GET").toUpperCase();
      const t0 = performance.now();
      const response = await PouchDB.fetch(requestUrl, opts);
      // Read the whole body inside the timed span, then hand PouchDB an equivalent response.
      const body = await response.arrayBuffer();
      const ms = performance.now() - t0;
      timings.add(requestUrl, method, ms, response.status, body.byteLength);
      const empty = [101, 204, 205, 304].includes(response.status);
      return new Response(empty ? null : body, {
        status: response.status, statusText: response.statusText, headers: response.headers,
      });
    },
  });
}

function newLocal(name) {
  return new PouchDB(`bench-${name}-${process.pid}-${++localCounter}`, { adapter: "memory" });
}

async function timedReplication(source, target, options) {
  const denied = [];
  const t0 = performance.now();
  const replication = PouchDB.replicate(source, target, options);
  replication.on("denied", (error) => denied.push(plainError(error)));
  let result;
  let failed = null;
  try {
    result = await replication; // resolves on the `complete` event
  } catch (error) {
    result = error.result ?? {};
    failed = plainError(error);
  }
  const ms = performance.now() - t0;
  return {
    ms, ok: result.ok, docs_read: result.docs_read, docs_written: result.docs_written,
    doc_write_failures: result.doc_write_failures, last_seq: result.last_seq,
    errors: (result.errors ?? []).map(plainError), denied: denied.slice(0, 5), denied_count: denied.length, failed,
  };
}

const PARAGRAPH_A = "Device A: mum said the new bedtime routine is working and both children are sleeping better.";
const PARAGRAPH_B = "Device B: the health visitor confirmed the missed appointment was rebooked for next week.";

/** The change a variant makes to a visit's secret fields and meta. */
function applyVariant(variant, secret, meta) {
  const paragraphs = (secret.observations ?? "").split("\n\n");
  switch (variant) {
    case "simple": // A plain offline edit: the analysis gains a sentence.
      secret.analysis = `${secret.analysis ?? ""} Reviewed offline on the tablet.`.trim();
      break;
    case "A": // first paragraph, visit type (rule: latest), risk level (rule: review)
      paragraphs[0] = PARAGRAPH_A;
      secret.observations = paragraphs.join("\n\n");
      meta.visit_type = "planned";
      secret.risk_level = "high";
      break;
    case "B": // last paragraph, visit type, risk level: a different value again
      paragraphs[paragraphs.length - 1] = PARAGRAPH_B;
      secret.observations = paragraphs.join("\n\n");
      meta.visit_type = "unannounced";
      secret.risk_level = "critical";
      break;
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

const commands = {
  async add(p) {
    if (tablets.has(p.name)) throw new Error(`tablet ${p.name} exists`);
    const timings = new Timings();
    const keyring = p.private_key ? await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32)) : null;
    tablets.set(p.name, { remote: remoteHandle(p.url, p.token, timings), timings, keyring, local: null });
    return { name: p.name };
  },

  async pull(p) {
    const t = tablet(p.name);
    if (p.fresh || !t.local) {
      if (t.local) await t.local.destroy();
      t.local = newLocal(p.name);
    }
    t.timings.reset(p.tag);
    const result = await timedReplication(t.remote, t.local, { batch_size: p.batch_size ?? 100 });
    const info = await t.local.info();
    return { ...result, local_docs: info.doc_count, requests: t.timings.summary() };
  },

  async nochange(p) {
    const t = tablet(p.name);
    const runs = [];
    for (let i = 0; i < p.runs; i++) {
      t.timings.reset(`${p.tag}-${i}`);
      const result = await timedReplication(t.remote, t.local, { batch_size: p.batch_size ?? 100 });
      if (result.failed || result.docs_written) throw new Error(`not a no-change sync: ${JSON.stringify(result)}`);
      runs.push({ ms: result.ms, requests: t.timings.entries.map((e) => ({ ...e })), docs_read: result.docs_read });
    }
    return { runs };
  },

  async push(p) {
    const t = tablet(p.name);
    t.timings.reset(p.tag);
    const result = await timedReplication(t.local, t.remote, { batch_size: p.batch_size ?? 100 });
    return { ...result, requests: t.timings.summary() };
  },

  async copy(p) {
    const t = tablet(p.name);
    const target = new PouchDB(p.url);
    const result = await timedReplication(t.local, target, { batch_size: p.batch_size ?? 500 });
    const info = await target.info();
    return { ...result, target_docs: info.doc_count };
  },

  async edit(p) {
    const t = tablet(p.name);
    if (!t.keyring) throw new Error("tablet has no keys");
    const all = await t.local.allDocs({ include_docs: true, keys: p.ids });
    const envelopes = await t.local.allDocs({ include_docs: true, startkey: "keyenv:", endkey: "keyenv:\uffff" });
    await t.keyring.add(envelopes.rows.map((row) => row.doc));
    const updated = [];
    const t0 = performance.now();
    for (const row of all.rows) {
      if (!row.doc) throw new Error(`no local document ${row.key}`);
      const doc = row.doc;
      const secret = await t.keyring.open(doc);
      const meta = { ...doc.meta, updated_at: new Date().toISOString(), updated_by: p.user_ref };
      applyVariant(p.variant, secret, meta);
      const enc = await t.keyring.seal(doc, secret);
      updated.push({ ...doc, meta, enc });
    }
    const written = await t.local.bulkDocs(updated);
    const failures = written.filter((w) => w.error);
    if (failures.length) throw new Error(`local edits failed: ${JSON.stringify(failures.slice(0, 3))}`);
    return { edited: updated.length, ms: performance.now() - t0 };
  },

  async info(p) {
    const t = tablet(p.name);
    const info = await t.local.info();
    return { doc_count: info.doc_count, update_seq: info.update_seq };
  },

  async leaves(p) {
    const t = tablet(p.name);
    let multi = 0;
    for (const id of p.ids) {
      const found = await t.local.get(id, { open_revs: "all" });
      if (found.filter((e) => e.ok && !e.ok._deleted).length !== 1) multi += 1;
    }
    return { checked: p.ids.length, not_single_leaf: multi };
  },

  async drop(p) {
    const t = tablet(p.name);
    if (t.local) await t.local.destroy();
    tablets.delete(p.name);
    return { dropped: p.name };
  },

  async keys(p) {
    const t = tablet(p.name);
    const docs = await loadReplica(t.local, t.keyring);
    return { kids: t.keyring ? t.keyring.keys.size : 0, docs: docs.length };
  },
};

const lines = stdinLines();
emit({ event: "ready" });
for (;;) {
  const line = await lines.next();
  if (line === undefined || line === null) break;
  if (!line.trim()) continue;
  const message = JSON.parse(line);
  if (message.cmd === "quit") break;
  try {
    const handler = commands[message.cmd];
    if (!handler) throw new Error(`unknown command ${message.cmd}`);
    emit({ event: "reply", seq: message.seq, ok: true, result: (await handler(message)) ?? null });
  } catch (error) {
    emit({ event: "reply", seq: message.seq, ok: false, error: { ...plainError(error), stack: String(error?.stack ?? error) } });
  }
}
lines.close();
process.stdout.write("", () => process.exit(0));
