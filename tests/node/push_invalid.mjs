// PouchDB pushes one batch of two new notes: a valid one, and one whose content breaks the
// note schema (a category that does not exist) but is otherwise properly sealed.
// params: {url, token, device_id, private_key, user_ref, case_id}
import { Keyring, envelope, loadReplica, localDb, newId, nowIso, remoteDb, replicate, run } from "./lib/peer.mjs";

run(async (p) => {
  const remote = remoteDb(p.url, p.token);
  const local = localDb("tablet-invalid");
  const pull = await replicate(remote, local);
  if (pull.failed) throw new Error(`pull failed: ${JSON.stringify(pull.failed)}`);
  const keyring = await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32));
  await loadReplica(local, keyring);
  const ids = {};
  for (const [name, category] of [["valid", "general"], ["invalid", "gossip"]]) {
    const doc = { _id: newId("note"), type: "note", case_id: p.case_id, schema: 1 };
    const now = nowIso();
    doc.meta = { author: p.user_ref, created_at: now, updated_at: now, updated_by: p.user_ref, category };
    doc.enc = await keyring.seal(doc, { text: `A ${name} note written on the tablet.` });
    await local.put(doc);
    ids[name] = doc._id;
  }
  const push = await replicate(local, remote);
  return { push, ids };
});
