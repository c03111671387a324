// Your account: change your password (every other session of yours ends).
import { useState } from "preact/hooks";
import { call, setCsrfToken, type Session } from "../api";
import { useSession } from "../session";
import { ErrorText, Section, useAction } from "../ui";

export function AccountPage() {
  const session = useSession();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();
  return (
    <div class="settings">
      <h1>Your account</h1>
      <p>
        {session.user.name} · {session.user.email} · {session.user.role}
      </p>
      <Section title="Change password">
        <p class="muted">Signs you out everywhere else. No password yet? An administrator can give you an invite link (Settings → Users).</p>
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              const renewed = await call<Session>("POST", "/v1/session/password", { current_password: current, new_password: next });
              // This browser got a new session (and CSRF token); the old one ended with the others.
              setCsrfToken(renewed.csrf_token);
              setCurrent("");
              setNext("");
              setDone(true);
            });
          }}
        >
          <label>
            Current password
            <input type="password" autocomplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
          </label>
          <label>
            New password (at least 10 characters)
            <input type="password" autocomplete="new-password" minLength={10} required value={next} onInput={(e) => setNext(e.currentTarget.value)} />
          </label>
          <ErrorText error={error} />
          {done && <p role="status" class="ok">Password changed; your other sessions were signed out.</p>}
          <button type="submit" disabled={busy}>Change password</button>
        </form>
      </Section>
    </div>
  );
}
