// Runs the web client's pure logic (clients/web/src/lib) on the inputs given as JSON in argv[2]
// and prints the answers as JSON, for pytest to compare with the server's own functions.
import { addWorkingDays, visitTimescale, workingDaysBetween } from "../../../clients/web/src/lib/dates.js";
import { explainRefusal } from "../../../clients/web/src/lib/errors.js";
import { SCHEMAS, split } from "../../../clients/web/src/lib/schemas.js";
import { newId } from "../../../clients/web/src/lib/ulid.js";

const request = JSON.parse(process.argv[2]);
const out = {
  addWorkingDays: request.addWorkingDays.map(([day, n]) => addWorkingDays(day, n)),
  workingDaysBetween: request.workingDaysBetween.map(([a, b]) => workingDaysBetween(a, b)),
  timescales: request.timescales.map((t) => visitTimescale(t)),
  clearFields: Object.fromEntries(Object.entries(SCHEMAS).map(([type, schema]) => {
    const everything = Object.fromEntries(Object.keys(schema.properties).map((k) => [k, "x"]));
    return [type, Object.keys(split(type, everything).meta).sort()];
  })),
  ids: Array.from({ length: 5 }, () => newId("visit")),
  refusals: request.refusals.map(explainRefusal),
};
process.stdout.write(JSON.stringify(out));
