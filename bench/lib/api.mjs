// Plain fetch calls for setting up and checking what the load ran against (not for load itself).

/** A client for one base URL; `base` may change when the host restarts. */
export function apiClient(getBase) {
  async function call(method, path, { token, body, headers = {}, expect } = {}) {
    const response = await fetch(`${getBase()}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? safeJson(text) : null;
    if (expect !== undefined && !(Array.isArray(expect) ? expect : [expect]).includes(response.status)) {
      throw new Error(`${method} ${path} answered ${response.status}, expected ${expect}: ${text.slice(0, 500)}`);
    }
    return { status: response.status, headers: response.headers, json };
  }
  return { call };
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
