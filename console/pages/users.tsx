// Settings → Users: invite (a one-time, expiring link to set a password), change role, remove.
import { useEffect, useState } from "preact/hooks";
import { call, type List, type User } from "../api";
import { useAccountPath, useSession } from "../session";
import { ErrorText, Secret, Section, useAction, when } from "../ui";

export function UsersPage() {
  const base = useAccountPath();
  const session = useSession();
  const [users, setUsers] = useState<User[]>([]);
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<"agent" | "administrator">("agent");
  const [invite, setInvite] = useState<{ name: string; url: string; expires_at: string } | null>(null);
  const list = useAction();
  const inviting = useAction();
  const reload = () => list.run(async () => setUsers((await call<List<User>>("GET", `${base}/users?limit=100`)).data));
  useEffect(() => void reload(), [base]);

  const newInvite = (user: User) =>
    inviting.run(async () => {
      const link = await call<{ url: string; expires_at: string }>("POST", `${base}/users/${user.id}/invites`);
      setInvite({ name: user.name, ...link });
    });

  return (
    <div class="settings">
      <h1>Settings → Users</h1>
      <Section title="Invite someone">
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            inviting.run(async () => {
              const user = await call<User>("POST", `${base}/users`, { name, email, role });
              const link = await call<{ url: string; expires_at: string }>("POST", `${base}/users/${user.id}/invites`);
              setInvite({ name: user.name, ...link });
              setName("");
              setEmail("");
              await reload();
            });
          }}
        >
          <label>
            Name
            <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            Email
            <input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.currentTarget.value as "agent" | "administrator")}>
              <option value="agent">agent</option>
              <option value="administrator">administrator</option>
            </select>
          </label>
          <ErrorText error={inviting.error} />
          <button type="submit" disabled={inviting.busy}>Invite</button>
        </form>
        {invite && (
          <div role="status">
            <p>
              Send this link to {invite.name}. It works once, until {when(invite.expires_at)}.
            </p>
            <Secret label="Invite link" value={invite.url} />
          </div>
        )}
      </Section>
      <Section title="People">
        <ErrorText error={list.error} />
        <table>
          <caption class="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <tr>
                <td>{user.name}</td>
                <td>{user.email}</td>
                <td>
                  <select
                    aria-label={`Role of ${user.name}`}
                    value={user.role}
                    onChange={(e) => list.run(async () => (await call("PATCH", `${base}/users/${user.id}`, { role: e.currentTarget.value }), await reload()))}
                  >
                    <option value="agent">agent</option>
                    <option value="administrator">administrator</option>
                  </select>
                </td>
                <td class="row-actions">
                  <button type="button" aria-label={`New invite link for ${user.name}`} onClick={() => newInvite(user)}>
                    Invite link
                  </button>
                  {user.id !== session.user.id && (
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Remove ${user.name}`}
                      onClick={() => {
                        if (confirm(`Remove ${user.name}? Their tokens and sessions end now.`)) list.run(async () => (await call("DELETE", `${base}/users/${user.id}`), await reload()));
                      }}
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
