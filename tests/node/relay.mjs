// PouchDB replicates Doorstep's /sync/caseload straight into pouchdb-server (a third-party
// CouchDB server), a visit is edited there with envelope.js, and PouchDB replicates it back.
// params: {sync_url, token, couch_url, device_id, private_key, user_ref, visit_id}
import { Keyring, PouchDB, envelope, loadReplica, nowIso, remoteDb, replicate, run } from "./lib/peer.mjs";

run(async (p) => {
  const caseload = remoteDb(p.sync_url, p.token);
  const couch = new PouchDB(p.couch_url, { skip_setup: true });
  const down = await replicate(caseload, couch, { batch_size: 25 });
  const keyring = await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32));
  const docs = await loadReplica(couch, keyring); // the envelopes travelled too (still sealed)

  const doc = await couch.get(p.visit_id);
  const secret = await keyring.open(doc);
  const analysis = `Edited on pouchdb-server by PouchDB ${Date.now()}`;
  const enc = await keyring.seal(doc, { ...secret, analysis });
  const written = await couch.put({ ...doc, enc, meta: { ...doc.meta, updated_at: nowIso(), updated_by: p.user_ref } });
  const up = await replicate(couch, caseload);
  return { down, up, analysis, edit: { rev: written.rev }, couch_ids: docs.map((d) => d._id) };
});
