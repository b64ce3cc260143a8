// Timings the app records about itself (caseload render, syncs), readable by the browser
// benchmarks as `globalThis.__doorstepPerf`. Nothing leaves the tablet.
export function recordPerf(name, ms, detail = {}) {
  const perf = (globalThis.__doorstepPerf ??= []);
  perf.push({ name, ms: Math.round(ms * 10) / 10, at: Date.now(), ...detail });
  if (perf.length > 200) perf.splice(0, perf.length - 200);
}
