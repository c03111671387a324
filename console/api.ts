// The console is a client of the public API: same routes, same problem+json errors. The session cookie
// authenticates; every change also carries the session's CSRF token (docs/console.md).

export type Problem = { status: number; code: string; title: string; detail: string; errors?: { pointer: string; detail: string }[] };

export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

let csrfToken: string | null = null;
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

/** Called when the session has ended (401), so the app can go back to sign-in. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(handler: () => void) {
  onSignedOut = handler;
}

export async function call<T = any>(method: string, path: string, body?: unknown, options: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  // A FormData body (a message with files) goes as multipart/form-data: the browser sets the boundary.
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : form ? body : JSON.stringify(body) });
  } catch {
    throw new ApiProblem({ status: 0, code: "network_error", title: "Network error", detail: "The service could not be reached. Check your connection and try again." });
  }
  if (response.status === 204) return null as T;
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const problem: Problem =
      parsed && typeof parsed.detail === "string"
        ? parsed
        : { status: response.status, code: "unexpected_response", title: "Unexpected response", detail: `The service answered ${response.status} without details.` };
    // A 401 may come from a request that left before this browser got a new session (a password change):
    // only a failing session check means the person is signed out.
    if (response.status === 401 && !options.quiet401) {
      fetch("/v1/session", { credentials: "same-origin" }).then((check) => check.status === 401 && onSignedOut(), () => {});
    }
    throw new ApiProblem(problem);
  }
  return parsed as T;
}

/** A problem's detail plus the offending fields, for showing in place. */
export function describe(error: unknown): string {
  if (error instanceof ApiProblem) {
    const fields = error.problem.errors?.map((field) => `${field.pointer || "body"}: ${field.detail}`) ?? [];
    return [error.problem.detail, ...fields].join(" ");
  }
  return error instanceof Error ? error.message : String(error);
}

export const qs = (params: Record<string, string | number | undefined | null>) => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : "";
};

export type User = { id: string; name: string; email: string; role: "administrator" | "agent"; available: boolean };
export type Session = { user: User; account_id: string; account_name: string; csrf_token: string; expires_at: string };
export type Conversation = {
  id: string;
  inbox_id: string;
  contact_id: string;
  source_id: string | null;
  status: "open" | "pending" | "snoozed" | "resolved";
  assignee_id: string | null;
  labels: string[];
  snoozed_until: string | null;
  messages_count: number;
  last_activity_at: string;
  unread_count?: number;
};
/** A list item: the conversation and who it is with. */
export type ConversationListItem = Conversation & { contact: { id: string; source_id: string; name: string | null; email: string | null; phone: string | null } };
export type Contact = {
  id: string;
  source_id: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  identifier: string | null;
  custom_attributes: Record<string, unknown>;
};
export type ConversationDetail = Conversation & { contact: Contact; assignee: { id: string; name: string } | null; inbox_deleted: boolean };
export type Attachment = { id?: string; url?: string; data_url?: string; file_type: string; file_name?: string; name?: string; content_type?: string; byte_size?: number };
export type Message = {
  id: string;
  seq: number;
  message_type: "incoming" | "outgoing" | "activity";
  content: string | null;
  private: boolean;
  sender: { type: string; id: string | null; name?: string | null } | null;
  status: "sent" | "delivered" | "read" | "failed";
  status_reason: string | null;
  attachments: Attachment[];
  created_at: string;
};
export type Inbox = {
  id: string;
  identifier: string;
  name: string;
  webhook_url: string | null;
  webhook_status: { enabled: boolean; disabled_at: string | null; disabled_reason: string | null };
  created_at: string;
};
export type WebhookAttempt = { ok: boolean; status_code: number | null; duration_ms: number; error?: string; response_excerpt: string };
export type List<T> = { data: T[]; next_cursor: string | null };
