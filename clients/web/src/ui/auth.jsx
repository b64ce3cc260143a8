// Getting in: sign in, set up (enrol) this tablet with a passphrase, unlock it again, and what
// the user sees after the council wiped it.
import { useState } from "preact/hooks";
import { useStore, setState } from "../store.js";
import { cancelEnrol, enrolTablet, readmitTablet, signIn, unlockTablet, WrongPassphrase } from "../controller.js";
import { DeviceSuspended } from "../lib/errors.js";
import { MIN_PASSPHRASE } from "../lib/device.js";
import { ErrorSummary, Field, Page, Panel, describedBy } from "./common.jsx";
import { EraseTablet } from "./erase.jsx";

function Busy({ busy, children, ...props }) {
  return <button type="submit" class="button" disabled={busy} aria-disabled={busy} {...props}>{busy ? "Please wait…" : children}</button>;
}

export function SignIn() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const enrolled = useStore((s) => s.enrolment);

  async function submit(e) {
    e.preventDefault();
    const found = {};
    if (!username.trim()) found.username = "Enter your username";
    if (!password) found.password = "Enter your password";
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await signIn(username, password);
    } catch (err) {
      setErrors({ [err.status === 409 ? "username" : "password"]: err.status === 400 || err.status === 401 ? "The username or password is not right" : err.message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title="Sign in to Doorstep">
      <p class="lead">Use your council account. Practitioners then set up this tablet; supervisors go to their review queue.</p>
      <ErrorSummary errors={errors} />
      <form onSubmit={submit} noValidate class="form narrow">
        <Field id="username" label="Username" error={errors.username}>
          <input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck={false}
            value={username} onInput={(e) => setUsername(e.currentTarget.value)}
            aria-invalid={Boolean(errors.username)} aria-describedby={describedBy("username", { error: errors.username })} />
        </Field>
        <Field id="password" label="Password" error={errors.password}>
          <input id="password" name="password" type="password" autocomplete="current-password"
            value={password} onInput={(e) => setPassword(e.currentTarget.value)}
            aria-invalid={Boolean(errors.password)} aria-describedby={describedBy("password", { error: errors.password })} />
        </Field>
        <Busy busy={busy}>Sign in</Busy>
      </form>
      {enrolled && (
        <p><a href="#/" onClick={(e) => { e.preventDefault(); setState({ phase: "unlock" }); }}>Back to unlock this tablet</a></p>
      )}
    </Page>
  );
}

export function Enrol() {
  const pending = useStore((s) => s.signIn);
  const [passphrase, setPassphrase] = useState("");
  const [confirm, setConfirm] = useState("");
  const [deviceName, setDeviceName] = useState(() => `${pending?.user?.first_name || "My"}'s tablet`);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    const found = {};
    if (!deviceName.trim()) found["device-name"] = "Enter a name for this tablet";
    if (passphrase.length < MIN_PASSPHRASE) found.passphrase = `Choose a passphrase of at least ${MIN_PASSPHRASE} characters`;
    else if (passphrase !== confirm) found["passphrase-confirm"] = "The two passphrases do not match";
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await enrolTablet({ passphrase, deviceName: deviceName.trim() });
    } catch (err) {
      setErrors({ passphrase: `This tablet could not be set up: ${err.message}` });
      setBusy(false);
    }
  }

  const hint = `At least ${MIN_PASSPHRASE} characters. Several words are easy to remember and hard to guess. It never leaves this tablet and nobody can reset it.`;
  return (
    <Page title="Set up this tablet">
      <p class="lead">Signed in as {pending?.user?.first_name} {pending?.user?.last_name}. Your caseload will be kept on this tablet, encrypted, so you can work without a signal.</p>
      <Panel title="Choose a passphrase">
        <p>You will type it each time you open Doorstep on this tablet. If you forget it, the tablet has to be set up again and anything not yet synced is lost.</p>
      </Panel>
      <ErrorSummary errors={errors} />
      <form onSubmit={submit} noValidate class="form narrow">
        <Field id="device-name" label="Name for this tablet" hint="So you and IT can recognise it, for example “Blue iPad”." error={errors["device-name"]}>
          <input id="device-name" value={deviceName} maxLength={100} onInput={(e) => setDeviceName(e.currentTarget.value)}
            aria-invalid={Boolean(errors["device-name"])}
            aria-describedby={describedBy("device-name", { hint: true, error: errors["device-name"] })} />
        </Field>
        <Field id="passphrase" label="Passphrase" hint={hint} error={errors.passphrase}>
          <input id="passphrase" type="password" autocomplete="new-password" value={passphrase}
            onInput={(e) => setPassphrase(e.currentTarget.value)} aria-invalid={Boolean(errors.passphrase)}
            aria-describedby={describedBy("passphrase", { hint: true, error: errors.passphrase })} />
        </Field>
        <Field id="passphrase-confirm" label="Type the passphrase again" error={errors["passphrase-confirm"]}>
          <input id="passphrase-confirm" type="password" autocomplete="new-password" value={confirm}
            onInput={(e) => setConfirm(e.currentTarget.value)} aria-invalid={Boolean(errors["passphrase-confirm"])}
            aria-describedby={describedBy("passphrase-confirm", { error: errors["passphrase-confirm"] })} />
        </Field>
        <div class="button-row">
          <Busy busy={busy}>Set up tablet</Busy>
          <button type="button" class="button button--secondary" onClick={cancelEnrol} disabled={busy}>Cancel</button>
        </div>
      </form>
    </Page>
  );
}

export function Unlock() {
  const enrolment = useStore((s) => s.enrolment);
  const [passphrase, setPassphrase] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [forgot, setForgot] = useState(false);

  async function submit(e) {
    e.preventDefault();
    if (!passphrase) { setError("Enter your passphrase"); return; }
    setBusy(true);
    setError(null);
    try {
      await unlockTablet(passphrase);
    } catch (err) {
      setError(err instanceof WrongPassphrase
        ? "That passphrase is not right. Check for caps lock and try again."
        : `The tablet could not be unlocked: ${err.message}`);
      setPassphrase("");
      setBusy(false);
    }
  }

  const name = enrolment?.user ? `${enrolment.user.first_name} ${enrolment.user.last_name}` : enrolment?.username;
  if (enrolment?.suspendedAt) return <Suspended name={name} />;
  return (
    <Page title="Unlock Doorstep">
      <p class="lead">This tablet is set up for <strong>{name}</strong>. Enter your passphrase to open your caseload.</p>
      <ErrorSummary errors={{ "unlock-passphrase": error }} />
      <form onSubmit={submit} noValidate class="form narrow">
        <Field id="unlock-passphrase" label="Passphrase" error={error}>
          <input id="unlock-passphrase" type="password" autocomplete="current-password" value={passphrase}
            onInput={(e) => setPassphrase(e.currentTarget.value)} aria-invalid={Boolean(error)}
            aria-describedby={describedBy("unlock-passphrase", { error })} />
        </Field>
        <Busy busy={busy}>Unlock</Busy>
      </form>
      <div class="secondary-links">
        <p><a href="#/" onClick={(e) => { e.preventDefault(); setState({ phase: "signin" }); }}>Sign in as a supervisor instead</a></p>
        <p><button type="button" class="link-button" aria-expanded={forgot} onClick={() => setForgot(!forgot)}>Forgotten your passphrase?</button></p>
        {forgot && (
          <Panel kind="warning" title="Set the tablet up again">
            <p>A passphrase cannot be reset: it is what keeps the case data on this tablet unreadable to anyone else. You can erase this tablet's copy and set it up again.</p>
            <EraseTablet locked />
          </Panel>
        )}
      </div>
    </Page>
  );
}

/** Revoked by the council: the data stays sealed; after a re-admission, passphrase and password
 * bring the tablet back. */
function Suspended({ name }) {
  const [passphrase, setPassphrase] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    const found = {};
    if (!passphrase) found["readmit-passphrase"] = "Enter your passphrase";
    if (!password) found["readmit-password"] = "Enter your council password";
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await readmitTablet({ passphrase, password });
    } catch (err) {
      if (err instanceof WrongPassphrase) setErrors({ "readmit-passphrase": "That passphrase is not right" });
      else if (err.code === "not_readmitted") setErrors({ "readmit-password": `Your council has not re-admitted this tablet yet (${err.message}).` });
      else setErrors({ "readmit-password": err.status === 400 || err.status === 401 ? "The password is not right" : err.message });
      setBusy(false);
    }
  }
  return (
    <Page title="This tablet is suspended">
      <Panel kind="error" title="Access suspended by your council">
        <p>{new DeviceSuspended().message}</p>
        <p>This tablet is set up for <strong>{name}</strong>. Nothing on it has been erased.</p>
      </Panel>
      <ErrorSummary errors={errors} />
      <form onSubmit={submit} noValidate class="form narrow" id="readmit-form">
        <p>Once IT tells you the tablet has been re-admitted, enter your passphrase and your council password to carry on.</p>
        <Field id="readmit-passphrase" label="Passphrase" error={errors["readmit-passphrase"]}>
          <input id="readmit-passphrase" type="password" autocomplete="current-password" value={passphrase}
            onInput={(e) => setPassphrase(e.currentTarget.value)} aria-invalid={Boolean(errors["readmit-passphrase"])}
            aria-describedby={describedBy("readmit-passphrase", { error: errors["readmit-passphrase"] })} />
        </Field>
        <Field id="readmit-password" label="Password for your council account" error={errors["readmit-password"]}>
          <input id="readmit-password" type="password" autocomplete="off" value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} aria-invalid={Boolean(errors["readmit-password"])}
            aria-describedby={describedBy("readmit-password", { error: errors["readmit-password"] })} />
        </Field>
        <Busy busy={busy}>Carry on</Busy>
      </form>
    </Page>
  );
}

export function Wiped() {
  const reason = useStore((s) => s.wipedReason);
  const title = useStore((s) => s.wipedTitle);
  return (
    <Page title={title || "This tablet has been wiped"}>
      <Panel kind="warning">
        <p>{reason || "All case data and keys on this tablet have been erased."}</p>
      </Panel>
      <p>If you think this is a mistake, contact your team manager or IT service desk.</p>
      <p><button type="button" class="button" onClick={() => setState({ phase: "signin", wipedReason: null, wipedTitle: null })}>Sign in</button></p>
    </Page>
  );
}
