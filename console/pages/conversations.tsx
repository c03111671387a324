// Conversations for agents: tabs Mine / Unassigned / All with counts, filters, a live list with unread
// state, and the open conversation (history, composer, actions, contact panel).
import { useEffect, useMemo, useState } from "preact/hooks";
import { call, qs, type ConversationListItem, type Inbox, type List } from "../api";
import { openAgentStream } from "../realtime";
import { Link, navigate, useLocation } from "../router";
import { useAccountPath, useSession } from "../session";
import { ErrorText, useAction } from "../ui";
import { ConversationView } from "./conversation";

type Tab = "mine" | "unassigned" | "all";
const TABS: { id: Tab; label: string }[] = [
  { id: "mine", label: "Mine" },
  { id: "unassigned", label: "Unassigned" },
  { id: "all", label: "All" },
];
const STATUSES = ["open", "pending", "snoozed", "resolved"] as const;
type Counts = Record<Tab, number | null>;

export function ConversationsPage({ conversationId }: { conversationId: string | null }) {
  const base = useAccountPath();
  const session = useSession();
  const location = useLocation();
  const params = new URLSearchParams(location.search);
  const tab = (params.get("tab") as Tab) || "all";
  const status = params.get("status") ?? "open";
  const inboxId = params.get("inbox") ?? "";
  const label = params.get("label") ?? "";

  const [list, setList] = useState<ConversationListItem[]>([]);
  const [counts, setCounts] = useState<Counts>({ mine: null, unassigned: null, all: null });
  const [inboxes, setInboxes] = useState<Inbox[]>([]);
  const [labels, setLabels] = useState<string[]>([]);
  const [live, setLive] = useState(false);
  const [version, setVersion] = useState(0);
  const [changed, setChanged] = useState<{ id: string | undefined; at: number }>({ id: undefined, at: 0 });
  const { error, run } = useAction();

  const setParam = (name: string, value: string) => {
    const next = new URLSearchParams(location.search);
    if (value) next.set(name, value);
    else next.delete(name);
    navigate(`${location.pathname}?${next.toString()}`, true);
  };

  useEffect(() => {
    run(async () => {
      const [inboxList, labelList] = await Promise.all([call<List<Inbox>>("GET", `${base}/inboxes?limit=100`), call<List<{ name: string }>>("GET", `${base}/labels`)]);
      setInboxes(inboxList.data);
      setLabels(labelList.data.map((l) => l.name));
    });
  }, [base, version]);

  // The live stream: every event refreshes the list (and the open conversation, if it is the one).
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bump = () => {
      clearTimeout(timer);
      timer = setTimeout(() => setVersion((v) => v + 1), 100);
    };
    const stop = openAgentStream(session.account_id, {
      onEvent: (event) => {
        if (event.event.startsWith("conversation_typing")) return;
        setChanged({ id: event.conversation_id as string | undefined, at: Date.now() });
        bump();
      },
      onResync: bump,
      onStatus: (isLive) => {
        setLive(isLive);
        if (isLive) bump();
      },
    });
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, [session.account_id]);

  useEffect(() => {
    const filters = { status, inbox_id: inboxId, label };
    const assignee = (t: Tab) => (t === "all" ? undefined : t);
    run(async () => {
      const [page, ...countPages] = await Promise.all([
        call<List<ConversationListItem>>("GET", `${base}/conversations${qs({ ...filters, assignee: assignee(tab), limit: 50 })}`),
        ...TABS.map((t) => call<List<ConversationListItem> & { meta: { counts: Record<string, number> } }>("GET", `${base}/conversations${qs({ inbox_id: inboxId, label, assignee: assignee(t.id), limit: 1 })}`)),
      ]);
      setList(page.data);
      const next: Counts = { mine: null, unassigned: null, all: null };
      TABS.forEach((t, i) => (next[t.id] = countPages[i]!.meta.counts[status] ?? 0));
      setCounts(next);
    });
  }, [base, tab, status, inboxId, label, version]);

  const inboxName = useMemo(() => Object.fromEntries(inboxes.map((i) => [i.id, i.name])), [inboxes]);
  const listLink = (id: string) => `/app/conversations/${id}${location.search}`;

  return (
    <div class={`conversations ${conversationId ? "has-open" : ""}`}>
      <section class="list-pane" aria-label="Conversation list">
        <div class="list-head">
          <h1>Conversations</h1>
          <span class={`live ${live ? "on" : ""}`} role="status">{live ? "Live" : "Connecting…"}</span>
        </div>
        <div role="tablist" aria-label="Whose conversations" class="tabs">
          {TABS.map((t) => (
            <button
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls="conversation-list"
              onClick={() => setParam("tab", t.id)}
            >
              {t.label} <span class="count">{counts[t.id] ?? "…"}</span>
            </button>
          ))}
        </div>
        <div class="filters">
          <label>
            Status
            <select value={status} onChange={(e) => setParam("status", e.currentTarget.value)}>
              {STATUSES.map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            Inbox
            <select value={inboxId} onChange={(e) => setParam("inbox", e.currentTarget.value)}>
              <option value="">All inboxes</option>
              {inboxes.map((i) => (
                <option value={i.id}>{i.name}</option>
              ))}
            </select>
          </label>
          <label>
            Label
            <select value={label} onChange={(e) => setParam("label", e.currentTarget.value)}>
              <option value="">Any label</option>
              {labels.map((l) => (
                <option value={l}>{l}</option>
              ))}
            </select>
          </label>
        </div>
        <ErrorText error={error} />
        <ul id="conversation-list" role="tabpanel" aria-labelledby={`tab-${tab}`} class="conversation-list">
          {list.length === 0 && <li class="empty">No {status} conversations here.</li>}
          {list.map((c) => {
            const unread = (c.unread_count ?? 0) > 0;
            return (
              <li class={`${unread ? "unread" : ""} ${c.id === conversationId ? "selected" : ""}`}>
                <Link href={listLink(c.id)} aria-current={c.id === conversationId ? "page" : undefined}>
                  <span class="name">{c.contact.name || c.contact.email || c.contact.phone || c.contact.source_id}</span>
                  {unread && <span class="badge" aria-label={`${c.unread_count} unread`}>{c.unread_count}</span>}
                  <span class="meta">
                    {inboxName[c.inbox_id] ?? "inbox"} · {c.status} · {new Date(c.last_activity_at).toLocaleTimeString()}
                  </span>
                  {c.labels.length > 0 && <span class="labels">{c.labels.join(", ")}</span>}
                </Link>
              </li>
            );
          })}
        </ul>
      </section>
      {conversationId ? (
        <ConversationView
          key={conversationId}
          id={conversationId}
          version={changed.id === conversationId || changed.id === undefined ? changed.at : 0}
          inboxName={inboxName}
          onChanged={() => setVersion((v) => v + 1)}
          backHref={`/app/conversations${location.search}`}
        />
      ) : (
        <section class="placeholder" aria-label="No conversation open">
          <p>Choose a conversation.</p>
        </section>
      )}
    </div>
  );
}

