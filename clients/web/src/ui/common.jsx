// Building blocks shared by every screen: page heading that takes focus on arrival, labelled
// fields with hints and errors, the error summary, notices and badges.
import { useEffect, useRef } from "preact/hooks";
import { useStore } from "../store.js";
import { notify } from "../controller.js";

/** A screen: sets the document title and moves focus to its heading, so screen-reader and
 * keyboard users start at the top of the new content. */
export function Page({ title, children, actions = null, back = null, wide = false }) {
  const heading = useRef(null);
  useEffect(() => {
    document.title = `${title} – Doorstep`;
    heading.current?.focus({ preventScroll: false });
  }, [title]);
  return (
    <div class={`page${wide ? " page--wide" : ""}`}>
      {back && <p class="back"><a href={back.href}>← {back.label}</a></p>}
      <div class="page-head">
        <h1 ref={heading} tabIndex={-1}>{title}</h1>
        {actions && <div class="page-actions">{actions}</div>}
      </div>
      {children}
    </div>
  );
}

export function Field({ id, label, hint, error, children, optional = false }) {
  return (
    <div class={`field${error ? " field--error" : ""}`}>
      <label for={id}>{label}{optional && <span class="optional"> (optional)</span>}</label>
      {hint && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {error && <p class="error-message" id={`${id}-error`}><span class="visually-hidden">Error:</span> {error}</p>}
      {children}
    </div>
  );
}

/** aria-describedby for a field's hint and error. */
export const describedBy = (id, { hint, error } = {}) =>
  [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;

export function ErrorSummary({ errors }) {
  const box = useRef(null);
  const entries = Object.entries(errors || {}).filter(([, v]) => v);
  useEffect(() => { if (entries.length) box.current?.focus(); }, [entries.length, JSON.stringify(errors)]);
  if (!entries.length) return null;
  return (
    <div class="error-summary" role="alert" tabIndex={-1} ref={box} aria-labelledby="error-summary-title">
      <h2 id="error-summary-title">There is a problem</h2>
      <ul>
        {entries.map(([field, message]) => (
          <li key={field}>
            <a href={`#${field}`} onClick={(e) => { e.preventDefault(); document.getElementById(field)?.focus(); }}>{message}</a>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function Notice() {
  const notice = useStore((s) => s.notice);
  if (!notice) return null;
  return (
    <div class={`notice notice--${notice.kind}`} role={notice.kind === "error" ? "alert" : "status"}>
      <p>{notice.text}</p>
      <button type="button" class="link-button" onClick={() => notify(null, null)}>Dismiss<span class="visually-hidden"> message</span></button>
    </div>
  );
}

export function Badge({ kind = "neutral", children }) {
  return <span class={`badge badge--${kind}`}>{children}</span>;
}

export function Loading({ label = "Loading" }) {
  return <p class="loading" role="status">{label}…</p>;
}

export function Panel({ kind = "info", title, children }) {
  return (
    <div class={`panel panel--${kind}`}>
      {title && <h2 class="panel-title">{title}</h2>}
      {children}
    </div>
  );
}

export const label = (value) =>
  value ? String(value).replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()) : "—";

export const STATUS_LABEL = {
  draft: "Draft",
  submitted: "Awaiting sign-off",
  returned: "Returned",
  signed_off: "Signed off",
};
export const STATUS_KIND = { draft: "neutral", submitted: "info", returned: "warning", signed_off: "success" };

export function StatusBadge({ status }) {
  return <Badge kind={STATUS_KIND[status] || "neutral"}>{STATUS_LABEL[status] || label(status)}</Badge>;
}
