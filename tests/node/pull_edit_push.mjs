// A tablet's round trip with PouchDB 9: pull the caseload through a device token, unwrap the
// key envelopes, decrypt a visit, edit it offline, push it back.
// params: {url, token, device_id, private_key, visit_id, user_ref, analysis}
import { Keyring, emit, editLocally, envelope, loadReplica, localDb, remoteDb, replicate, run } from "./lib/peer.mjs";

run(async (p) => {
  const remote = remoteDb(p.url, p.token);
  const local = localDb("tablet-a");
  const pull = await replicate(remote, local, { batch_size: 50 });
  if (pull.failed) throw new Error(`pull failed: ${JSON.stringify(pull.failed)}`);
  const keyring = await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32));
  const docs = await loadReplica(local, keyring);
  emit({ event: "pulled", count: docs.length });

  // Every body of the caseload opens with the keys this device was sent.
  let decrypted = 0;
  for (const doc of docs) {
    if (doc.enc) { await keyring.open(doc); decrypted += 1; }
  }
  const visit = docs.find((d) => d._id === p.visit_id);
  if (!visit) throw new Error(`visit ${p.visit_id} was not pulled`);
  const before = await keyring.open(visit);

  const edit = await editLocally(local, keyring, p.visit_id, {
    secretChanges: { analysis: p.analysis }, userRef: p.user_ref,
  });
  const push = await replicate(local, remote);
  const after = await local.get(p.visit_id);
  return {
    pull,
    push,
    docs: docs.map((d) => ({ id: d._id, rev: d._rev, type: d.type, case_id: d.case_id, deleted: !!d._deleted })),
    kids: [...keyring.keys.keys()].sort(),
    decrypted,
    visit_before: { rev: visit._rev, status: visit.meta.status, observations: before.observations ?? null,
                    analysis: before.analysis ?? null },
    edit,
    local_rev_after_push: after._rev,
    traffic: remote.traffic.requests,
  };
});
