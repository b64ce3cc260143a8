// Doorstep web app: the shell (header, sync status, navigation) and the screens for each phase.
import { render } from "preact";
import "./styles.css";
import { boot, lock, signOut } from "./controller.js";
import { getState, setState, useStore } from "./store.js";
import { href, useRoute } from "./router.js";
import { Notice, Page, Panel } from "./ui/common.jsx";
import { Enrol, SignIn, Unlock, Wiped } from "./ui/auth.jsx";
import { Caseload } from "./ui/caseload.jsx";
import { CaseView } from "./ui/case.jsx";
import { VisitScreen } from "./ui/visit.jsx";
import { SyncPill, SyncScreen } from "./ui/sync.jsx";
import { ReviewAddendum, ReviewConflict, ReviewQueue, ReviewVisit } from "./ui/review.jsx";

function Header() {
  const phase = useStore((s) => s.phase);
  const user = useStore((s) => s.user);
  const online = useStore((s) => s.online);
  return (
    <header class="app-header">
      <div class="header-inner">
        <a href="#/" class="brand" aria-label="Doorstep home">
          <svg aria-hidden="true" viewBox="0 0 32 32" width="28" height="28"><rect width="32" height="32" rx="7" fill="#fff" /><path d="M9 26V9.5L20 6v20M20 26h4V10h-4" fill="none" stroke="#0b4f8a" stroke-width="2.6" stroke-linejoin="round" /><circle cx="17" cy="17" r="1.6" fill="#0b4f8a" /></svg>
          <span>Doorstep</span>
        </a>
        {phase === "ready" && (
          <nav aria-label="Main" class="main-nav">
            <a href={href.caseload()}>Caseload</a>
            <a href={href.sync()}>Sync</a>
          </nav>
        )}
        {phase === "supervisor" && (
          <nav aria-label="Main" class="main-nav"><a href={href.caseload()}>Review queue</a></nav>
        )}
        <div class="header-end">
          {phase === "ready" && <SyncPill />}
          {phase === "supervisor" && !online && <span class="sync-pill sync-pill--offline"><span class="dot" aria-hidden="true" />Offline</span>}
          {user && (phase === "ready" || phase === "supervisor") && (
            <span class="who">{user.first_name} {user.last_name}</span>
          )}
          {phase === "ready" && <button type="button" class="button button--small button--inverse" onClick={lock}>Lock</button>}
          {phase === "supervisor" && <button type="button" class="button button--small button--inverse" onClick={signOut}>Sign out</button>}
        </div>
      </div>
    </header>
  );
}

function PractitionerRoutes() {
  const route = useRoute();
  switch (route.name) {
    case "caseload": return <Caseload />;
    case "case": return <CaseView caseId={route.params[0]} />;
    case "newVisit": return <VisitScreen caseId={route.params[0]} />;
    case "visit": return <VisitScreen key={route.params[0]} visitId={route.params[0]} />;
    case "sync": return <SyncScreen />;
    default: return <NotFound />;
  }
}

function SupervisorRoutes() {
  const route = useRoute();
  switch (route.name) {
    case "caseload": return <ReviewQueue />;
    case "reviewVisit": return <ReviewVisit visitId={route.params[0]} />;
    case "reviewConflict": return <ReviewConflict conflictId={route.params[0]} />;
    case "reviewAddendum": return <ReviewAddendum addendumId={route.params[0]} />;
    default: return <NotFound />;
  }
}

/** While the council retires this tablet and something still keeps it from erasing itself. */
function Retiring() {
  const retiring = useStore((s) => s.retiring);
  if (!retiring) return null;
  const { records, forms } = retiring;
  return (
    <div class="banner"><Panel kind="warning" title="Your council is retiring this tablet">
      <p id="retiring-text">
        It sends everything it holds, then erases itself. Still to go:
        {records.length > 0 && ` ${records.length} record${records.length === 1 ? "" : "s"} the server has not accepted (see Sync)`}
        {records.length > 0 && forms > 0 && " and"}
        {forms > 0 && ` ${forms} form${forms === 1 ? "" : "s"} in progress: save or discard ${forms === 1 ? "it" : "them"}`}
        . Then sync again.
      </p>
    </Panel></div>
  );
}

function NotFound() {
  return <Page title="Page not found"><p><a href="#/">Go to the start</a></p></Page>;
}

// A message belongs to the screen it was given on (or the one it led to): moving on clears it.
addEventListener("hashchange", () => {
  const { notice } = getState();
  if (notice && Date.now() - notice.at > 1500) setState({ notice: null });
});

function App() {
  const phase = useStore((s) => s.phase);
  let screen;
  if (phase === "loading") screen = <p class="loading" role="status">Starting Doorstep…</p>;
  else if (phase === "signin") screen = <SignIn />;
  else if (phase === "enrol") screen = <Enrol />;
  else if (phase === "unlock") screen = <Unlock />;
  else if (phase === "wiped") screen = <Wiped />;
  else if (phase === "supervisor") screen = <SupervisorRoutes />;
  else screen = <PractitionerRoutes />;
  return (
    <>
      <a href="#main" class="skip-link" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to main content</a>
      <Header />
      <main id="main" tabIndex={-1} data-phase={phase}>
        <Notice />
        {phase === "ready" && <Retiring />}
        {screen}
      </main>
    </>
  );
}

const root = document.getElementById("app");
root.textContent = ""; // the static "Starting…" placeholder
render(<App />, root);
boot().catch((err) => {
  document.getElementById("app").textContent = `Doorstep could not start: ${err.message}`;
});

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {
    // Without a service worker the app still works online; offline reloads need it.
  });
}
