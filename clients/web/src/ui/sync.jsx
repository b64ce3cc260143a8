// Sync status: the pill in the header, and the full page with what is waiting, what the
// server refused and why, merges that happened, storage used, and the sync button.
import { useEffect, useState } from "preact/hooks";
import { useStore } from "../store.js";
import { currentSession, renewDeviceToken, sync } from "../controller.js";
import { formatWhen } from "../lib/dates.js";
import { explainRefusal } from "../lib/errors.js";
import { typeOfId } from "../lib/schemas.js";
import { href } from "../router.js";
import { ErrorSummary, Field, Page, Panel, describedBy, label } from "./common.jsx";
import { EraseTablet } from "./erase.jsx";

function statusText(s, online) {
  if (s.status === "syncing") {
    const p = s.progress;
    if (p?.phase === "pull" && p.done) return `Syncing… ${p.done} received`;
    return "Syncing…";
  }
  if (s.status === "expired") return "Sign in again to sync";
  if (s.status === "error") return "Sync problem";
  if (!online || s.status === "offline") return s.pending ? `Offline · ${s.pending} waiting` : "Offline";
  if (s.pending) return `${s.pending} change${s.pending > 1 ? "s" : ""} waiting`;
  const refused = Object.keys(s.refused || {}).length;
  if (refused) return `${refused} change${refused > 1 ? "s" : ""} not accepted`;
  return s.lastSyncedAt ? `Synced ${formatWhen(s.lastSyncedAt)}` : "Not synced yet";
}

export function SyncPill() {
  const s = useStore((st) => st.sync);
  const online = useStore((st) => st.online);
  const kind = s.status === "syncing" ? "busy" : s.status === "error" || s.status === "expired" ? "problem"
    : !online || s.status === "offline" ? "offline" : s.pending ? "waiting"
    : Object.keys(s.refused || {}).length ? "problem" : "ok";
  return (
    <div class="sync-bar">
      <a href={href.sync()} class={`sync-pill sync-pill--${kind}`} id="sync-status"
        data-status={s.status} data-pending={s.pending || 0} data-synced-at={s.lastSyncedAt || ""}>
        <span class="dot" aria-hidden="true" />
        <span class="visually-hidden">Sync status: </span>{statusText(s, online)}
      </a>
      <button type="button" class="button button--small" onClick={() => sync()} disabled={s.status === "syncing" || !online}>
        Sync<span class="visually-hidden"> now</span>
      </button>
    </div>
  );
}

function RenewForm() {
  const enrolment = useStore((s) => s.enrolment);
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    if (!password) { setError("Enter your password"); return; }
    setBusy(true);
    try {
      await renewDeviceToken(password);
      setPassword("");
      setError(null);
    } catch (err) {
      setError(err.status === 400 || err.status === 401 ? "The password is not right" : err.message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="form narrow" onSubmit={submit} noValidate>
      <ErrorSummary errors={{ "renew-password": error }} />
      <p>Signed in as <strong>{enrolment?.username}</strong>.</p>
      <Field id="renew-password" label="Password for your council account" error={error}>
        <input id="renew-password" type="password" autocomplete="current-password" value={password}
          onInput={(e) => setPassword(e.currentTarget.value)} aria-invalid={Boolean(error)}
          aria-describedby={describedBy("renew-password", { error })} />
      </Field>
      <button type="submit" class="button" disabled={busy}>Sign in and sync</button>
    </form>
  );
}

const PERSISTED = {
  granted: "Yes: the browser keeps this tablet's data until you erase it",
  refused: "No: the browser refused persistent storage",
  unsupported: "No: this browser cannot protect it",
};

export function SyncScreen() {
  const s = useStore((st) => st.sync);
  const online = useStore((st) => st.online);
  const dataVersion = useStore((st) => st.dataVersion);
  const persisted = useStore((st) => st.storagePersisted);
  const [storage, setStorage] = useState(null);
  const [erasing, setErasing] = useState(false);
  const [names, setNames] = useState({});

  useEffect(() => {
    navigator.storage?.estimate?.().then(setStorage).catch(() => {});
    const session = currentSession();
    if (!session) return;
    // Name the records listed below: family and date, from the local index and case documents.
    (async () => {
      const index = await session.replica.loadIndex();
      const ids = new Set([...(s.pendingIds || []), ...Object.keys(s.refused || {}), ...(s.merges || []).map((m) => m.id)]);
      const out = {};
      const caseIds = new Set();
      for (const id of ids) { const e = index.docs[id]; if (e) caseIds.add(e.c); }
      const families = {};
      for (const doc of await session.replica.getMany([...caseIds])) {
        try { families[doc._id] = (await session.vault.open(doc)).family_name; } catch { families[doc._id] = doc.meta?.case_number; }
      }
      for (const id of ids) {
        const e = index.docs[id];
        if (!e) continue;
        const when = e.m.visit_date ? ` on ${formatWhen(e.m.visit_date)}` : "";
        out[id] = `${label(e.t)}${when} – ${families[e.c] || e.m.case_number || "case"}`;
      }
      setNames(out);
    })().catch(() => {});
  }, [dataVersion, s.pending, s.merges?.length, Object.keys(s.refused || {}).length]);

  const nameOf = (id) => names[id] || label(typeOfId(id) || "record"); // never the raw id
  const refused = Object.values(s.refused || {});
  const linkFor = (id) => (id.startsWith("visit:") ? href.visit(id) : null);
  const MB = (n) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${(n / 1024 / 1024).toFixed(1)} MB`);

  return (
    <Page title="Sync">
      <dl class="facts">
        <div><dt>Connection</dt><dd>{online ? "Online" : "Offline"}</dd></div>
        <div><dt>Last synced</dt><dd>{formatWhen(s.lastSyncedAt)}</dd></div>
        <div><dt>Changes waiting to be sent</dt><dd id="sync-waiting">{s.pending || 0}</dd></div>
        {storage?.quota ? <div><dt>Storage used on this tablet</dt><dd>{MB(storage.usage || 0)} of {MB(storage.quota)}</dd></div> : null}
        <div><dt>Protected from clearing</dt><dd id="storage-persisted">{PERSISTED[persisted] || "Checking…"}</dd></div>
      </dl>
      {persisted === "refused" && (
        <Panel kind="warning" title="The browser may clear this tablet's data">
          <p>The browser refused persistent storage, so if the tablet runs short of space it may delete Doorstep's data, including work not yet sent. Sync whenever you have a connection. Adding Doorstep to the home screen usually lets the browser keep it; IT can also allow it in the browser's site settings.</p>
        </Panel>
      )}
      <p role="status" class="sync-message" id="sync-message">{s.status === "syncing" ? statusText(s, online) : s.message}</p>
      <p>
        <button type="button" class="button" onClick={() => sync()} disabled={s.status === "syncing" || !online} id="sync-now">
          {s.status === "syncing" ? "Syncing…" : "Sync now"}
        </button>
      </p>
      {!online && <p class="hint">You are offline. Everything you record is saved on this tablet and sent the next time you sync with a connection.</p>}

      {s.status === "expired" && (
        <Panel kind="warning" title="Sign in again to carry on syncing">
          <p>{s.message}</p>
          <RenewForm />
        </Panel>
      )}
      {s.status === "error" && s.message && <Panel kind="error" title="The last sync did not finish"><p>{s.message}</p></Panel>}

      <section aria-labelledby="refused-title">
        <h2 id="refused-title">Not accepted by the server ({refused.length})</h2>
        {refused.length === 0 ? <p class="subtle">Nothing has been refused.</p> : (
          <ul class="issue-list" id="refused-list">
            {refused.map((r) => (
              <li key={r.id}>
                {linkFor(r.id) ? <a href={linkFor(r.id)}>{nameOf(r.id)}</a> : <strong>{nameOf(r.id)}</strong>}
                <span class="reason">{explainRefusal(r.reason)}</span>
                <span class="subtle">Server's reason: {r.reason}</span>
                <span class="subtle">Kept on this tablet. Refused {formatWhen(r.at)}.</span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="waiting-title">
        <h2 id="waiting-title">Waiting to be sent ({s.pending || 0})</h2>
        {(s.pendingIds || []).length === 0 ? <p class="subtle">Nothing is waiting.</p> : (
          <ul class="issue-list">
            {(s.pendingIds || []).map((id) => <li key={id}>{linkFor(id) ? <a href={linkFor(id)}>{nameOf(id)}</a> : nameOf(id)}</li>)}
          </ul>
        )}
      </section>

      <section aria-labelledby="merges-title">
        <h2 id="merges-title">Merged with other edits ({(s.merges || []).length})</h2>
        {(s.merges || []).length === 0 ? <p class="subtle">No edits have needed merging.</p> : (
          <ul class="issue-list" id="merge-list">
            {s.merges.map((m) => (
              <li key={`${m.id}-${m.at}`}>
                {linkFor(m.id) ? <a href={linkFor(m.id)}>{nameOf(m.id)}</a> : nameOf(m.id)}
                <span class="subtle">Someone else edited this record at the same time; the server combined both versions ({formatWhen(m.at)}).</span>
                {m.review?.length > 0 && <span class="reason">A supervisor will decide: {m.review.map(label).join(", ")}.</span>}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="erase-title">
        <h2 id="erase-title">Erase this tablet</h2>
        <p>For a tablet you are handing back or passing on. Anything not yet sent must reach the server first.</p>
        {!erasing ? (
          <button type="button" class="button button--secondary" onClick={() => setErasing(true)}>Erase this tablet…</button>
        ) : <EraseTablet locked={false} />}
      </section>
    </Page>
  );
}
