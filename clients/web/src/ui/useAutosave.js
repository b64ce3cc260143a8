// Autosave for any form in progress: the form hands over its values on every change; within
// half a second of the last change they are sealed with the case key and written to the tablet
// (lib/autosave.js), independently of saving the record. They are also written at once when the
// tablet locks, the app is hidden or closed, or the form is left.
import { useEffect, useRef } from "preact/hooks";
import { currentSession, onLockFlush } from "../controller.js";

export const AUTOSAVE_DELAY_MS = 500;

/** `key` names the form (one slot per form); `meta` is {kind, caseId, recordId, route}. */
export function useAutosave(key, meta) {
  const ref = useRef(null);
  if (!ref.current) {
    const state = { timer: null, latest: null, writing: Promise.resolve(), stored: false, meta };
    const flush = async () => {
      clearTimeout(state.timer);
      state.timer = null;
      const value = state.latest;
      state.latest = null;
      const autosaves = currentSession()?.autosaves;
      if (value && autosaves) {
        state.writing = state.writing.then(() => autosaves.put(key, state.meta, value)).then(() => { state.stored = true; });
      }
      await state.writing;
      return state.stored ? key : null;
    };
    ref.current = {
      state,
      /** Note the form's current values; they are written within AUTOSAVE_DELAY_MS. */
      schedule(value) {
        state.latest = value;
        clearTimeout(state.timer);
        state.timer = setTimeout(() => { flush().catch(() => {}); }, AUTOSAVE_DELAY_MS);
      },
      flush,
      /** Forget the form in progress (it was saved as a record, or the user discarded it). */
      async discard() {
        clearTimeout(state.timer);
        state.latest = null;
        await state.writing.catch(() => {});
        state.stored = false;
        await currentSession()?.autosaves.discard(key);
      },
      /** This form already has an autosave (it was restored): a lock must bring it back too. */
      markStored() { state.stored = true; },
    };
  }
  ref.current.state.meta = meta;

  useEffect(() => {
    const saver = ref.current;
    const hidden = () => { if (document.visibilityState === "hidden") saver.flush().catch(() => {}); };
    const leaving = () => { saver.flush().catch(() => {}); };
    const unregister = onLockFlush(saver.flush);
    document.addEventListener("visibilitychange", hidden);
    addEventListener("pagehide", leaving);
    return () => {
      unregister();
      document.removeEventListener("visibilitychange", hidden);
      removeEventListener("pagehide", leaving);
      saver.flush().catch(() => {}); // leaving the form keeps what was typed
    };
  }, [key]);
  return ref.current;
}
