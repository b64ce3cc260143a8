// The practitioner's caseload, from the local replica: overdue visits first.
import { useEffect, useMemo, useState } from "preact/hooks";
import { useStore } from "../store.js";
import { currentSession } from "../controller.js";
import { caseloadRows } from "../lib/caseload.js";
import { formatDay } from "../lib/dates.js";
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
