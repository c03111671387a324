// Settings → Inboxes: the list, Add inbox → API (identifier, secret and inbox token shown once, a curl
// that sends the first message, Send test event), and an inbox's page (delivery log with retry and replay,
// members, secret rotation, webhook status, delete).
import { useEffect, useState } from "preact/hooks";
import { call, qs, type Inbox, type List, type User, type WebhookAttempt } from "../api";
import { Link, navigate } from "../router";
import { useAccountPath } from "../session";
import { ErrorText, Secret, Section, useAction, when, CopyButton } from "../ui";

export function InboxesPage() {
  const base = useAccountPath();
  const [inboxes, setInboxes] = useState<Inbox[] | null>(null);
  const { error, run } = useAction();
  useEffect(() => {
    run(async () => setInboxes((await call<List<Inbox>>("GET", `${base}/inboxes?limit=100`)).data));
  }, [base]);
  return (
    <div class="settings">
      <div class="page-head">
        <h1>Settings → Inboxes</h1>
        <Link class="button" href="/app/settings/inboxes/new">Add inbox</Link>
      </div>
      <ErrorText error={error} />
      {inboxes && inboxes.length === 0 && <p>No inboxes yet. Add one to receive your first conversation.</p>}
      <ul class="rows">
        {inboxes?.map((inbox) => (
          <li>
            <Link href={`/app/settings/inboxes/${inbox.id}`}>{inbox.name}</Link>
            <span class="muted"> API · {inbox.webhook_url ?? "no webhook URL"}</span>
            {inbox.webhook_url && !inbox.webhook_status.enabled && <span class="warn"> webhook disabled</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}

function curlFor(identifier: string, token: string) {
  const origin = location.origin;
  return `curl -X POST '${origin}/v1/inboxes/${identifier}/messages' \\
  -H 'Authorization: Bearer ${token}' \\
  -H 'Content-Type: application/json' \\
  -d '{"contact": {"source_id": "customer-1", "name": "First Customer"}, "content": "Hello from the API!", "source_id": "first-message-1"}'`;
}

export function TestEvent({ path }: { path: string }) {
  const [result, setResult] = useState<WebhookAttempt | null>(null);
  const { busy, error, run } = useAction();
  return (
    <div class="test-event">
      <button type="button" disabled={busy} onClick={() => run(async () => setResult(await call<WebhookAttempt>("POST", `${path}/webhook/test`)))}>
        Send test event
      </button>
      <ErrorText error={error} />
      {result && (
        <p role="status" class={result.ok ? "ok" : "error"}>
          {result.ok ? "Delivered" : "Not delivered"}: status {result.status_code ?? "none"}, {result.duration_ms} ms
          {result.error ? ` — ${result.error}` : ""}
          {result.response_excerpt ? (
            <>
              <br />
              Response: <code>{result.response_excerpt.slice(0, 200)}</code>
            </>
          ) : null}
        </p>
      )}
    </div>
  );
}

export function NewInboxPage() {
  const base = useAccountPath();
  const [channel, setChannel] = useState<"api" | null>(null);
  const [name, setName] = useState("");
  const [webhookUrl, setWebhookUrl] = useState("");
  const [created, setCreated] = useState<{ inbox: Inbox & { secret: string }; token: string } | null>(null);
  const { busy, error, run } = useAction();

  if (created) {
    const { inbox, token } = created;
    const curl = curlFor(inbox.identifier, token);
    return (
      <div class="settings">
        <h1>Inbox “{inbox.name}” is ready</h1>
        <p>Store the secret and the token now: they are shown only once.</p>
        <Section title="Credentials">
          <Secret label="Inbox identifier" value={inbox.identifier} />
          <Secret label="Signing secret" value={inbox.secret} />
          <Secret label="Inbox token" value={token} />
        </Section>
        <Section title="Send your first message">
          <pre class="curl" aria-label="curl command">
            <code>{curl}</code>
          </pre>
          <CopyButton text={curl} label="Copy curl command" />
          <p>
            It appears in <Link href="/app/conversations">Conversations</Link> as it arrives.
          </p>
        </Section>
        {inbox.webhook_url && (
          <Section title="Webhook">
            <TestEvent path={`${base}/inboxes/${inbox.id}`} />
          </Section>
        )}
        <Link href={`/app/settings/inboxes/${inbox.id}`}>Open the inbox’s settings</Link>
      </div>
    );
  }
  if (!channel) {
    return (
      <div class="settings">
        <h1>Add inbox</h1>
        <p>Choose a channel.</p>
        <div class="channels">
          <button type="button" class="channel" onClick={() => setChannel("api")}>
            API
            <span class="muted">Your system sends messages through the API and receives replies on a webhook.</span>
          </button>
        </div>
      </div>
    );
  }
  return (
    <div class="settings">
      <h1>Add inbox → API</h1>
      <form
        class="stack"
        onSubmit={(event) => {
          event.preventDefault();
          run(async () => {
            const inbox = await call<Inbox & { secret: string }>("POST", `${base}/inboxes`, { name, webhook_url: webhookUrl || null });
            const issued = await call<{ token: string }>("POST", `${base}/inboxes/${inbox.id}/tokens`);
            setCreated({ inbox, token: issued.token });
          });
        }}
      >
        <label>
          Inbox name
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Webhook URL
          <input type="url" placeholder="https://example.com/webhooks/edge-inbox" value={webhookUrl} onInput={(e) => setWebhookUrl(e.currentTarget.value)} />
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>Create inbox</button>
      </form>
    </div>
  );
}

type Delivery = {
  id: string;
  event_type: string;
  state: string;
  attempts_count: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  next_attempt_at: string | null;
  attempts?: { attempt: number; started_at: string; duration_ms: number; status_code: number | null; error: string | null }[];
};

export function InboxPage({ inboxId }: { inboxId: string }) {
  const base = useAccountPath();
  const path = `${base}/inboxes/${encodeURIComponent(inboxId)}`;
  const [inbox, setInbox] = useState<Inbox | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [users, setUsers] = useState<User[]>([]);
  const [members, setMembers] = useState<Set<string>>(new Set());
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  const [stateFilter, setStateFilter] = useState("");
  const [since, setSince] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const load = useAction();
  const act = useAction();

  const loadDeliveries = () => call<List<Delivery>>("GET", `${path}/deliveries${qs({ state: stateFilter, limit: 50 })}`).then((page) => setDeliveries(page.data));
  useEffect(() => {
    load.run(async () => {
      const [found, userList, memberList] = await Promise.all([
        call<Inbox>("GET", path),
        call<List<User>>("GET", `${base}/users?limit=100`),
        call<List<User>>("GET", `${path}/members`),
      ]);
      setInbox(found);
      setUsers(userList.data);
      setMembers(new Set(memberList.data.map((m) => m.id)));
    });
  }, [path]);
  useEffect(() => {
    load.run(loadDeliveries);
  }, [path, stateFilter]);

  if (!inbox) return <div class="settings">{load.error ? <ErrorText error={load.error} /> : <p>Loading…</p>}</div>;
  const doing = (message: string, action: () => Promise<unknown>) =>
    act.run(async () => {
      await action();
      setNotice(message);
    });
  return (
    <div class="settings">
      <div class="page-head">
        <h1>{inbox.name}</h1>
        <Link href="/app/settings/inboxes">All inboxes</Link>
      </div>
      <ErrorText error={act.error ?? load.error} />
      {notice && <p role="status" class="ok">{notice}</p>}
      <Section title="Webhook">
        <p>
          Identifier <code>{inbox.identifier}</code>
        </p>
        <p>URL: {inbox.webhook_url ?? "none"}</p>
        <p>
          Status:{" "}
          {inbox.webhook_status.enabled ? (
            "enabled"
          ) : (
            <>
              disabled {inbox.webhook_status.disabled_reason ? `(${inbox.webhook_status.disabled_reason})` : ""}{" "}
              {inbox.webhook_url && (
                <button type="button" onClick={() => doing("Webhook re-enabled.", async () => setInbox(await call<Inbox>("PATCH", path, { webhook_enabled: true })))}>
                  Re-enable webhook
                </button>
              )}
            </>
          )}
        </p>
        {inbox.webhook_url && <TestEvent path={path} />}
        <button type="button" onClick={() => doing("Secret rotated: the old one still signs for 24 hours.", async () => setSecret((await call<{ secret: string }>("POST", `${path}/secret/rotate`)).secret))}>
          Rotate signing secret
        </button>
        {secret && <Secret label="New signing secret" value={secret} />}
      </Section>
      <Section title="Members">
        <fieldset>
          <legend>Who works this inbox</legend>
          {users.map((user) => (
            <label class="check">
              <input
                type="checkbox"
                checked={members.has(user.id)}
                onChange={(e) => {
                  const next = new Set(members);
                  if (e.currentTarget.checked) next.add(user.id);
                  else next.delete(user.id);
                  setMembers(next);
                }}
              />
              {user.name} ({user.role})
            </label>
          ))}
        </fieldset>
        <button type="button" onClick={() => doing("Members saved.", () => call("PUT", `${path}/members`, { user_ids: [...members] }))}>
          Save members
        </button>
      </Section>
      <Section title="Delivery log">
        <div class="inline">
          <label>
            State
            <select value={stateFilter} onChange={(e) => setStateFilter(e.currentTarget.value)}>
              <option value="">All</option>
              <option value="pending">pending</option>
              <option value="succeeded">succeeded</option>
              <option value="failed">failed</option>
            </select>
          </label>
          <button type="button" onClick={() => load.run(loadDeliveries)}>Refresh</button>
        </div>
        <form
          class="inline"
          onSubmit={(event) => {
            event.preventDefault();
            doing("Replay started.", async () => {
              await call("POST", `${path}/deliveries/replay`, { since: since ? new Date(since).toISOString() : "" });
              await loadDeliveries();
            });
          }}
        >
          <label>
            Replay since
            <input type="datetime-local" required value={since} onInput={(e) => setSince(e.currentTarget.value)} />
          </label>
          <button type="submit">Replay</button>
        </form>
        <table>
          <caption class="visually-hidden">Webhook deliveries</caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">State</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last result</th>
              <th scope="col">Created</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <tr>
                <td>{d.event_type}</td>
                <td>{d.state}</td>
                <td>
                  <details>
                    <summary>{d.attempts_count}</summary>
                    <ul>
                      {d.attempts?.map((a) => (
                        <li>
                          #{a.attempt} {when(a.started_at)}: {a.status_code ?? a.error ?? "—"} ({a.duration_ms} ms)
                        </li>
                      ))}
                    </ul>
                  </details>
                </td>
                <td>{d.last_status_code ?? d.last_error ?? "—"}</td>
                <td>{when(d.created_at)}</td>
                <td>
                  {d.state === "failed" && (
                    <button type="button" aria-label={`Retry delivery ${d.id}`} onClick={() => doing("Retry queued.", async () => (await call("POST", `${path}/deliveries/${d.id}/retry`), await loadDeliveries()))}>
                      Retry
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {deliveries.length === 0 && <p class="muted">No deliveries.</p>}
      </Section>
      <Section title="Danger zone">
        <button
          type="button"
          class="danger"
          onClick={() => {
            if (!confirm(`Delete the inbox “${inbox.name}”? Its conversations stay readable; integrators can no longer use it.`)) return;
            act.run(async () => {
              await call("DELETE", path);
              navigate("/app/settings/inboxes");
            });
          }}
        >
          Delete inbox
        </button>
      </Section>
    </div>
  );
}
