// One conversation: the history in order, the composer (Reply / Private note), actions (assign, labels,
// resolve / reopen, snooze) and the contact panel with their other conversations.
import { useEffect, useRef, useState } from "preact/hooks";
import { call, qs, type Attachment, type Conversation, type ConversationDetail, type List, type Message, type User } from "../api";
import { Link } from "../router";
import { useAccountPath } from "../session";
import { ErrorText, useAction, when } from "../ui";

type Props = { id: string; version: number; inboxName: Record<string, string>; onChanged: () => void; backHref: string };

export function ConversationView({ id, version, inboxName, onChanged, backHref }: Props) {
  const base = useAccountPath();
  const path = `${base}/conversations/${encodeURIComponent(id)}`;
  const [detail, setDetail] = useState<ConversationDetail | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [members, setMembers] = useState<User[]>([]);
  const [others, setOthers] = useState<Conversation[]>([]);
  const [userNames, setUserNames] = useState<Record<string, string>>({});
  const load = useAction();
  const history = useRef<HTMLOListElement>(null);

  const refresh = () =>
    load.run(async () => {
      const [conversation, page] = await Promise.all([
        call<ConversationDetail>("GET", path),
        call<List<Message>>("GET", `${path}/messages?limit=100`),
      ]);
      setDetail(conversation);
      setMessages(page.data);
      // Seen now: the list's unread count for this conversation drops to 0.
      if ((conversation.unread_count ?? 1) > 0) call("POST", `${path}/last_seen`).then(onChanged, () => {});
      return conversation;
    });

  useEffect(() => {
    refresh().then((conversation) => {
      if (!conversation) return;
      call<List<User>>("GET", `${base}/inboxes/${conversation.inbox_id}/members`).then((m) => setMembers(m.data), () => setMembers([]));
      call<List<User>>("GET", `${base}/users?limit=100`).then((u) => setUserNames(Object.fromEntries(u.data.map((x) => [x.id, x.name]))), () => {});
      call<List<Conversation>>("GET", `${base}/conversations${qs({ contact_id: conversation.contact_id, limit: 20 })}`).then(
        (list) => setOthers(list.data.filter((c) => c.id !== id)),
        () => setOthers([]),
      );
    });
  }, [id]);
  useEffect(() => {
    if (version) refresh();
  }, [version]);
  useEffect(() => {
    history.current?.lastElementChild?.scrollIntoView({ block: "end" });
  }, [messages.length]);

  const changed = (next: Conversation) => {
    setDetail((current) => (current ? { ...current, ...next } : current));
    onChanged();
    refresh();
  };

  if (!detail) return <section class="conversation" aria-label="Conversation">{load.error ? <ErrorText error={load.error} /> : <p>Loading…</p>}</section>;
  const contact = detail.contact;
  const title = contact.name || contact.email || contact.source_id || "Contact";
  return (
    <>
      <section class="conversation" aria-label={`Conversation with ${title}`}>
        <div class="conversation-head">
          <Link class="back" href={backHref}>
            ← Conversations
          </Link>
          <h2>{title}</h2>
          <span class={`status status-${detail.status}`}>{detail.status}{detail.snoozed_until ? ` until ${when(detail.snoozed_until)}` : ""}</span>
        </div>
        <Actions path={path} detail={detail} members={members} onChanged={changed} />
        <ErrorText error={load.error} />
        <ol class="history" ref={history} aria-label="Messages">
          {messages.map((m) => (
            <MessageItem message={m} userNames={userNames} contactName={title} />
          ))}
        </ol>
        {detail.inbox_deleted ? <p class="note">This inbox was deleted: the conversation is read-only.</p> : <Composer path={path} onSent={refresh} />}
      </section>
      <aside class="contact-panel" aria-label="Contact">
        <h2>Contact</h2>
        <dl>
          <dt>Name</dt>
          <dd>{contact.name ?? "—"}</dd>
          <dt>Email</dt>
          <dd>{contact.email ?? "—"}</dd>
          <dt>Phone</dt>
          <dd>{contact.phone ?? "—"}</dd>
          <dt>Source id</dt>
          <dd>
            <code>{detail.source_id ?? contact.source_id ?? "—"}</code>
          </dd>
          {Object.entries(contact.custom_attributes ?? {}).map(([key, value]) => (
            <>
              <dt>{key}</dt>
              <dd>{typeof value === "string" ? value : JSON.stringify(value)}</dd>
            </>
          ))}
        </dl>
        <h3>Other conversations</h3>
        {others.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <ul>
            {others.map((c) => (
              <li>
                <Link href={`/app/conversations/${c.id}`}>
                  {inboxName[c.inbox_id] ?? "inbox"} · {c.status} · {when(c.last_activity_at)}
                </Link>
              </li>
            ))}
          </ul>
        )}
      </aside>
    </>
  );
}

function AttachmentView({ attachment }: { attachment: Attachment }) {
  const href = attachment.data_url ?? attachment.url ?? "";
  const name = attachment.file_name ?? attachment.name ?? "attachment";
  if (attachment.file_type === "image" && href) return <img class="attachment-image" src={href} alt={name} loading="lazy" />;
  return (
    <a class="attachment-file" href={href} download={name}>
      Download {name}
      {attachment.byte_size ? ` (${Math.ceil(attachment.byte_size / 1024)} KB)` : ""}
    </a>
  );
}

function MessageItem({ message, userNames, contactName }: { message: Message; userNames: Record<string, string>; contactName: string }) {
  if (message.message_type === "activity") {
    return (
      <li class="activity">
        {message.content} <time dateTime={message.created_at}>{when(message.created_at)}</time>
      </li>
    );
  }
  const who =
    message.sender?.type === "contact"
      ? contactName
      : message.sender?.type === "user"
        ? (userNames[message.sender.id ?? ""] ?? "Agent")
        : (message.sender?.type ?? "system");
  const kind = message.private ? "note" : message.message_type;
  return (
    <li class={`message ${kind}`} aria-label={message.private ? "Private note" : message.message_type === "incoming" ? "Incoming message" : "Reply"}>
      <div class="message-meta">
        <span class="sender">{who}</span>
        {message.private && <span class="tag">Private note</span>}
        <time dateTime={message.created_at}>{when(message.created_at)}</time>
        {message.message_type === "outgoing" && !message.private && (
          <span class={`delivery delivery-${message.status}`} title={message.status_reason ?? undefined}>
            {message.status}
            {message.status === "failed" && message.status_reason ? `: ${message.status_reason}` : ""}
          </span>
        )}
      </div>
      {message.content && <p class="content">{message.content}</p>}
      {message.attachments?.map((a) => <AttachmentView attachment={a} />)}
    </li>
  );
}

function Composer({ path, onSent }: { path: string; onSent: () => void }) {
  const [mode, setMode] = useState<"reply" | "note">("reply");
  const [text, setText] = useState("");
  const [files, setFiles] = useState<File[]>([]);
  // One source_id per composed message: a retry after a lost answer never sends it twice.
  const [sourceId, setSourceId] = useState(() => crypto.randomUUID());
  const { busy, error, run } = useAction();
  const ready = text.trim() !== "" || files.length > 0;
  const send = () => {
    if (!ready || busy) return;
    run(async () => {
      const fields = { ...(text.trim() ? { content: text } : {}), private: mode === "note", source_id: `console-${sourceId}` };
      if (files.length === 0) await call("POST", `${path}/messages`, fields);
      else {
        // docs/attachments.md: the JSON as one `payload` part, each file as an `attachments[]` part.
        const form = new FormData();
        form.append("payload", JSON.stringify(fields));
        for (const file of files) form.append("attachments[]", file, file.name);
        await call("POST", `${path}/messages`, form);
      }
      setText("");
      setFiles([]);
      setSourceId(crypto.randomUUID());
      onSent();
    });
  };
  const label = mode === "reply" ? "Reply" : "Private note";
  return (
    <form
      class={`composer ${mode}`}
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      <div role="group" aria-label="Message kind" class="mode">
        <button type="button" aria-pressed={mode === "reply"} onClick={() => setMode("reply")}>
          Reply
        </button>
        <button type="button" aria-pressed={mode === "note"} onClick={() => setMode("note")}>
          Private note
        </button>
      </div>
      <textarea
        aria-label={label}
        placeholder={mode === "reply" ? "Write a reply (Ctrl+Enter sends)" : "A note only colleagues see (Ctrl+Enter sends)"}
        value={text}
        rows={3}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            send();
          }
        }}
      />
      {files.length > 0 && (
        <ul class="attached" aria-label="Attached files">
          {files.map((file, i) => (
            <li>
              {file.name} <span class="muted">({Math.max(1, Math.ceil(file.size / 1024))} KB)</span>{" "}
              <button type="button" aria-label={`Remove ${file.name}`} onClick={() => setFiles(files.filter((_, j) => j !== i))}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <ErrorText error={error} />
      <div class="composer-actions">
        {/* The file input itself is the control (keyboard and screen readers reach it); its label is what shows. */}
        <label class="button attach">
          Attach files
          <input
            class="visually-hidden"
            type="file"
            multiple
            onChange={(e) => {
              const picked = [...(e.currentTarget.files ?? [])];
              setFiles((current) => [...current, ...picked]);
              e.currentTarget.value = "";
            }}
          />
        </label>
        <button type="submit" disabled={busy || !ready}>
          Send
        </button>
      </div>
    </form>
  );
}

function Actions({ path, detail, members, onChanged }: { path: string; detail: ConversationDetail; members: User[]; onChanged: (c: Conversation) => void }) {
  const { busy, error, run } = useAction();
  const [labels, setLabels] = useState(detail.labels.join(", "));
  const [snooze, setSnooze] = useState("");
  useEffect(() => setLabels(detail.labels.join(", ")), [detail.labels.join(",")]);
  const post = (suffix: string, body: unknown) => run(async () => onChanged(await call<Conversation>("POST", `${path}/${suffix}`, body)));
  const resolved = detail.status === "resolved";
  return (
    <div class="actions">
      <label>
        Assignee
        <select value={detail.assignee_id ?? ""} disabled={busy} onChange={(e) => post("assignment", { assignee_id: e.currentTarget.value || null })}>
          <option value="">Unassigned</option>
          {detail.assignee && !members.some((m) => m.id === detail.assignee!.id) && <option value={detail.assignee.id}>{detail.assignee.name}</option>}
          {members.map((m) => (
            <option value={m.id}>{m.name}</option>
          ))}
        </select>
      </label>
      <form
        class="inline"
        onSubmit={(event) => {
          event.preventDefault();
          post("labels", { labels: labels.split(",").map((l) => l.trim()).filter(Boolean) });
        }}
      >
        <label>
          Labels
          <input value={labels} placeholder="billing, vip" onInput={(e) => setLabels(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>Save labels</button>
      </form>
      <button type="button" disabled={busy} onClick={() => post("status", { status: resolved ? "open" : "resolved" })}>
        {resolved ? "Reopen" : "Resolve"}
      </button>
      <form
        class="inline"
        onSubmit={(event) => {
          event.preventDefault();
          post("status", { status: "snoozed", snoozed_until: snooze ? new Date(snooze).toISOString() : undefined });
        }}
      >
        <label>
          Snooze until
          <input type="datetime-local" value={snooze} onInput={(e) => setSnooze(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>Snooze</button>
      </form>
      <ErrorText error={error} />
    </div>
  );
}
