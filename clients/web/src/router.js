// Hash routes (the app shell is one cached page, so every screen works offline after a reload).
import { useEffect, useState } from "preact/hooks";

const ROUTES = [
  ["caseload", /^\/?$/],
  ["case", /^\/case\/([^/]+)$/],
  ["newVisit", /^\/case\/([^/]+)\/visit\/new$/],
  ["visit", /^\/visit\/([^/]+)$/],
  ["sync", /^\/sync$/],
  ["reviewVisit", /^\/review\/visit\/([^/]+)$/],
  ["reviewConflict", /^\/review\/conflict\/([^/]+)$/],
  ["reviewAddendum", /^\/review\/addendum\/([^/]+)$/],
];

export function parseRoute(hash = location.hash) {
  const path = hash.replace(/^#/, "") || "/";
  for (const [name, pattern] of ROUTES) {
    const m = pattern.exec(path);
    if (m) return { name, params: m.slice(1).map(decodeURIComponent), path };
  }
  return { name: "notFound", params: [], path };
}

export const href = {
  caseload: () => "#/",
  case: (id) => `#/case/${encodeURIComponent(id)}`,
  newVisit: (caseId) => `#/case/${encodeURIComponent(caseId)}/visit/new`,
  visit: (id) => `#/visit/${encodeURIComponent(id)}`,
  sync: () => "#/sync",
  reviewVisit: (id) => `#/review/visit/${encodeURIComponent(id)}`,
  reviewConflict: (id) => `#/review/conflict/${encodeURIComponent(id)}`,
  reviewAddendum: (id) => `#/review/addendum/${encodeURIComponent(id)}`,
};

export function useRoute() {
  const [route, setRoute] = useState(parseRoute);
  useEffect(() => {
    const onChange = () => setRoute(parseRoute());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
