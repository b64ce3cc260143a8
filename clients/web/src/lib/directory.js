// Names instead of ids wherever a person reads: users by name and role, devices by their name
// (GET /api/directory/, cached sealed for offline use). Unknown ids read as "a colleague".
let users = new Map();
let devices = new Map();

/** Use a directory `{users: [{id, name, role}], devices: [{id, name, user}]}`. */
export function setDirectory(directory) {
  users = new Map((directory?.users || []).map((u) => [u.id, u]));
  devices = new Map((directory?.devices || []).map((d) => [d.id, d]));
}

const ROLE = { practitioner: "practitioner", supervisor: "supervisor", admin: "administrator" };

/** "you", "Lorraine Gray (supervisor)", or "a colleague" for a user reference (`u:7`). */
export function personName(ref, me) {
  if (!ref) return "someone";
  if (ref === me) return "you";
  const user = users.get(ref);
  if (!user) return "a colleague";
  return ROLE[user.role] ? `${user.name} (${ROLE[user.role]})` : user.name;
}

/** A device's name ("Jamie's iPad"), or "a tablet". */
export const deviceName = (id) => devices.get(id)?.name || "a tablet";
