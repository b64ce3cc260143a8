// A second tablet pulls the caseload and reads documents.
// params: {url, sync_url, user_token | (token, device_id, private_key), read: [doc ids]}
// With only a user token it enrols itself first, with a key pair made by envelope.js.
import { Keyring, enrolDevice, envelope, loadReplica, localDb, remoteDb, replicate, run } from "./lib/peer.mjs";

run(async (p) => {
  let { token, device_id: deviceId } = p;
  let privateRaw = p.private_key ? envelope.unb64(p.private_key, 32) : null;
  if (!token) {
    const device = await enrolDevice(p.url, p.user_token, "node-tablet-b");
    ({ token, deviceId, privateRaw } = device);
  }
  const remote = remoteDb(p.sync_url, token);
  const local = localDb("tablet-b");
  const pull = await replicate(remote, local, { batch_size: 50 });
  if (pull.failed) throw new Error(`pull failed: ${JSON.stringify(pull.failed)}`);
  const keyring = await Keyring.open(deviceId, privateRaw);
  const docs = await loadReplica(local, keyring);
  const read = {};
  for (const id of p.read ?? []) {
    const doc = docs.find((d) => d._id === id);
    read[id] = doc ? { rev: doc._rev, meta: doc.meta, secret: await keyring.open(doc),
                       conflicts: doc._conflicts ?? [] } : null;
  }
  return {
    device_id: deviceId,
    pull,
    docs: docs.map((d) => ({ id: d._id, rev: d._rev, type: d.type, case_id: d.case_id })),
    kids: [...keyring.keys.keys()].sort(),
    read,
  };
});
