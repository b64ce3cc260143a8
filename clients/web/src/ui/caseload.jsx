// The practitioner's caseload, from the local replica: overdue visits first.
import { useEffect, useMemo, useState } from "preact/hooks";
import { useStore } from "../store.js";
import { currentSession, dismissAttention, restoreOnOpen } from "../controller.js";
import { caseloadRows } from "../lib/caseload.js";
import { formatDay, formatSince, formatWhen } from "../lib/dates.js";
import { recordPerf } from "../lib/perf.js";
import { href } from "../router.js";
import { Badge, Loading, Page, label } from "./common.jsx";


export function Caseload() {
  const dataVersion = useStore((s) => s.dataVersion);
  const user = useStore((s) => s.user);
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  const [query, setQuery] = useState("");
  const [show, setShow] = useState("all");

  useEffect(() => {
    const session = currentSession();
    if (!session) return;
    let live = true;
    const started = performance.now();
    caseloadRows({ replica: session.replica, vault: session.vault, me: session.record.user.ref })
      .then((result) => {
        if (!live) return;
        setRows(result);
        // Measured to the frame after the list is in the DOM: what the user waits for.
        requestAnimationFrame(() => setTimeout(() => recordPerf("caseload-render", performance.now() - started, { rows: result.length }), 0));
      })
      .catch((err) => live && setError(err.message));
    return () => { live = false; };
  }, [dataVersion]);

  const visible = useMemo(() => {
    if (!rows) return [];
    const q = query.trim().toLowerCase();
    return rows.filter((r) =>
      (show === "all" || (show === "overdue" && r.timescale.overdue) || (show === "drafts" && (r.drafts || r.returned)))
      && (!q || (r.familyName || "").toLowerCase().includes(q) || (r.caseNumber || "").toLowerCase().includes(q)));
  }, [rows, query, show]);

  const overdue = rows ? rows.filter((r) => r.timescale.overdue).length : 0;
  const drafts = rows ? rows.filter((r) => r.drafts || r.returned).length : 0;

  return (
    <Page title="Your caseload">
      {rows && <UnsavedForms rows={rows} />}
      <Attention />
      {error && <p class="error-message" role="alert">The caseload could not be read: {error}</p>}
      {!rows && !error && <Loading label="Opening your caseload" />}
      {rows && rows.length === 0 && (
        <div class="empty">
          <p>There are no cases on this tablet yet.</p>
          <p>Sync while you have a connection to download the cases allocated to you, {user?.first_name}.</p>
        </div>
      )}
      {rows && rows.length > 0 && (
        <>
          <p class="summary" aria-live="polite">
            {rows.length} case{rows.length === 1 ? "" : "s"}
            {overdue > 0 && <> · <strong class="text-danger">{overdue} overdue</strong></>}
            {drafts > 0 && <> · {drafts} with drafts or returned visits</>}
          </p>
          <div class="toolbar">
            <div class="field field--inline">
              <label for="caseload-search">Search by family name or case number</label>
              <input id="caseload-search" type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
            </div>
            <fieldset class="segmented">
              <legend>Show</legend>
              {[["all", "All cases"], ["overdue", "Overdue"], ["drafts", "Drafts and returned"]].map(([value, text]) => (
                <label key={value} class={show === value ? "selected" : ""}>
                  <input type="radio" name="caseload-show" value={value} checked={show === value} onChange={() => setShow(value)} />
                  {text}
                </label>
              ))}
            </fieldset>
          </div>
          <table class="table caseload">
            <caption class="visually-hidden">Cases allocated to you, overdue visits first</caption>
            <thead>
              <tr><th scope="col">Family</th><th scope="col">Case</th><th scope="col">Next visit due</th><th scope="col">Visits</th></tr>
            </thead>
            <tbody>
              {visible.map((row) => (
                <tr key={row.id} class={row.timescale.overdue ? "row--overdue" : ""}>
                  <th scope="row">
                    <a href={href.case(row.id)} class="case-link">{row.familyName ?? "Case locked: sync to get its key"}</a>
                    <span class="subtle">{row.town}</span>
                  </th>
                  <td>{row.caseNumber}<span class="subtle">{label(row.caseType)}</span></td>
                  <td>
                    {formatDay(row.timescale.due)}
                    {row.timescale.overdue && <> <Badge kind="danger">Overdue {row.timescale.daysOverdue} working day{row.timescale.daysOverdue === 1 ? "" : "s"}</Badge></>}
                    {row.status === "closed" && <> <Badge>Closed</Badge></>}
                  </td>
                  <td class="badges">
                    {row.drafts > 0 && <Badge>{row.drafts} draft{row.drafts > 1 ? "s" : ""}</Badge>}
                    {row.returned > 0 && <Badge kind="warning">{row.returned} returned</Badge>}
                    {row.submitted > 0 && <Badge kind="info">{row.submitted} awaiting sign-off</Badge>}
                    {row.waiting > 0 && <Badge kind="info">{row.waiting} waiting to sync</Badge>}
                    {row.refused > 0 && <Badge kind="danger">{row.refused} not accepted</Badge>}
                    {row.needsDecision && <Badge kind="warning">Supervisor deciding</Badge>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {visible.length === 0 && <p>No cases match.</p>}
        </>
      )}
    </Page>
  );
}

/** Forms in progress that were never saved (the app closed, crashed or locked): restore or discard. */
function UnsavedForms({ rows }) {
  const dataVersion = useStore((s) => s.dataVersion);
  const [forms, setForms] = useState([]);
  const [changed, setChanged] = useState(0);
  useEffect(() => {
    let live = true;
    currentSession()?.autosaves.list().then((list) => live && setForms(list)).catch(() => {});
    return () => { live = false; };
  }, [dataVersion, changed]);
  if (!forms.length) return null;
  const family = (caseId) => {
    const name = rows.find((r) => r.id === caseId)?.familyName;
    if (!name) return "a case on this tablet";
    return /family$/i.test(name) ? `the ${name}` : `the ${name} family`;
  };
  return (
    <section class="panel panel--warning" aria-labelledby="unsaved-title" id="unsaved-forms">
      <h2 class="panel-title" id="unsaved-title">Unsaved changes</h2>
      <ul class="issue-list">
        {forms.map((f) => (
          <li key={f.key}>
            <span>Unsaved changes from {formatSince(f.savedAt)} to {f.recordId ? "a" : "a new"} {f.kind} for {family(f.caseId)}.</span>
            <span class="button-row">
              <a class="button button--small" href={f.route} onClick={() => restoreOnOpen(f.key)}>
                Restore<span class="visually-hidden"> the changes from {formatSince(f.savedAt)}</span>
              </a>
              <button type="button" class="button button--small button--secondary"
                onClick={async () => { await currentSession()?.autosaves.discard(f.key); setChanged((n) => n + 1); }}>
                Discard<span class="visually-hidden"> the changes from {formatSince(f.savedAt)}</span>
              </button>
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

const KIND_LABEL = {
  returned: "Returned", decision: "Decision", addendum: "Addendum", late_edit: "Late edit", case_removed: "Case removed",
};
const KIND_BADGE = { returned: "warning", decision: "info", addendum: "info", late_edit: "warning", case_removed: "neutral" };

/** What became of the user's work, in words and names, kept until they dismiss each item. */
function Attention() {
  const items = useStore((s) => s.attention);
  const [busy, setBusy] = useState(null);
  if (!items?.length) return null;
  return (
    <section class="attention" aria-labelledby="attention-title" id="attention">
      <h2 id="attention-title">For your attention ({items.length})</h2>
      <ul class="issue-list">
        {items.map((item) => (
          <li key={item.id} class="attention-item">
            <span><Badge kind={KIND_BADGE[item.kind] || "neutral"}>{KIND_LABEL[item.kind] || label(item.kind)}</Badge>{" "}
              {item.record_id?.startsWith("visit:")
                ? <a href={href.visit(item.record_id)}>{item.title}</a>
                : <strong>{item.title}</strong>}
            </span>
            {item.comment && <blockquote class="attention-comment">{item.comment}</blockquote>}
            <span class="subtle">
              {item.status && <>Status: <strong class="attention-status">{item.status}</strong> · </>}
              {item.case_number} · {formatWhen(item.at)}
            </span>
            <span>
              <button type="button" class="button button--small button--secondary" disabled={busy === item.id}
                onClick={() => { setBusy(item.id); dismissAttention(item.id).finally(() => setBusy(null)); }}>
                Dismiss<span class="visually-hidden">: {item.title}</span>
              </button>
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
