// One small observable store for the whole app, and a hook to read it from components.
import { useEffect, useState } from "preact/hooks";

let state = {
  phase: "loading", // loading | signin | enrol | unlock | ready | supervisor | wiped
  enrolment: null, // the device record without secrets worth showing (names, ids)
  user: null,
  online: typeof navigator === "undefined" ? true : navigator.onLine,
  sync: { status: "idle", message: "", progress: null, lastSyncedAt: null, pending: 0, refused: {}, merges: [], lastError: null },
  notice: null, // {kind: "error"|"info"|"success", text}
  dataVersion: 0, // bumps whenever local data changes, so open screens reload
  wipedReason: null,
  signIn: null, // {token, user} between sign-in and enrolment (memory only)
  attention: [], // the "For your attention" list (GET /api/attention/), newest first
  deviceStatus: null, // "active" | "retiring": from the last checkin
  retiring: null, // {records, forms, count}: what keeps a retiring tablet from erasing itself
  wipedTitle: null,
  storagePersisted: null, // "granted" | "refused" | "unsupported": navigator.storage.persist()
};
const listeners = new Set();

export const getState = () => state;

export function setState(patch) {
  state = { ...state, ...(typeof patch === "function" ? patch(state) : patch) };
  for (const listener of listeners) listener(state);
}

export function useStore(select = (s) => s) {
  const [value, setValue] = useState(() => select(state));
  useEffect(() => {
    const listener = (s) => setValue(() => select(s));
    listeners.add(listener);
    listener(state);
    return () => listeners.delete(listener);
  }, []);
  return value;
}
