// Supervisor screens over REST (online): the review queue, signing off or returning a visit,
// deciding a conflict between two edits, acknowledging an addendum.
import { useEffect, useState } from "preact/hooks";
import { notify, reviewApi } from "../controller.js";
import { formatDateTime, formatDay } from "../lib/dates.js";
import { href } from "../router.js";
import { Badge, ErrorSummary, Field, Loading, Page, Panel, StatusBadge, describedBy, label } from "./common.jsx";
import { VisitRecord } from "./visitView.jsx";
import { useStore } from "../store.js";

function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState({ data: null, error: null });
    load().then((data) => live && setState({ data, error: null }), (error) => live && setState({ data: null, error }));
    return () => { live = false; };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

function LoadError({ error }) {
  return (
    <Panel kind="error" title="This could not be loaded">
      <p>{error.offline ? "You appear to be offline. The review screens need a connection." : error.message}</p>
    </Panel>
  );
}

/** Names for user references on a case: its workers (from allocations) and the signed-in user. */
async function namesForCase(caseId, me) {
  const names = {};
  if (me) names[me.ref] = `${me.first_name} ${me.last_name} (you)`;
  try {
    for (const a of await reviewApi(`cases/${encodeURIComponent(caseId)}/allocations/?history=1`)) {
      names[`u:${a.user}`] ??= a.name;
    }
  } catch { /* names are a courtesy */ }
  return names;
}
const nameFrom = (names) => (ref) => names[ref] || (ref ? ref.replace("u:", "user ") : "unknown");

export function ReviewQueue() {
  const { data, error } = useLoad(() => reviewApi("review/queue/"), []);
  return (
    <Page title="Review queue" wide>
      {error && <LoadError error={error} />}
      {!data && !error && <Loading label="Loading the review queue" />}
      {data && (
        <>
          <nav aria-label="Queue sections" class="section-nav">
            <a href="#q-awaiting" onClick={jump}>Awaiting sign-off ({data.awaiting_sign_off.length})</a>
            <a href="#q-conflicts" onClick={jump}>Conflicts ({data.conflicts.length})</a>
            <a href="#q-addenda" onClick={jump}>Addenda ({data.addenda.length})</a>
            <a href="#q-overdue" onClick={jump}>Overdue visits ({data.overdue.length})</a>
            <a href="#q-late" onClick={jump}>Late edits ({(data.late_edits || []).length})</a>
          </nav>
          <section aria-labelledby="q-awaiting" class="queue-section">
            <h2 id="q-awaiting" tabIndex={-1}>Awaiting sign-off ({data.awaiting_sign_off.length})</h2>
            {data.awaiting_sign_off.length === 0 ? <p class="subtle">No visits are waiting for you.</p> : (
              <table class="table">
                <thead><tr><th scope="col">Case</th><th scope="col">Visit</th><th scope="col">Worker</th><th scope="col">Submitted</th></tr></thead>
                <tbody>
                  {data.awaiting_sign_off.map((v) => (
                    <tr key={v.id}>
                      <th scope="row"><a href={href.reviewVisit(v.id)}>{v.case_number}</a></th>
                      <td>{formatDateTime(v.visit_date)} {v.needs_decision && <Badge kind="warning">Needs a decision</Badge>}</td>
                      <td>{v.author || "—"}</td>
                      <td>{formatDateTime(v.submitted_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section aria-labelledby="q-conflicts" class="queue-section">
            <h2 id="q-conflicts" tabIndex={-1}>Conflicts to decide ({data.conflicts.length})</h2>
            {data.conflicts.length === 0 ? <p class="subtle">No conflicting edits to decide.</p> : (
              <table class="table">
                <thead><tr><th scope="col">Case</th><th scope="col">Record</th><th scope="col">What differs</th><th scope="col">Since</th></tr></thead>
                <tbody>
                  {data.conflicts.map((c) => (
                    <tr key={c.id}>
                      <th scope="row"><a href={href.reviewConflict(c.id)}>{c.case_number}</a></th>
                      <td>{label(c.document_type)}</td>
                      <td>{fieldLabel(c.field)} <span class="subtle">{c.candidates.length} versions</span></td>
                      <td>{formatDateTime(c.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section aria-labelledby="q-addenda" class="queue-section">
            <h2 id="q-addenda" tabIndex={-1}>Open addenda ({data.addenda.length})</h2>
            {data.addenda.length === 0 ? <p class="subtle">No addenda to acknowledge.</p> : (
              <table class="table">
                <thead><tr><th scope="col">Case</th><th scope="col">Corrects visit</th><th scope="col">Added</th></tr></thead>
                <tbody>
                  {data.addenda.map((a) => (
                    <tr key={a.id}>
                      <th scope="row"><a href={href.reviewAddendum(a.id)}>{a.case_number}</a></th>
                      <td>{a.visit_id ? <a href={href.reviewVisit(a.visit_id)}>Open the visit<span class="visually-hidden"> for {a.case_number}</span></a> : "—"}</td>
                      <td>{formatDateTime(a.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section aria-labelledby="q-overdue" class="queue-section">
            <h2 id="q-overdue" tabIndex={-1}>Overdue statutory visits ({data.overdue.length})</h2>
            {data.overdue.length === 0 ? <p class="subtle">No visits are overdue.</p> : (
              <table class="table">
                <thead><tr><th scope="col">Case</th><th scope="col">Team</th><th scope="col">Last visit</th><th scope="col">Was due</th><th scope="col">Overdue by</th></tr></thead>
                <tbody>
                  {data.overdue.map((o) => (
                    <tr key={o.case_id}>
                      <th scope="row">{o.case_number}<span class="subtle">{label(o.case_type)}</span></th>
                      <td>{o.team}</td>
                      <td>{o.last_visit_on ? formatDay(o.last_visit_on) : "None"}</td>
                      <td>{formatDay(o.next_visit_due)}</td>
                      <td><Badge kind="danger">{o.working_days_overdue} working day{o.working_days_overdue === 1 ? "" : "s"}</Badge></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section aria-labelledby="q-late" class="queue-section">
            <h2 id="q-late" tabIndex={-1}>Late edits ({(data.late_edits || []).length})</h2>
            <p class="subtle">Edits a worker made offline before their allocation ended, received afterwards. They are saved on the record; check them.</p>
            {(data.late_edits || []).length === 0 ? <p class="subtle">No late edits in the last 30 days.</p> : (
              <table class="table">
                <thead><tr><th scope="col">Case</th><th scope="col">Record</th><th scope="col">Worker</th><th scope="col">Received</th></tr></thead>
                <tbody>
                  {data.late_edits.map((e) => (
                    <tr key={`${e.id}-${e.rev}`}>
                      <th scope="row">{e.case_number}</th>
                      <td>{e.document_type === "visit" ? <a href={href.reviewVisit(e.id)}>Visit<span class="visually-hidden"> on {e.case_number}</span></a> : label(e.document_type)}</td>
                      <td>{e.author || "—"}</td>
                      <td>{formatDateTime(e.at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
    </Page>
  );
}

function jump(e) {
  e.preventDefault();
  const target = document.getElementById(e.currentTarget.getAttribute("href").slice(1));
  target?.focus();
  target?.scrollIntoView({ block: "start" });
}

const fieldLabel = (field) => (field === "(document)" ? "The whole record" : field.split(/[./]/).filter(Boolean).map(label).join(" › "));

async function peopleOf(caseId) {
  const list = await reviewApi(`cases/${encodeURIComponent(caseId)}/people/?page_size=100`);
  const items = list.results || list;
  const people = {};
  await Promise.all(items.map(async (p) => {
    try { people[p.id] = (await reviewApi(`people/${encodeURIComponent(p.id)}/`)).content; } catch { /* unnamed */ }
  }));
  return people;
}

export function ReviewVisit({ visitId }) {
  const user = useStore((s) => s.user);
  const { data, error, reload } = useLoad(async () => {
    const visit = await reviewApi(`visits/${encodeURIComponent(visitId)}/`);
    const [kase, people, names] = await Promise.all([
      reviewApi(`cases/${encodeURIComponent(visit.case_id)}/`),
      peopleOf(visit.case_id),
      namesForCase(visit.case_id, user),
    ]);
    return { visit, kase, people, names };
  }, [visitId]);
  const [comment, setComment] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const back = { href: href.caseload(), label: "Review queue" };

  if (error) return <Page title="Visit" back={back}><LoadError error={error} /></Page>;
  if (!data) return <Page title="Visit" back={back}><Loading /></Page>;
  const { visit, kase, people, names } = data;
  const content = visit.content;

  async function act(action) {
    if (action === "return" && !comment.trim()) {
      setErrors({ "review-comment": "Say what the worker needs to change before you return the visit" });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      await reviewApi(`visits/${encodeURIComponent(visitId)}/${action === "sign_off" ? "sign-off" : "return"}/`, {
        method: "POST", body: { rev: visit.rev, comment: comment.trim() },
      });
      notify("success", action === "sign_off" ? "Visit signed off." : "Visit returned to the worker with your comment.");
      setComment("");
      location.hash = href.caseload();
    } catch (err) {
      setErrors({ "review-comment": err.code === "stale_revision" || err.status === 409
        ? "The visit changed since you opened it. The latest version is shown; check it and try again."
        : err.message });
      if (err.status === 409) reload();
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={`${kase.family_name || kase.case_number}: visit on ${formatDateTime(content.visit_date)}`} back={back} wide>
      <p class="case-meta">{kase.case_number} · {label(kase.case_type)} · recorded by {nameFrom(names)(content.author)} <StatusBadge status={content.status} /></p>
      <VisitRecord content={content} people={people} nameOf={nameFrom(names)} />
      {content.status === "submitted" && (
        <section class="form-section" aria-labelledby="decision-title">
          <h2 id="decision-title">Your decision</h2>
          <ErrorSummary errors={errors} />
          <Field id="review-comment" label="Comment" hint="Needed when you return the visit; optional when you sign it off." error={errors["review-comment"]}>
            <textarea id="review-comment" rows={4} maxLength={4000} value={comment} onInput={(e) => setComment(e.currentTarget.value)}
              aria-invalid={Boolean(errors["review-comment"])} aria-describedby={describedBy("review-comment", { hint: true, error: errors["review-comment"] })} />
          </Field>
          <div class="button-row">
            <button type="button" class="button" disabled={busy} onClick={() => act("sign_off")}>Sign off</button>
            <button type="button" class="button button--secondary" disabled={busy} onClick={() => act("return")}>Return to worker</button>
          </div>
        </section>
      )}
    </Page>
  );
}

function Value({ value }) {
  if (value === true) return <p>Yes</p>;
  if (value === false) return <p>No</p>;
  if (value === null || value === undefined || value === "") return <p class="subtle">(empty)</p>;
  if (typeof value === "string") return <p class="prose">{/^[a-z_]+$/.test(value) ? label(value) : value}</p>;
  if (typeof value === "number") return <p>{value}</p>;
  return <pre class="prose">{JSON.stringify(value, null, 2)}</pre>;
}

/** How a decision was made, in words ("kept Amy Worker's version", "kept both versions"). */
function decisionWords(conflict, nameOf) {
  if (conflict.decision === "both") return "kept both versions";
  if (conflict.decision === "own") return conflict.rule === "text" ? "wrote a reconciled text" : "chose a value of their own";
  const kept = conflict.candidates[conflict.decision_choice];
  if (conflict.decision === "version" && kept) return `kept ${kept.by?.name || nameOf(kept.author)}'s version`;
  return "decided";
}

export function ReviewConflict({ conflictId }) {
  const user = useStore((s) => s.user);
  const { data, error } = useLoad(async () => {
    const conflict = await reviewApi(`review/conflicts/${encodeURIComponent(conflictId)}/`);
    const names = await namesForCase(conflict.case_id, user);
    return { conflict, names };
  }, [conflictId]);
  // "v0", "v1" … keep that version; "both" keep every version (text); "own" a reconciled text.
  const [choice, setChoice] = useState(null);
  const [own, setOwn] = useState("");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const back = { href: href.caseload(), label: "Review queue" };

  if (error) return <Page title="Conflict" back={back}><LoadError error={error} /></Page>;
  if (!data) return <Page title="Conflict" back={back}><Loading /></Page>;
  const { conflict, names } = data;
  const nameOf = nameFrom(names);
  const author = (c) => c.by?.name || nameOf(c.author);
  // One person's two tablets: tell their versions apart by the tablet's name.
  const shared = (c) => conflict.candidates.filter((o) => o.author === c.author).length > 1;
  const version = (c, i) =>
    `${author(c)}'s version${shared(c) ? ` from ${c.device_name ? `“${c.device_name}”` : `tablet ${i + 1}`}` : ""}`;
  const text = conflict.rule === "text" && conflict.candidates.every((c) => typeof c.value === "string");
  const decided = Boolean(conflict.decided_at);
  const needsReason = choice === "both" || choice === "own";

  async function decide(e) {
    e.preventDefault();
    const problems = {};
    if (choice === null) problems["choice-0"] = "Choose what the record should keep";
    if (choice === "own" && !own.trim()) problems["decision-own"] = "Write the reconciled text";
    if (needsReason && !reason.trim()) problems["decision-reason"] = "Say why, when keeping both versions or writing your own";
    setErrors(problems);
    if (Object.keys(problems).length) return;
    const body = choice === "both" ? { both: true } : choice === "own" ? { value: own } : { choice: Number(choice.slice(1)) };
    setBusy(true);
    try {
      await reviewApi(`review/conflicts/${encodeURIComponent(conflictId)}/decide/`, { method: "POST", body: { ...body, reason } });
      notify("success", "Decision recorded. Workers' tablets get it at their next sync.");
      location.hash = href.caseload();
    } catch (err) {
      setErrors({ [err.field === "reason" ? "decision-reason" : "choice-0"]: err.message });
    } finally {
      setBusy(false);
    }
  }

  const option = (value, id, text_) => (
    <div class="radio">
      <input type="radio" id={id} name="choice" checked={choice === value} onChange={() => setChoice(value)} disabled={decided} />
      <label for={id}>{text_}</label>
    </div>
  );

  return (
    <Page title={`Decide: ${fieldLabel(conflict.field)}`} back={back} wide>
      <p class="case-meta">{conflict.case_number} · {label(conflict.document_type)} · edits made at the same time disagreed</p>
      {conflict.document_type === "visit" && <p><a href={href.reviewVisit(conflict.document_id)}>Open the whole visit</a></p>}
      {decided ? (
        <Panel kind="success">
          <p>
            {conflict.decided_by?.name || "A supervisor"} {decisionWords(conflict, nameOf)} on {formatDateTime(conflict.decided_at)}.
          </p>
          {conflict.reason && <p>Reason: {conflict.reason}</p>}
        </Panel>
      ) : null}
      <ErrorSummary errors={errors} />
      <form onSubmit={decide} noValidate>
        <fieldset class="compare">
          <legend>What should the record keep?</legend>
          <div class="compare-grid">
            {conflict.base !== undefined && (
              <div class="compare-col compare-col--base">
                <h2>Before either edit</h2>
                <Value value={conflict.base} />
              </div>
            )}
            {conflict.candidates.map((c, i) => (
              <div class={`compare-col${choice === `v${i}` ? " compare-col--chosen" : ""}`} key={c.rev || i}>
                <h2>{version(c, i)}</h2>
                <p class="subtle">Edited {formatDateTime(c.edited_at)}</p>
                <Value value={c.value} />
                {option(`v${i}`, `choice-${i}`, `Keep ${version(c, i)}`)}
              </div>
            ))}
          </div>
          {text && option("both", "choice-both", "Keep both versions, one after the other")}
          {text && option("own", "choice-own", "Write a reconciled text")}
        </fieldset>
        {choice === "own" && (
          <Field id="decision-own" label="Reconciled text" error={errors["decision-own"]}>
            <textarea id="decision-own" rows={8} value={own} onInput={(e) => setOwn(e.currentTarget.value)}
              aria-describedby={describedBy("decision-own", { error: errors["decision-own"] })} />
          </Field>
        )}
        {!decided && (
          <Field id="decision-reason" label="Reason" optional={!needsReason}
            hint="Kept with the decision and shown to the workers whose edits these were."
            error={errors["decision-reason"]}>
            <textarea id="decision-reason" rows={3} maxLength={2000} value={reason} onInput={(e) => setReason(e.currentTarget.value)}
              aria-describedby={describedBy("decision-reason", { hint: true, error: errors["decision-reason"] })} />
          </Field>
        )}
        {!decided && <button type="submit" class="button" disabled={busy}>Record decision</button>}
      </form>
    </Page>
  );
}

export function ReviewAddendum({ addendumId }) {
  const user = useStore((s) => s.user);
  const { data, error } = useLoad(async () => {
    const addendum = await reviewApi(`addenda/${encodeURIComponent(addendumId)}/`);
    return { addendum, names: await namesForCase(addendum.case_id, user) };
  }, [addendumId]);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  const back = { href: href.caseload(), label: "Review queue" };
  if (error) return <Page title="Addendum" back={back}><LoadError error={error} /></Page>;
  if (!data) return <Page title="Addendum" back={back}><Loading /></Page>;
  const { addendum, names } = data;
  const c = addendum.content;

  async function acknowledge() {
    setBusy(true);
    try {
      await reviewApi(`addenda/${encodeURIComponent(addendumId)}/acknowledge/`, { method: "POST", body: { rev: addendum.rev } });
      notify("success", "Addendum acknowledged.");
      location.hash = href.caseload();
    } catch (err) {
      setProblem(err.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title="Addendum to a signed-off visit" back={back} wide>
      <p class="case-meta">By {nameFrom(names)(c.author)}, {formatDateTime(c.created_at)} · {c.status === "open" ? "Open" : "Acknowledged"}</p>
      {c.visit_id && <p><a href={href.reviewVisit(c.visit_id)}>Open the signed-off visit</a></p>}
      {c.reason && (<><h2>Why</h2><p class="prose">{c.reason}</p></>)}
      <h2>Correction</h2>
      <p class="prose">{c.text}</p>
      {c.proposed_changes && Object.keys(c.proposed_changes).length > 0 && (
        <><h2>Changes proposed</h2><Value value={c.proposed_changes} /></>
      )}
      {problem && <p class="error-message" role="alert">{problem}</p>}
      {c.status === "open" && <button type="button" class="button" disabled={busy} onClick={acknowledge}>Acknowledge</button>}
    </Page>
  );
}
