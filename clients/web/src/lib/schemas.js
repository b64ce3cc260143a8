// The document schemas (schemas/*.json, bundled at build time): which fields travel in clear
// `meta` and which are encrypted, and the choices the forms offer.
import caseSchema from "../../../../schemas/case.schema.json" with { type: "json" };
import personSchema from "../../../../schemas/person.schema.json" with { type: "json" };
import visitSchema from "../../../../schemas/visit.schema.json" with { type: "json" };
import noteSchema from "../../../../schemas/note.schema.json" with { type: "json" };
import addendumSchema from "../../../../schemas/addendum.schema.json" with { type: "json" };

export const SCHEMAS = {
  case: caseSchema,
  person: personSchema,
  visit: visitSchema,
  note: noteSchema,
  addendum: addendumSchema,
};
export const DOC_TYPES = Object.keys(SCHEMAS);

const clear = Object.fromEntries(
  Object.entries(SCHEMAS).map(([type, s]) => [
    type,
    new Set(Object.entries(s.properties).filter(([, p]) => p["x-clear"]).map(([k]) => k)),
  ]),
);

/** Split content into clear workflow `meta` and the `secret` fields to encrypt (as sync/_schema.py). */
export function split(type, content) {
  const meta = {}, secret = {};
  for (const [k, v] of Object.entries(content)) {
    if (v === undefined) continue;
    (clear[type].has(k) ? meta : secret)[k] = v;
  }
  return { meta, secret };
}

export const schemaVersion = (type) => SCHEMAS[type]["x-schema-version"];
export const enumOf = (type, field) => SCHEMAS[type].properties[field].enum;
export const maxLengthOf = (type, field) => SCHEMAS[type].properties[field].maxLength;
export const visitItem = (field, prop) => visitSchema.properties[field].items.properties[prop];

/** The type of a document id (`visit:01J…` → "visit"), or null for ids that are not records. */
export function typeOfId(id) {
  const type = id.slice(0, id.indexOf(":"));
  return SCHEMAS[type] ? type : null;
}
