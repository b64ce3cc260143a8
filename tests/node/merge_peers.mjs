// A fleet of PouchDB 9 tablets (memory adapter) driven line by line from pytest, for the
// concurrent-edit tests (tests/e2e/test_merging.py). Each tablet is one enrolled device: its
// own in-memory replica, a remote handle on /sync/caseload with its device token, and a
// keyring unwrapped from its key envelopes with the tablet's envelope module
// (clients/web/src/envelope.js). Between a "push" and a "pull" a tablet is offline: edits only
// touch its replica.
//
// Commands arrive on stdin, one JSON object a line, each with a `seq`; every command is
// answered by one line {"event": "reply", "seq", "ok": true, "result"} or
// {"event": "reply", "seq", "ok": false, "error"}. The process exits on {"cmd": "quit"} or
// when stdin closes.
//
//   add    {name, url, token, device_id, private_key}   a new tablet (empty replica)
//   pull   {name}          replicate server → tablet, then unwrap any new key envelopes
//   push   {name}          replicate tablet → server (denied documents are reported)
//   sync   {name}          both at once, as PouchDB.sync does: {push, pull}
//   push_all {names}       several tablets push at the same moment: {name: result}
//   read   {name, id}      the local winner: rev, _conflicts, meta, decrypted secret fields
//   leaves {name, id}      every local leaf (open_revs=all): rev and whether it is deleted
//   edit   {name, id, user_ref, secret?, meta?}   an offline edit on the local winner
//   docs   {name}          every local document: id, rev, type, case_id, meta, deleted
//   quit
import { Keyring, editLocally, emit, envelope, loadReplica, localDb, plainError, remoteDb, replicate,
         stdinLines } from "./lib/peer.mjs";

const tablets = new Map();

function tablet(name) {
  const found = tablets.get(name);
  if (!found) throw new Error(`no tablet ${name}`);
  return found;
}

const commands = {
  async add(p) {
    if (tablets.has(p.name)) throw new Error(`tablet ${p.name} exists`);
    const keyring = await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32));
    tablets.set(p.name, { remote: remoteDb(p.url, p.token), local: localDb(`merge-${p.name}`), keyring });
    return { name: p.name };
  },

  async pull(p) {
    const t = tablet(p.name);
    const result = await replicate(t.remote, t.local, { batch_size: 100 });
    if (result.failed) throw new Error(`pull failed: ${JSON.stringify(result.failed)}`);
    await loadReplica(t.local, t.keyring);
    return result;
  },

  async push(p) {
    const t = tablet(p.name);
    return replicate(t.local, t.remote, { batch_size: 100 });
  },

  async sync(p) {
    const t = tablet(p.name);
    const [push, pull] = await Promise.all([
      replicate(t.local, t.remote, { batch_size: 100 }),
      replicate(t.remote, t.local, { batch_size: 100 }),
    ]);
    if (pull.failed) throw new Error(`pull failed: ${JSON.stringify(pull.failed)}`);
    await loadReplica(t.local, t.keyring);
    return { push, pull };
  },

  async push_all(p) {
    const results = await Promise.all(p.names.map((name) => replicate(tablet(name).local, tablet(name).remote,
                                                                      { batch_size: 100 })));
    return Object.fromEntries(p.names.map((name, i) => [name, results[i]]));
  },

  async read(p) {
    const t = tablet(p.name);
    let doc;
    try {
      doc = await t.local.get(p.id, { conflicts: true, deleted_conflicts: true, revs: true });
    } catch (error) {
      if (error.status === 404) return null;
      throw error;
    }
    return {
      id: doc._id, rev: doc._rev, type: doc.type, case_id: doc.case_id, meta: doc.meta ?? null,
      conflicts: doc._conflicts ?? [], deleted_conflicts: doc._deleted_conflicts ?? [],
      revisions: doc._revisions, secret: doc.enc ? await t.keyring.open(doc) : null,
    };
  },

  async leaves(p) {
    const t = tablet(p.name);
    const found = await t.local.get(p.id, { open_revs: "all" });
    return found.filter((entry) => entry.ok).map((entry) => ({ rev: entry.ok._rev, deleted: !!entry.ok._deleted }));
  },

  async edit(p) {
    const t = tablet(p.name);
    return editLocally(t.local, t.keyring, p.id, {
      secretChanges: p.secret ?? {}, metaChanges: p.meta ?? {}, userRef: p.user_ref,
    });
  },

  async docs(p) {
    const t = tablet(p.name);
    const all = await t.local.allDocs({ include_docs: true });
    return all.rows.map((row) => ({
      id: row.id, rev: row.value.rev, type: row.doc.type, case_id: row.doc.case_id, meta: row.doc.meta ?? null,
    }));
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
