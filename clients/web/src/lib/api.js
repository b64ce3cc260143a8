// The REST API (/api/…): sign-in, device enrolment and token renewal, and the supervisor's
// review endpoints. Errors become ApiError with the server's stable `code` and its message.

export class ApiError extends Error {
  constructor(message, { status = 0, code = "network", field = null, wipe = false, lock = false } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.wipe = wipe;
    this.lock = lock;
  }
  get offline() { return this.code === "network"; }
}

export async function api(path, { method = "GET", token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Token ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError("You appear to be offline. Check the connection and try again.");
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const message = data?.message || data?.detail || `The server answered ${response.status}.`;
    throw new ApiError(message, {
      status: response.status,
      code: data?.code || `http_${response.status}`,
      field: data?.field || null,
      wipe: Boolean(data?.wipe),
      lock: Boolean(data?.lock),
    });
  }
  return data;
}

export const login = (username, password) =>
  api("auth/token/", { method: "POST", body: { username, password } });
export const logout = (token) => api("auth/logout/", { method: "POST", token }).catch(() => null);
