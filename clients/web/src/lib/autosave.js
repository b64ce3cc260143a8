// Forms in progress, kept sealed on the tablet so that closing the app, a crash, a lock, a reboot
// or a wrong clock never loses what was typed. One `_local/doorstep-autosave` document in the
// replica (never replicated) holds an entry per form: in clear only which form it is (kind,
// case id, record id, route) and when it was saved; the form's values are sealed with the case
// key (vault.sealLocal), so at rest they are ciphertext like every record.
const TYPE = "autosave";
const slot = (key) => `_local/doorstep-autosave/${key}`;

export class Autosaves {
  constructor({ replica, vault }) {
    this.replica = replica;
    this.vault = vault;
  }

  /** Every form in progress on this tablet, newest first: {key, kind, caseId, recordId, route, savedAt}. */
  async list() {
    const doc = await this.replica.loadAutosaves();
    return Object.entries(doc.entries)
      .map(([key, e]) => ({ key, kind: e.kind, caseId: e.case_id, recordId: e.record_id, route: e.route, savedAt: e.saved_at }))
      .sort((a, b) => (a.savedAt < b.savedAt ? 1 : -1));
  }

  /** Seal and store `value` (any JSON object) as the form `key` in progress. */
  async put(key, { kind, caseId, recordId = null, route }, value) {
    // As JSON would store it: forms hold `undefined` for questions not yet answered.
    const plain = JSON.parse(JSON.stringify(value));
    const enc = await this.vault.sealLocal({ id: slot(key), type: TYPE, caseId }, plain);
    await this.replica.updateAutosaves((entries) => {
      entries[key] = { kind, case_id: caseId, record_id: recordId, route, saved_at: new Date().toISOString(), enc };
    });
  }

  /** The form `key` in progress, opened: {savedAt, route, value}, or null. */
  async get(key) {
    const entry = (await this.replica.loadAutosaves()).entries[key];
    if (!entry) return null;
    const value = await this.vault.openLocal({ id: slot(key), type: TYPE, caseId: entry.case_id }, entry.enc);
    return { key, savedAt: entry.saved_at, route: entry.route, caseId: entry.case_id, value };
  }

  discard(key) {
    return this.replica.updateAutosaves((entries) => { delete entries[key]; });
  }
}
