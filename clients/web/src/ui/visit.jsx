// Recording a home visit (schemas/visit.schema.json): saved as a draft on the tablet, then
// submitted for sign-off. Submitted and signed-off visits are shown read-only. What is typed is
// autosaved (sealed) as it is typed, and offered back if the app was closed before saving.
import { useEffect, useRef, useState } from "preact/hooks";
import { useStore } from "../store.js";
import { currentSession, notify, saveVisit, takeResumeAfterLock } from "../controller.js";
import { caseDetail, who } from "../lib/caseload.js";
import { addWorkingDays, ageOn, formatDateTime, formatSince, fromLocalInput, localDay, toLocalInput } from "../lib/dates.js";
import { correctedNow } from "../lib/clock.js";
import { explainRefusal } from "../lib/errors.js";
import { enumOf, maxLengthOf, visitItem } from "../lib/schemas.js";
import { ulid } from "../lib/ulid.js";
import { href } from "../router.js";
import { ErrorSummary, Field, Loading, Page, Panel, StatusBadge, describedBy, label } from "./common.jsx";
import { VisitRecord, lastReturn } from "./visitView.jsx";
import { useAutosave } from "./useAutosave.js";

/** The autosave slot of a visit form: the record's, or the case's new visit. */
export const visitFormKey = (visitId, caseId) => (visitId ? `visit/${visitId}` : `visit/new/${caseId}`);

const TEXTS = [
  ["home_environment", "Home environment", "Condition of the home, who lives there, anything you noticed about the household."],
  ["observations", "Observations", "What you saw and heard during the visit."],
  ["child_voice", "The child's voice", "The child's wishes, feelings and words, in their own terms."],
  ["analysis", "Analysis", "Your analysis of risk and need."],
];
const VISIT_TYPES = enumOf("visit", "visit_type");
const RISK_LEVELS = enumOf("visit", "risk_level");
const RISK_HINT = {
  none: "No current concerns", low: "Some concerns, well managed", medium: "Concerns that need a plan",
  high: "Serious concerns", critical: "Immediate risk of harm",
};

/** Form fields from stored content (or a blank visit for `children`). */
function formFrom(content, children) {
  const seen = Object.fromEntries((content?.children_seen || []).map((c) => [c.person_id, c]));
  return {
    visit_date: toLocalInput(content?.visit_date ?? correctedNow()),
    visit_type: content?.visit_type || "",
    people_present: content?.people_present || [],
    children_seen: children.map((child) => ({
      person_id: child.id,
      seen: seen[child.id]?.seen,
      seen_alone: seen[child.id]?.seen_alone,
      reason_not_seen_alone: seen[child.id]?.reason_not_seen_alone || "",
    })).concat((content?.children_seen || []).filter((c) => !children.some((ch) => ch.id === c.person_id))),
    home_environment: content?.home_environment || "",
    observations: content?.observations || "",
    child_voice: content?.child_voice || "",
    analysis: content?.analysis || "",
    actions: content?.actions || [],
    risk_level: content?.risk_level || "",
    risk_concerns: content?.risk_concerns || "",
  };
}

/** Stored fields from the form (unanswered questions left out, as the schema allows). */
function contentFrom(form, frequencyDays) {
  const visitDate = form.visit_date ? fromLocalInput(form.visit_date) : undefined;
  return {
    visit_date: visitDate,
    visit_type: form.visit_type || undefined,
    people_present: form.people_present.map((p) => ({ id: p.id, name: p.name.trim(), ...(p.relationship ? { relationship: p.relationship.trim() } : {}) }))
      .filter((p) => p.name),
    children_seen: form.children_seen.filter((c) => c.seen !== undefined).map((c) => ({
      person_id: c.person_id,
      seen: c.seen,
      ...(c.seen && c.seen_alone !== undefined ? { seen_alone: c.seen_alone } : {}),
      ...(c.reason_not_seen_alone && (c.seen === false || c.seen_alone === false) ? { reason_not_seen_alone: c.reason_not_seen_alone } : {}),
    })),
    home_environment: form.home_environment,
    observations: form.observations,
    child_voice: form.child_voice,
    analysis: form.analysis,
    actions: form.actions.filter((a) => a.text.trim()).map((a) => ({
      id: a.id, text: a.text.trim(), ...(a.owner ? { owner: a.owner } : {}), due_date: a.due_date || null, done: Boolean(a.done),
    })),
    risk_level: form.risk_level || undefined,
    risk_concerns: form.risk_concerns,
    next_visit_due: visitDate && frequencyDays ? addWorkingDays(localDay(new Date(visitDate)), frequencyDays) : undefined,
  };
}

function validate(form, children, { submit }) {
  const errors = {};
  if (!form.visit_date) errors.visit_date = "Enter the date and time of the visit";
  // "The future" by the server's clock: a tablet clock running behind must not refuse today's visit.
  else if (new Date(form.visit_date) > new Date(Date.parse(correctedNow()) + 60 * 60_000)) errors.visit_date = "The visit date cannot be in the future";
  if (!form.visit_type) errors["visit_type-statutory"] = "Choose the type of visit";
  if (!submit) return errors;
  form.children_seen.forEach((c, i) => {
    const name = children.find((ch) => ch.id === c.person_id)?.full_name || "the child";
    if (c.seen === undefined) errors[`seen-${i}-true`] = `Say whether ${name} was seen`;
    else if (c.seen && c.seen_alone === undefined) errors[`alone-${i}-true`] = `Say whether ${name} was seen alone`;
    else if ((c.seen === false || c.seen_alone === false) && !c.reason_not_seen_alone.trim()) {
      errors[`reason-${i}`] = `Explain why ${name} was not ${c.seen === false ? "seen" : "seen alone"}`;
    }
  });
  if (!form.observations.trim()) errors.observations = "Enter what you observed";
  if (!form.risk_level) errors["risk_level-none"] = "Choose a risk level";
  form.actions.forEach((a, i) => {
    if (!a.text.trim() && (a.owner || a.due_date)) errors[`action-${i}-text`] = `Describe action ${i + 1}, or remove it`;
  });
  return errors;
}

function Radios({ name, legend, hint, options, value, onChange, error, idPrefix, inline = true }) {
  return (
    <fieldset class={`field radios${inline ? " radios--inline" : ""}${error ? " field--error" : ""}`}
      aria-describedby={describedBy(idPrefix, { hint, error })}>
      <legend>{legend}</legend>
      {hint && <p class="hint" id={`${idPrefix}-hint`}>{hint}</p>}
      {error && <p class="error-message" id={`${idPrefix}-error`}><span class="visually-hidden">Error:</span> {error}</p>}
      {options.map(([v, text, sub]) => (
        <div class="radio" key={String(v)}>
          <input type="radio" id={`${idPrefix}-${v}`} name={name} checked={value === v} onChange={() => onChange(v)}
            aria-describedby={sub ? `${idPrefix}-${v}-sub` : undefined} />
          <label for={`${idPrefix}-${v}`}>{text}{sub && <span class="subtle" id={`${idPrefix}-${v}-sub`}>{sub}</span>}</label>
        </div>
      ))}
    </fieldset>
  );
}

function TextArea({ id, label: text, hint, value, onInput, error, max, rows = 5, optional }) {
  return (
    <Field id={id} label={text} hint={hint} error={error} optional={optional}>
      <textarea id={id} rows={rows} maxLength={max} value={value} onInput={(e) => onInput(e.currentTarget.value)}
        aria-invalid={Boolean(error)} aria-describedby={describedBy(id, { hint, error })} />
    </Field>
  );
}

export function VisitScreen({ visitId = null, caseId: newCaseId = null }) {
  const dataVersion = useStore((s) => s.dataVersion);
  const sync = useStore((s) => s.sync);
  const [loaded, setLoaded] = useState(null);
  const [error, setError] = useState(null);
  const [choice, setChoice] = useState(null); // "restore" | "discard": the answer to the restore offer
  // While the form has unsaved changes, a sync in the background must not replace it: saving
  // later applies just the changed fields on top of whatever the sync brought.
  const dirty = useRef(false);

  useEffect(() => {
    const session = currentSession();
    if (!session || (dirty.current && loaded)) return;
    let live = true;
    (async () => {
      let doc = null, content = null, caseId = newCaseId;
      if (visitId) {
        doc = await session.replica.get(visitId);
        if (!doc) return live && setLoaded({ missing: true });
        content = await session.vault.open(doc);
        caseId = doc.case_id;
      }
      const detail = await caseDetail({ replica: session.replica, vault: session.vault, caseId });
      const key = visitFormKey(visitId, caseId);
      const autosave = await session.autosaves.get(key).catch(() => null);
      // Interrupted by a lock (or chosen on the caseload): back as it was, without asking.
      if (autosave && takeResumeAfterLock(key)) setChoice("restore");
      if (live) setLoaded({ doc, content, detail, autosave, key });
    })().catch((err) => live && setError(err.message));
    return () => { live = false; };
  }, [visitId, newCaseId, dataVersion]);

  if (error) return <Page title="Visit"><p class="error-message" role="alert">{error}</p></Page>;
  if (!loaded) return <Page title="Visit"><Loading /></Page>;
  if (loaded.missing || !loaded.detail) {
    return <Page title="Visit not on this tablet" back={{ href: href.caseload(), label: "Caseload" }}><p>This visit is not on this tablet. Sync to update your caseload.</p></Page>;
  }
  const { doc, content, detail, autosave, key } = loaded;
  const family = detail.content?.family_name || detail.meta.case_number;
  const back = { href: href.case(detail.id), label: family };
  const refused = visitId ? sync.refused?.[visitId] : null;
  const waiting = visitId ? (sync.pendingIds || []).includes(visitId) : false;
  const me = currentSession().record.user.ref;
  const people = Object.fromEntries(detail.people.map((p) => [p.id, p]));
  const editable = !content || ["draft", "returned"].includes(content.status);

  const banners = (
    <>
      {refused && (
        <Panel kind="error" title="The server did not accept this visit">
          <p><strong>{explainRefusal(refused.reason)}</strong></p>
          <p class="subtle">Server's reason: {refused.reason}</p>
          <p>Your version is kept on this tablet. Correct it and save again, or ask your supervisor for help.</p>
        </Panel>
      )}
      {waiting && !refused && <p class="panel panel--info" role="status">Saved on this tablet. Waiting to be sent at the next sync.</p>}
    </>
  );

  if (autosave && !choice) {
    return (
      <Page title={editable ? (doc ? `Visit on ${formatDateTime(content.visit_date)}` : "Record a visit") : "Unsaved changes"} back={back} wide>
        <p class="case-meta">{family} · {detail.meta.case_number}</p>
        <RestoreOffer autosave={autosave} editable={editable} status={content?.status}
          onRestore={() => setChoice("restore")}
          onDiscard={async () => { await currentSession()?.autosaves.discard(key); setChoice("discard"); }} />
      </Page>
    );
  }

  if (!editable) {
    return (
      <Page title={`Visit on ${formatDateTime(content.visit_date)}`} back={back} wide>
        <p class="case-meta">{family} · recorded by {who(content.author, me)}</p>
        {banners}
        {content.status === "submitted" && <p class="panel panel--info">Submitted for sign-off. Your supervisor will sign it off or return it to you.</p>}
        {content.status === "signed_off" && <p class="panel panel--success">Signed off on {formatDateTime(content.signed_off_at)}. The record can no longer be changed.</p>}
        <VisitRecord content={content} people={people} nameOf={(ref) => who(ref, me)} />
      </Page>
    );
  }
  const restored = choice === "restore" && autosave ? autosave.value : null;
  return <VisitForm key={`${doc?._rev || "new"}${restored ? "-restored" : ""}`} doc={doc} content={content} detail={detail} back={back}
    family={family} banners={banners} dirty={dirty} autosaveKey={key} restored={restored} />;
}

/** "Unsaved changes from 14:32": restore them or discard them, before the form opens. */
function RestoreOffer({ autosave, editable, status, onRestore, onDiscard }) {
  const [busy, setBusy] = useState(false);
  return (
    <section class="panel panel--warning restore-offer" aria-labelledby="restore-title" id="restore-offer">
      <h2 class="panel-title" id="restore-title">Unsaved changes from {formatSince(autosave.savedAt)}</h2>
      {editable ? (
        <>
          <p>This form was not saved when Doorstep last closed or locked. Your changes were kept, encrypted, on this tablet.</p>
          <div class="button-row">
            <button type="button" class="button" onClick={onRestore}>Restore my changes</button>
            <button type="button" class="button button--secondary" disabled={busy}
              onClick={() => { setBusy(true); onDiscard(); }}>Discard them</button>
          </div>
        </>
      ) : (
        <>
          <p>This visit is now {STATUS_TEXT[status] || status}, so these changes can no longer be applied to it. Tell your supervisor if something is missing from the record.</p>
          <button type="button" class="button button--secondary" disabled={busy} onClick={() => { setBusy(true); onDiscard(); }}>Discard them</button>
        </>
      )}
    </section>
  );
}
const STATUS_TEXT = { submitted: "submitted for sign-off", signed_off: "signed off" };

function VisitForm({ doc, content, detail, back, family, banners, dirty, autosaveKey, restored }) {
  const children = detail.people.filter((p) => p.role === "child");
  const adults = detail.people.filter((p) => p.role !== "child");
  const [form, setForm] = useState(() => restored?.form ?? formFrom(content, children));
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const [saveError, setSaveError] = useState(null);
  const formRef = useRef(form);
  formRef.current = form;
  const returned = content?.status === "returned" ? lastReturn(content) : null;
  const isNew = !doc;
  const me = currentSession()?.record.user.ref;
  // Saving applies the changes to what the form was first opened with (restored: then, not now).
  const base = restored ? restored.base : content;
  const baseRev = restored ? restored.baseRev : doc?._rev || null;
  const autosave = useAutosave(autosaveKey, {
    kind: "visit", caseId: detail.id, recordId: doc?._id || null, route: location.hash || "#/",
  });
  useEffect(() => {
    if (restored) { dirty.current = true; autosave.markStored(); }
  }, []);

  const update = (patch) => {
    dirty.current = true;
    setForm((f) => {
      const next = { ...f, ...patch };
      autosave.schedule({ form: next, base: base ?? null, baseRev });
      return next;
    });
  };
  const updateList = (key, i, patch) => update({ [key]: formRef.current[key].map((item, j) => (j === i ? { ...item, ...patch } : item)) });

  async function store({ submit }) {
    const found = validate(formRef.current, children, { submit });
    setErrors(found);
    if (Object.keys(found).length) return null;
    setBusy(true);
    setSaveError(null);
    const wasDirty = dirty.current;
    dirty.current = false; // before the save, so the reload it triggers shows the new revision
    try {
      const id = await saveVisit({
        caseId: detail.id,
        visitId: doc?._id || null,
        base,
        baseRev,
        fields: contentFrom(formRef.current, detail.meta.visit_frequency_days),
        submit,
      });
      await autosave.discard().catch(() => {}); // the record now holds it
      return id;
    } catch (err) {
      dirty.current = wasDirty;
      setSaveError(err.message); // next to the buttons, where the user is looking
      return null;
    } finally {
      setBusy(false);
    }
  }


  async function onSave(e) {
    e.preventDefault();
    const id = await store({ submit: false });
    if (!id) return;
    notify("success", "Draft saved on this tablet.");
    if (isNew) location.hash = href.visit(id);
  }

  async function onSubmit(e) {
    e.preventDefault();
    const id = await store({ submit: true });
    if (!id) return;
    notify("success", navigator.onLine
      ? "Visit submitted for sign-off. It is being sent now."
      : "Visit submitted for sign-off. It will be sent when you are back online and sync.");
    location.hash = href.case(detail.id);
  }

  const presentIds = new Set(form.people_present.map((p) => p.id));
  const togglePresent = (person, on) => update({
    people_present: on
      ? [...form.people_present, { id: person.id, name: person.full_name, relationship: person.relationship || label(person.role) }]
      : form.people_present.filter((p) => p.id !== person.id),
  });
  const others = form.people_present.map((p, i) => [p, i]).filter(([p]) => !detail.people.some((d) => d.id === p.id));
  const nextDue = form.visit_date ? addWorkingDays(localDay(new Date(form.visit_date)), detail.meta.visit_frequency_days) : null;

  return (
    <Page title={isNew ? "Record a visit" : `Visit on ${formatDateTime(content.visit_date)}`} back={back} wide>
      <p class="case-meta">{family} · {detail.meta.case_number}
        {content && content.author !== me && <> · recorded by {who(content.author, me)}</>} {content && <StatusBadge status={content.status} />}</p>
      {banners}
      {returned && (
        <Panel kind="warning" title="Returned by your supervisor">
          {returned.comment ? <blockquote>{returned.comment}</blockquote> : <p>No comment was given.</p>}
          <p>Make the changes, then submit it again.</p>
        </Panel>
      )}
      {(content?.decisions_pending || []).length > 0 && (
        <Panel kind="warning" title="A supervisor will decide part of this record">
          <p>Edits made at the same time disagreed on: {content.decisions_pending.map(label).join(", ")}. Until your supervisor decides, the record shows the cautious answer.</p>
        </Panel>
      )}
      <ErrorSummary errors={errors} />
      <form class="form visit-form" noValidate onSubmit={onSave}>
        <section class="form-section" aria-labelledby="s-visit">
          <h2 id="s-visit">The visit</h2>
          <Field id="visit_date" label="Date and time of the visit" error={errors.visit_date}>
            <input id="visit_date" type="datetime-local" value={form.visit_date} max={toLocalInput(correctedNow())}
              onInput={(e) => update({ visit_date: e.currentTarget.value })} aria-invalid={Boolean(errors.visit_date)}
              aria-describedby={describedBy("visit_date", { error: errors.visit_date })} />
          </Field>
          {nextDue && <p class="hint">The next visit will be due by <strong>{nextDue.split("-").reverse().join("/")}</strong> ({detail.meta.visit_frequency_days} working days).</p>}
          <Radios name="visit_type" legend="Type of visit" idPrefix="visit_type" value={form.visit_type}
            options={VISIT_TYPES.map((t) => [t, label(t)])} onChange={(v) => update({ visit_type: v })}
            error={errors["visit_type-statutory"]} />
        </section>

        <section class="form-section" aria-labelledby="s-people">
          <h2 id="s-people">People present</h2>
          <fieldset class="field checkboxes">
            <legend>Adults on the case who were there</legend>
            {adults.length === 0 && <p class="subtle">No adults recorded on this case.</p>}
            {adults.map((p) => (
              <div class="checkbox" key={p.id}>
                <input type="checkbox" id={`present-${p.id}`} checked={presentIds.has(p.id)} onChange={(e) => togglePresent(p, e.currentTarget.checked)} />
                <label for={`present-${p.id}`}>{p.full_name} <span class="subtle">{p.relationship || label(p.role)}</span></label>
              </div>
            ))}
          </fieldset>
          {others.map(([p, i], n) => (
            <fieldset class="field repeat" key={p.id}>
              <legend>Someone else present ({n + 1})</legend>
              <div class="row">
                <Field id={`other-${i}-name`} label="Name">
                  <input id={`other-${i}-name`} value={p.name} maxLength={visitItem("people_present", "name").maxLength}
                    onInput={(e) => updateList("people_present", i, { name: e.currentTarget.value })} />
                </Field>
                <Field id={`other-${i}-rel`} label="Relationship or role" optional>
                  <input id={`other-${i}-rel`} value={p.relationship || ""} maxLength={visitItem("people_present", "relationship").maxLength}
                    onInput={(e) => updateList("people_present", i, { relationship: e.currentTarget.value })} />
                </Field>
              </div>
              <button type="button" class="button button--secondary button--small"
                onClick={() => update({ people_present: form.people_present.filter((_, j) => j !== i) })}>
                Remove<span class="visually-hidden"> person {n + 1}</span>
              </button>
            </fieldset>
          ))}
          <button type="button" class="button button--secondary" onClick={() => update({ people_present: [...form.people_present, { id: `other-${ulid()}`, name: "", relationship: "" }] })}>
            Add someone else who was present
          </button>
        </section>

        <section class="form-section" aria-labelledby="s-children">
          <h2 id="s-children">Children</h2>
          {form.children_seen.length === 0 && <p class="subtle">No children recorded on this case.</p>}
          {form.children_seen.map((c, i) => {
            const child = children.find((ch) => ch.id === c.person_id);
            const name = child?.full_name || "Child";
            const age = child?.date_of_birth ? ageOn(child.date_of_birth) : null;
            const needsReason = c.seen === false || c.seen_alone === false;
            return (
              <fieldset class="child" key={c.person_id}>
                <legend>{name}{age !== null && `, aged ${age}`}</legend>
                <Radios name={`seen-${i}`} legend={`Was ${name} seen?`} idPrefix={`seen-${i}`} value={c.seen}
                  options={[[true, "Yes"], [false, "No"]]}
                  onChange={(v) => updateList("children_seen", i, { seen: v, ...(v ? {} : { seen_alone: undefined }) })}
                  error={errors[`seen-${i}-true`]} />
                {c.seen === true && (
                  <Radios name={`alone-${i}`} legend={`Was ${name} seen alone?`} idPrefix={`alone-${i}`} value={c.seen_alone}
                    options={[[true, "Yes"], [false, "No"]]} onChange={(v) => updateList("children_seen", i, { seen_alone: v })}
                    error={errors[`alone-${i}-true`]} />
                )}
                {needsReason && (
                  <TextArea id={`reason-${i}`} label={`Why was ${name} not ${c.seen === false ? "seen" : "seen alone"}?`} rows={2}
                    value={c.reason_not_seen_alone} max={visitItem("children_seen", "reason_not_seen_alone").maxLength}
                    onInput={(v) => updateList("children_seen", i, { reason_not_seen_alone: v })} error={errors[`reason-${i}`]} />
                )}
              </fieldset>
            );
          })}
        </section>

        <section class="form-section" aria-labelledby="s-record">
          <h2 id="s-record">What you found</h2>
          {TEXTS.map(([key, text, hint]) => (
            <TextArea key={key} id={key} label={text} hint={hint} value={form[key]} max={maxLengthOf("visit", key)}
              onInput={(v) => update({ [key]: v })} error={errors[key]} optional={key !== "observations"} />
          ))}
        </section>

        <section class="form-section" aria-labelledby="s-actions">
          <h2 id="s-actions">Actions</h2>
          {form.actions.length === 0 && <p class="subtle">No actions yet.</p>}
          {form.actions.map((a, i) => (
            <fieldset class="field repeat" key={a.id}>
              <legend>Action {i + 1}</legend>
              <Field id={`action-${i}-text`} label="What needs to happen" error={errors[`action-${i}-text`]}>
                <textarea id={`action-${i}-text`} rows={2} value={a.text} maxLength={visitItem("actions", "text").maxLength}
                  onInput={(e) => updateList("actions", i, { text: e.currentTarget.value })}
                  aria-invalid={Boolean(errors[`action-${i}-text`])}
                  aria-describedby={describedBy(`action-${i}-text`, { error: errors[`action-${i}-text`] })} />
              </Field>
              <div class="row">
                <Field id={`action-${i}-owner`} label="Who will do it" optional>
                  <input id={`action-${i}-owner`} value={a.owner || ""} maxLength={visitItem("actions", "owner").maxLength}
                    onInput={(e) => updateList("actions", i, { owner: e.currentTarget.value })} />
                </Field>
                <Field id={`action-${i}-due`} label="Due by" optional>
                  <input id={`action-${i}-due`} type="date" value={a.due_date || ""} onInput={(e) => updateList("actions", i, { due_date: e.currentTarget.value })} />
                </Field>
              </div>
              <div class="checkbox">
                <input type="checkbox" id={`action-${i}-done`} checked={Boolean(a.done)} onChange={(e) => updateList("actions", i, { done: e.currentTarget.checked })} />
                <label for={`action-${i}-done`}>Done</label>
              </div>
              <button type="button" class="button button--secondary button--small" onClick={() => update({ actions: form.actions.filter((_, j) => j !== i) })}>
                Remove<span class="visually-hidden"> action {i + 1}</span>
              </button>
            </fieldset>
          ))}
          <button type="button" class="button button--secondary" onClick={() => {
            update({ actions: [...form.actions, { id: `a-${ulid()}`, text: "", owner: "", due_date: "", done: false }] });
            setTimeout(() => document.getElementById(`action-${form.actions.length}-text`)?.focus(), 0);
          }}>
            Add an action
          </button>
        </section>

        <section class="form-section" aria-labelledby="s-risk">
          <h2 id="s-risk">Risk</h2>
          <Radios name="risk_level" legend="Risk level after this visit" idPrefix="risk_level" value={form.risk_level} inline={false}
            options={RISK_LEVELS.map((r) => [r, label(r), RISK_HINT[r]])} onChange={(v) => update({ risk_level: v })}
            error={errors["risk_level-none"]} />
          <TextArea id="risk_concerns" label="Risk concerns" hint="What the concerns are, and what is keeping the children safe." value={form.risk_concerns}
            max={maxLengthOf("visit", "risk_concerns")} onInput={(v) => update({ risk_concerns: v })} optional />
        </section>

        <div class="sticky-actions">
          {saveError && <p class="save-error" role="alert">{saveError}</p>}
          <div class="button-row">
            <button type="submit" class="button button--secondary" disabled={busy}>Save draft</button>
            <button type="button" class="button" disabled={busy} onClick={onSubmit}>Submit for sign-off</button>
          </div>
        </div>
      </form>
    </Page>
  );
}
