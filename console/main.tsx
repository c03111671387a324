// The console's entry: session, routing under /app, the layout. Pages live in pages/.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { call, describe, setCsrfToken, whenSignedOut, type Session } from "./api";
import { navigate, useLocation, Link } from "./router";
import { SessionContext } from "./session";
import { SignIn, Invite } from "./pages/sign-in";
import { ConversationsPage } from "./pages/conversations";
import { InboxesPage, NewInboxPage, InboxPage } from "./pages/inboxes";
import { UsersPage } from "./pages/users";
import { AutomationPage } from "./pages/automation";
import { AccountPage } from "./pages/account";
import { ErrorText } from "./ui";

function App() {
  const location = useLocation();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  // Set once someone signs in here: the first load's session check may answer after that and must not undo it.
  const signedInHere = useRef(false);
  const adopt = (next: Session | null) => {
    setCsrfToken(next?.csrf_token ?? null);
    setSession(next);
  };
  const signedIn = (next: Session, to: string) => {
    signedInHere.current = true;
    adopt(next);
    navigate(to);
  };

  useEffect(() => {
    whenSignedOut(() => adopt(null));
    call<Session>("GET", "/v1/session", undefined, { quiet401: true })
      .then((found) => signedInHere.current || adopt(found))
      .catch(() => signedInHere.current || adopt(null));
  }, []);

  const path = location.pathname.replace(/\/+$/, "");
  if (path === "/app/invite") return <Invite onSignedIn={(s) => signedIn(s, "/app/conversations")} />;
  if (path === "/app/sign-in" && location.hash.startsWith("#token=")) return <SignIn onSignedIn={(s) => signedIn(s, "/app/conversations")} />;
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={(s) => signedIn(s, path === "/app/sign-in" || path === "/app" ? "/app/conversations" : location.pathname + location.search)} />;

  const signOut = async () => {
    try {
      await call("DELETE", "/v1/session");
      signedInHere.current = false;
      adopt(null);
      navigate("/app/sign-in");
    } catch (e) {
      setError(describe(e));
    }
  };
  const admin = session.user.role === "administrator";
  // Old addresses (before Settings grouped the admin screens) still lead to their page.
  const moved = /^\/app\/(inboxes|users|automation|account)(\/.*)?$/.exec(path);
  if (moved) {
    navigate(`/app/settings/${moved[1]}${moved[2] ?? ""}${location.search}`, true);
    return null;
  }
  if (path === "/app/settings") {
    navigate(admin ? "/app/settings/inboxes" : "/app/settings/account", true);
    return null;
  }
  let page;
  let match: RegExpExecArray | null;
  if ((match = /^\/app\/conversations(?:\/([^/]+))?$/.exec(path))) page = <ConversationsPage conversationId={match[1] ?? null} />;
  else if (path === "/app/settings/account") page = <AccountPage />;
  else if (path.startsWith("/app/settings/") && !admin) page = <AdminsOnly />;
  else if (path === "/app/settings/inboxes") page = <InboxesPage />;
  else if (path === "/app/settings/inboxes/new") page = <NewInboxPage />;
  else if ((match = /^\/app\/settings\/inboxes\/([^/]+)$/.exec(path))) page = <InboxPage inboxId={match[1]!} />;
  else if (path === "/app/settings/users") page = <UsersPage />;
  else if (path === "/app/settings/automation") page = <AutomationPage />;
  else if (path === "/app" || path === "/app/sign-in" || path === "") {
    navigate("/app/conversations", true);
    return null;
  } else page = <p role="alert">No page here. <Link href="/app/conversations">Go to conversations</Link>.</p>;

  const current = (prefix: string) => (path === prefix || path.startsWith(`${prefix}/`) ? "page" : undefined);
  const inSettings = path.startsWith("/app/settings/");
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">edge-inbox</span>
        <nav aria-label="Main">
          <Link href="/app/conversations" aria-current={current("/app/conversations")}>Conversations</Link>
          <Link href="/app/settings" aria-current={current("/app/settings")}>Settings</Link>
        </nav>
        <Link class="who" href="/app/settings/account" aria-label={`Your account: ${session.user.name}, ${session.account_name}`}>
          {session.user.name} · {session.account_name}
        </Link>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      <ErrorText error={error} />
      <main id="main" tabIndex={-1}>
        {inSettings ? (
          <>
            {/* Settings: what this person may use — administrators manage inboxes, users and rules; everyone their own account. */}
            <nav class="subnav" aria-label="Settings">
              {admin && (
                <>
                  <Link href="/app/settings/inboxes" aria-current={current("/app/settings/inboxes")}>Inboxes</Link>
                  <Link href="/app/settings/users" aria-current={current("/app/settings/users")}>Users</Link>
                  <Link href="/app/settings/automation" aria-current={current("/app/settings/automation")}>Automation</Link>
                </>
              )}
              <Link href="/app/settings/account" aria-current={current("/app/settings/account")}>Account</Link>
            </nav>
            {page}
          </>
        ) : (
          page
        )}
      </main>
    </SessionContext.Provider>
  );
}

function AdminsOnly() {
  return (
    <div class="settings">
      <p role="alert">
        Only administrators manage inboxes, users and automation. Ask one of them, or go to <Link href="/app/conversations">Conversations</Link>.
      </p>
    </div>
  );
}

const root = document.getElementById("app")!;
// The page's "Loading…" placeholder goes; render() would keep nodes it did not create.
root.textContent = "";
render(<App />, root);
