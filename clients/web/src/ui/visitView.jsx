// A visit record, read-only: for submitted and signed-off visits, and for the supervisor.
import { formatDateTime, formatDay } from "../lib/dates.js";
import { Badge, StatusBadge, label } from "./common.jsx";

const yesNo = (v) => (v === true ? "Yes" : v === false ? "No" : "Not recorded");

function Text({ title, value }) {
  return (
    <section class="record-section">
      <h2>{title}</h2>
      {value ? <p class="prose">{value}</p> : <p class="subtle">Nothing recorded.</p>}
    </section>
  );
}

export function transitionsOf(content) {
  return [...(content?.transitions || [])].sort((a, b) => (a.at || "").localeCompare(b.at || ""));
}

export function lastReturn(content) {
  return transitionsOf(content).filter((t) => t.action === "return").pop() || null;
}

export function VisitRecord({ content, people = {}, nameOf = (ref) => ref }) {
  const present = content.people_present || [];
  const seen = content.children_seen || [];
  const actions = content.actions || [];
  return (
    <div class="record">
      <dl class="facts">
        <div><dt>Date of visit</dt><dd>{formatDateTime(content.visit_date)}</dd></div>
        <div><dt>Type</dt><dd>{label(content.visit_type)}</dd></div>
        <div><dt>Status</dt><dd><StatusBadge status={content.status} /></dd></div>
        <div><dt>Risk level</dt><dd>{content.risk_level ? <Badge kind={["high", "critical"].includes(content.risk_level) ? "danger" : "neutral"}>{label(content.risk_level)}</Badge> : "Not recorded"}</dd></div>
      </dl>
      {(content.decisions_pending || []).length > 0 && (
        <p class="panel panel--warning">Edits made at the same time disagreed on: {content.decisions_pending.map(label).join(", ")}. A supervisor will decide; until then the record shows the cautious answer.</p>
      )}
      <section class="record-section">
        <h2>People present</h2>
        {present.length ? (
          <ul>{present.map((p) => <li key={p.id}>{p.name}{p.relationship && <span class="subtle"> – {p.relationship}</span>}</li>)}</ul>
        ) : <p class="subtle">Nobody recorded.</p>}
      </section>
      <section class="record-section">
        <h2>Children seen</h2>
        {seen.length ? (
          <table class="table">
            <thead><tr><th scope="col">Child</th><th scope="col">Seen</th><th scope="col">Seen alone</th><th scope="col">Why not</th></tr></thead>
            <tbody>
              {seen.map((c) => (
                <tr key={c.person_id}>
                  <th scope="row">{people[c.person_id]?.full_name || "Child"}</th>
                  <td>{yesNo(c.seen)}</td>
                  <td>{c.seen ? yesNo(c.seen_alone) : "—"}</td>
                  <td>{c.reason_not_seen_alone || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : <p class="subtle">Nothing recorded.</p>}
      </section>
      <Text title="Home environment" value={content.home_environment} />
      <Text title="Observations" value={content.observations} />
      <Text title="The child's voice" value={content.child_voice} />
      <Text title="Analysis" value={content.analysis} />
      <Text title="Risk concerns" value={content.risk_concerns} />
      <section class="record-section">
        <h2>Actions</h2>
        {actions.length ? (
          <table class="table">
            <thead><tr><th scope="col">Action</th><th scope="col">Who</th><th scope="col">By</th><th scope="col">Done</th></tr></thead>
            <tbody>
              {actions.map((a) => (
                <tr key={a.id}><th scope="row" class="prose">{a.text}</th><td>{a.owner || "—"}</td><td>{a.due_date ? formatDay(a.due_date) : "—"}</td><td>{a.done ? "Yes" : "No"}</td></tr>
              ))}
            </tbody>
          </table>
        ) : <p class="subtle">No actions.</p>}
      </section>
      {transitionsOf(content).length > 0 && (
        <section class="record-section">
          <h2>History</h2>
          <ol class="history">
            {transitionsOf(content).map((t) => (
              <li key={t.id}>
                <strong>{{ submit: "Submitted", sign_off: "Signed off", return: "Returned", decide: "Decision recorded", addendum: "Addendum" }[t.action] || label(t.action)}</strong>
                {" "}by {nameOf(t.by)}, {formatDateTime(t.at)}
                {t.comment && <blockquote>{t.comment}</blockquote>}
              </li>
            ))}
          </ol>
        </section>
      )}
    </div>
  );
}
