import { useEffect, useState } from "preact/hooks";
import { call, type Session } from "../api";
import { ErrorText, useAction } from "../ui";

const tokenFromHash = () => (location.hash.startsWith("#token=") ? decodeURIComponent(location.hash.slice("#token=".length)) : null);

/** Email + password, or a one-time sign-in link (`/app/sign-in#token=…`, e.g. `npm start`'s SIGN_IN_URL). */
export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  const [linkToken] = useState(tokenFromHash);

  useEffect(() => {
    if (!linkToken) return;
    // The token leaves the address bar at once: it is spent now and useless afterwards anyway.
    history.replaceState(null, "", "/app/sign-in");
    run(async () => onSignedIn(await call<Session>("POST", "/v1/session/links", { token: linkToken })));
  }, []);

  return (
    <main class="auth" id="main">
      <h1>Sign in to edge-inbox</h1>
      {linkToken && busy && <p>Signing you in…</p>}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          run(async () => onSignedIn(await call<Session>("POST", "/v1/session", { email, password })));
        }}
      >
        <label>
          Email
          <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>Sign in</button>
      </form>
    </main>
  );
}

/** An invite link: choose a password, then you are signed in. */
export function Invite({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token] = useState(tokenFromHash);
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  return (
    <main class="auth" id="main">
      <h1>Choose your password</h1>
      {!token ? (
        <p role="alert" class="error">This invite link is incomplete. Open the whole link you were given.</p>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => onSignedIn(await call<Session>("POST", "/v1/session/invites", { token, password })));
          }}
        >
          <label>
            New password (at least 10 characters)
            <input type="password" autocomplete="new-password" minLength={10} required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <ErrorText error={error} />
          <button type="submit" disabled={busy}>Set password and sign in</button>
        </form>
      )}
    </main>
  );
}
