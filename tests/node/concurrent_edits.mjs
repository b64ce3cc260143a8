// Two tablets edit the same visit while offline (different fields), push one after the other,
// then pull again. The server merges once (DESIGN §6); both replicas must converge on the same
// winning revision, with no open conflict, holding both edits.
// params: {url, visit_id, devices: [{token, device_id, private_key, user_ref, field, value}, …2]}
import { Keyring, editLocally, envelope, loadReplica, localDb, remoteDb, replicate, run } from "./lib/peer.mjs";

run(async (p) => {
  const tablets = [];
  for (const [index, d] of p.devices.entries()) {
    const remote = remoteDb(p.url, d.token);
    const local = localDb(`tablet-${index}`);
    const pull = await replicate(remote, local);
    if (pull.failed) throw new Error(`pull failed: ${JSON.stringify(pull.failed)}`);
    const keyring = await Keyring.open(d.device_id, envelope.unb64(d.private_key, 32));
    await loadReplica(local, keyring);
    tablets.push({ d, remote, local, keyring });
  }
  const base = (await tablets[0].local.get(p.visit_id))._rev;
  const edits = [];
  for (const t of tablets) {  // both offline: each edits the revision it pulled
    edits.push(await editLocally(t.local, t.keyring, p.visit_id, {
      secretChanges: { [t.d.field]: t.d.value }, userRef: t.d.user_ref,
    }));
  }
  const pushes = [];
  for (const t of tablets) pushes.push(await replicate(t.local, t.remote));
  const finals = [];
  for (const t of tablets) {
    const pull = await replicate(t.remote, t.local, { style: "all_docs" });
    await loadReplica(t.local, t.keyring);
    const doc = await t.local.get(p.visit_id, { conflicts: true });
    finals.push({ pull, rev: doc._rev, conflicts: doc._conflicts ?? [], secret: await t.keyring.open(doc),
                  meta: doc.meta });
  }
  return { base, edits, pushes, finals };
});
