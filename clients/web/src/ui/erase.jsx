// Erasing this tablet at the user's request: refused, with the reason, while it holds work the
// server has not received; or, if the user explicitly discards that work, recorded in the
// council's audit trail before anything is erased.
import { useEffect, useState } from "preact/hooks";
import { discardUnsentAndErase, eraseTablet, unsentOnTablet } from "../controller.js";
import { UnsentWork } from "../lib/errors.js";
import { ErrorSummary, Field, Panel, describedBy } from "./common.jsx";

const ERASED = "You erased this tablet's copy of your caseload and its keys. Sign in to set it up again.";
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function EraseTablet({ locked }) {
  const [unsent, setUnsent] = useState(null);
  const [understood, setUnderstood] = useState(false);
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    unsentOnTablet().then(setUnsent).catch((err) => setErrors({ "erase-confirm": `The tablet could not be checked: ${err.message}` }));
  }, []);

  if (!unsent) return <p class="loading" role="status">Checking for work not yet sent…</p>;

  if (!unsent.count) {
    return (
      <>
        <p>Everything recorded on this tablet has reached the server. Erasing removes this tablet's copy of your caseload and its keys.</p>
        <button type="button" class="button button--danger" disabled={busy}
          onClick={() => { setBusy(true); eraseTablet(ERASED).catch((err) => { setBusy(false); setUnsent(err instanceof UnsentWork ? err : unsent); }); }}>
          Erase this tablet's data
        </button>
      </>
    );
  }

  const n = unsent.count;
  async function discard(e) {
    e.preventDefault();
    const found = {};
    if (!understood) found["erase-confirm"] = `Confirm that you understand ${plural(n, "unsent record")} will be destroyed`;
    if (locked && !password) found["erase-password"] = "Enter your council password";
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await discardUnsentAndErase({ expected: n, password: locked ? password : null });
    } catch (err) {
      setErrors({ [locked && (err.status === 400 || err.status === 401) ? "erase-password" : "erase-confirm"]:
        err.status === 400 || err.status === 401 ? "The password is not right" : `Nothing was erased: ${err.message}` });
      setBusy(false);
    }
  }

  return (
    <div id="erase-refused">
      <Panel kind="error" title="This tablet has work the server has not received">
        <p>{new UnsentWork(unsent).message}</p>
        {locked && <p>If you have only forgotten your passphrase, ask IT before erasing: nobody can read this work without it.</p>}
      </Panel>
      <ErrorSummary errors={errors} />
      <form class="form narrow" noValidate onSubmit={discard}>
        <p>If the work cannot be sent, you can discard it. Your council's audit trail will record that you discarded {plural(n, "unsent record")} from this tablet.</p>
        {locked && (
          <Field id="erase-password" label="Password for your council account" error={errors["erase-password"]}>
            <input id="erase-password" type="password" autocomplete="current-password" value={password}
              onInput={(e) => setPassword(e.currentTarget.value)} aria-invalid={Boolean(errors["erase-password"])}
              aria-describedby={describedBy("erase-password", { error: errors["erase-password"] })} />
          </Field>
        )}
        <div class={`field${errors["erase-confirm"] ? " field--error" : ""}`}>
          {errors["erase-confirm"] && <p class="error-message" id="erase-confirm-error"><span class="visually-hidden">Error:</span> {errors["erase-confirm"]}</p>}
          <div class="checkbox">
            <input type="checkbox" id="erase-confirm" checked={understood} onChange={(e) => setUnderstood(e.currentTarget.checked)}
              aria-describedby={describedBy("erase-confirm", { error: errors["erase-confirm"] })} />
            <label for="erase-confirm">I understand that {plural(n, "unsent record")} will be destroyed and cannot be recovered</label>
          </div>
        </div>
        <button type="submit" class="button button--danger" disabled={busy}>Discard {plural(n, "unsent record")} and erase</button>
      </form>
    </div>
  );
}
