// One case: the family, the people, the visit timescale and history, case notes.
import { useEffect, useState } from "preact/hooks";
import { useStore } from "../store.js";
import { currentSession } from "../controller.js";
import { caseDetail, who } from "../lib/caseload.js";
import { ageOn, formatDateTime, formatDay } from "../lib/dates.js";
import { href } from "../router.js";
import { Badge, Loading, Page, Panel, StatusBadge, label } from "./common.jsx";

export function CaseView({ caseId }) {
  const dataVersion = useStore((s) => s.dataVersion);
  const [detail, setDetail] = useState(undefined);
  const [error, setError] = useState(null);

  useEffect(() => {
    const session = currentSession();
    if (!session) return;
    let live = true;
    caseDetail({ replica: session.replica, vault: session.vault, caseId })
      .then((d) => live && setDetail(d))
      .catch((err) => live && setError(err.message));
    return () => { live = false; };
  }, [caseId, dataVersion]);

  const back = { href: href.caseload(), label: "Caseload" };
  if (error) return <Page title="Case" back={back}><p class="error-message" role="alert">{error}</p></Page>;
  if (detail === undefined) return <Page title="Case" back={back}><Loading /></Page>;
  if (detail === null) {
    return (
      <Page title="Case not on this tablet" back={back}>
        <p>This case is not in your caseload on this tablet. It may have been reallocated; sync to update your caseload.</p>
      </Page>
    );
  }
  const me = currentSession()?.record.user.ref;
  const { meta, content, timescale } = detail;
  const title = content?.family_name || `Case ${meta.case_number}`;
  const children = detail.people.filter((p) => p.role === "child");
  const address = content?.address;

  return (
    <Page
      title={title}
      back={back}
      wide
      actions={detail.canWrite && meta.status === "open"
        ? <a class="button" href={href.newVisit(detail.id)}>Record a visit</a>
        : null}
    >
      <p class="case-meta">
        <span>{meta.case_number}</span> · <span>{label(meta.case_type)}</span> · <span>{meta.status === "open" ? "Open" : "Closed"}</span>
      </p>
      {detail.unreadable && (
        <Panel kind="warning"><p>This tablet does not have the key for this case yet. Sync to fetch it.</p></Panel>
      )}

      <section class={`timescale${timescale.overdue ? " timescale--overdue" : ""}`} aria-labelledby="timescale-title">
        <h2 id="timescale-title" class="visually-hidden">Visit timescale</h2>
        <dl class="facts">
          <div><dt>Next visit due</dt><dd>{formatDay(timescale.due)} {timescale.overdue && <Badge kind="danger">Overdue by {timescale.daysOverdue} working day{timescale.daysOverdue === 1 ? "" : "s"}</Badge>}</dd></div>
          <div><dt>Last visit</dt><dd>{timescale.lastVisitOn ? formatDay(timescale.lastVisitOn) : "None recorded"}</dd></div>
          <div><dt>Visit at least every</dt><dd>{meta.visit_frequency_days} working days</dd></div>
        </dl>
      </section>

      <div class="columns">
        <section aria-labelledby="family-title">
          <h2 id="family-title">Family</h2>
          <dl class="facts facts--stacked">
            <div><dt>Address</dt><dd>{address ? [address.line1, address.line2, address.town, address.postcode].filter(Boolean).join(", ") : "—"}</dd></div>
            {content?.phone && <div><dt>Phone</dt><dd>{content.phone}</dd></div>}
            {content?.language && <div><dt>Language</dt><dd>{content.language}</dd></div>}
            <div><dt>Open since</dt><dd>{formatDay(meta.opened_on)}</dd></div>
          </dl>
          {content?.reason_for_involvement && (<><h3>Why we are involved</h3><p class="prose">{content.reason_for_involvement}</p></>)}
          {content?.summary && (<><h3>Family summary</h3><p class="prose">{content.summary}</p></>)}
        </section>

        <section aria-labelledby="people-title">
          <h2 id="people-title">People</h2>
          {detail.people.length === 0 && <p>No people recorded.</p>}
          <ul class="people">
            {detail.people.map((p) => (
              <li key={p.id}>
                <strong>{p.full_name || "Unreadable record"}</strong>
                {p.preferred_name && <> (“{p.preferred_name}”)</>}
                <span class="subtle">
                  {label(p.role)}
                  {p.date_of_birth && <> · {ageOn(p.date_of_birth)} years (born {formatDay(p.date_of_birth)})</>}
                  {p.relationship && <> · {p.relationship}</>}
                  {p.lives_in_household === false && <> · lives elsewhere</>}
                </span>
                {p.communication_needs && <span class="subtle">Communication: {p.communication_needs}</span>}
              </li>
            ))}
          </ul>
          <p class="subtle">{children.length} child{children.length === 1 ? "" : "ren"} on this case.</p>
        </section>
      </div>

      <section aria-labelledby="visits-title">
        <h2 id="visits-title">Visits</h2>
        {detail.visits.length === 0 && <p>No visits recorded yet.</p>}
        {detail.visits.length > 0 && (
          <table class="table visits">
            <caption class="visually-hidden">Visits to this family, newest first</caption>
            <thead><tr><th scope="col">Date</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Recorded by</th></tr></thead>
            <tbody>
              {detail.visits.map((v) => (
                <tr key={v.id}>
                  <th scope="row"><a href={href.visit(v.id)}>{formatDateTime(v.visit_date)}</a></th>
                  <td>{label(v.visit_type)}</td>
                  <td class="badges">
                    <StatusBadge status={v.status} />
                    {v.waiting && <Badge kind="info">Waiting to sync</Badge>}
                    {v.refused && <Badge kind="danger">Not accepted by server</Badge>}
                    {(v.decisions_pending || []).length > 0 && <Badge kind="warning">Supervisor deciding</Badge>}
                  </td>
                  <td>{who(v.author, me)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {detail.notes.length > 0 && (
        <section aria-labelledby="notes-title">
          <h2 id="notes-title">Case notes</h2>
          <ul class="notes">
            {detail.notes.slice(0, 10).map((n) => (
              <li key={n.id}>
                <details>
                  <summary><strong>{n.subject || label(n.category)}</strong> <span class="subtle">{formatDateTime(n.occurred_at)}</span></summary>
                  <p class="prose">{n.text}</p>
                </details>
              </li>
            ))}
          </ul>
        </section>
      )}
    </Page>
  );
}
