// Live pull replication ({live: true, retry: true}, long-poll _changes): reports "ready" once
// caught up, then waits for the document id pytest sends on stdin to arrive locally.
// params: {url, token, device_id, private_key}
import {
  Keyring, emit, envelope, localDb, loadReplica, plainError, remoteDb, run, stdinLines,
} from "./lib/peer.mjs";
import { PouchDB } from "./lib/peer.mjs";

run(async (p) => {
  const remote = remoteDb(p.url, p.token);
  const local = localDb("tablet-live");
  const keyring = await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32));
  const arrived = new Map(); // id -> doc, as the local replica receives them
  const waiters = new Map();
  const feed = local.changes({ live: true, since: 0, include_docs: true });
  feed.on("change", (change) => {
    arrived.set(change.id, change.doc);
    waiters.get(change.id)?.(change.doc);
  });
  const errors = [];
  const replication = PouchDB.replicate(remote, local, { live: true, retry: true, heartbeat: 5000 });
  replication.on("error", (error) => errors.push(plainError(error)));
  await new Promise((resolve, reject) => {
    replication.on("paused", (error) => (error ? errors.push(plainError(error)) : resolve()));
    replication.on("error", reject);
  });
  const docs = await loadReplica(local, keyring);
  emit({ event: "ready", docs: docs.length });

  const lines = stdinLines();
  const { wait_for: id } = JSON.parse(await lines.next());
  const doc = arrived.get(id) ?? await new Promise((resolve) => waiters.set(id, resolve));
  await keyring.add([...arrived.values()]);
  emit({ event: "seen", id, rev: doc._rev, secret: await keyring.open(doc) });

  replication.cancel();
  feed.cancel();
  lines.close();
  return { event: "done", feeds: [...new Set(remote.traffic.feeds)], requests: remote.traffic.requests, errors };
});
