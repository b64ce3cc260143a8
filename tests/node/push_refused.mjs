// PouchDB pushes one batch holding a good edit and two documents the server must refuse:
// a tampered body (one ciphertext bit flipped) and a new note claiming another practitioner's
// case. Expected: per-document "denied" events, the good edit lands, the replication completes.
// params: {url, token, device_id, private_key, user_ref, good_visit_id, tamper_note_id,
//          own_case_id, foreign_case_id}
import {
  Keyring, editLocally, envelope, loadReplica, localDb, newId, nowIso, remoteDb, replicate, run,
} from "./lib/peer.mjs";

run(async (p) => {
  const remote = remoteDb(p.url, p.token);
  const local = localDb("tablet-refused");
  const pull = await replicate(remote, local);
  if (pull.failed) throw new Error(`pull failed: ${JSON.stringify(pull.failed)}`);
  const keyring = await Keyring.open(p.device_id, envelope.unb64(p.private_key, 32));
  await loadReplica(local, keyring);

  const analysis = `Good edit in a mixed batch ${Date.now()}`;
  const good = await editLocally(local, keyring, p.good_visit_id, {
    secretChanges: { analysis }, userRef: p.user_ref,
  });

  // Tampered: a proper edit, then one bit of the ciphertext flipped.
  const note = await local.get(p.tamper_note_id);
  const secret = await keyring.open(note);
  const enc = await keyring.seal(note, { ...secret, text: `${secret.text} (edited)` });
  const ct = envelope.unb64(enc.ct);
  ct[3] ^= 0x01;
  await local.put({ ...note, meta: { ...note.meta, updated_at: nowIso(), updated_by: p.user_ref },
                    enc: { ...enc, ct: envelope.b64(ct) } });

  // Another practitioner's case: a new note that claims it (sealed under our own case key,
  // the only kind this device has; the server must refuse it on the case alone).
  const foreignId = newId("note");
  const now = nowIso();
  const foreignEnc = await envelope.encryptBody({ text: "should never be stored" }, {
    key: keyring.keys.get(keyring.currentKid(p.own_case_id)),
    kid: keyring.currentKid(p.own_case_id), docId: foreignId, docType: "note", caseId: p.own_case_id,
  });
  await local.put({
    _id: foreignId, type: "note", case_id: p.foreign_case_id, schema: 1,
    meta: { author: p.user_ref, created_at: now, updated_at: now, updated_by: p.user_ref, category: "general" },
    enc: foreignEnc,
  });

  const push = await replicate(local, remote, { batch_size: 100 });
  return { push, analysis, ids: { good: p.good_visit_id, good_rev: good.rev, tampered: p.tamper_note_id,
                                  foreign: foreignId } };
});
