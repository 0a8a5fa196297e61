// The dashboard's shell: sign-in with a token, the navigation, and a hash router (#/...), so
// that slipwayd serves one page and every view has a link.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, errorText, forgetToken, isUnauthenticated, scopeName, storeToken, storedToken, type Session } from "./api";
import { DeliveriesPage } from "./pages/deliveries";
import { PipelinePage } from "./pages/pipeline";
import { PipelinesPage } from "./pages/pipelines";
import { PreviewsPage } from "./pages/previews";
import { RunPage } from "./pages/run";
import { StagePage } from "./pages/stage";

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const on = () => setHash(window.location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function Login({ onSession }: { onSession: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <h1>Slipway</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError("");
          storeToken(token.trim());
          try {
            const info = await api.admin.getServerInfo({});
            onSession({ info });
          } catch (err) {
            forgetToken();
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          placeholder="slw_…"
          value={token}
          onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
          required
        />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="muted">The token stays in this tab (sessionStorage) and is sent as a Bearer header.</p>
      </form>
    </main>
  );
}

function Route({ hash, session }: { hash: string; session: Session }) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "pipelines":
      if (parts.length >= 3) return <StagePage session={session} pipeline={parts[1]} stage={parts[2]} />;
      if (parts.length === 2) return <PipelinePage session={session} name={parts[1]} />;
      return <PipelinesPage />;
    case "runs":
      return <RunPage session={session} id={parts[1] ?? ""} />;
    case "previews":
      return <PreviewsPage session={session} />;
    case "deliveries":
      return <DeliveriesPage session={session} />;
    default:
      return <PipelinesPage />;
  }
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(storedToken() !== null);
  const hash = useHash();
  useEffect(() => {
    if (!storedToken()) return;
    api.admin.getServerInfo({}).then(
      (info) => {
        setSession({ info });
        setChecking(false);
      },
      (e) => {
        if (isUnauthenticated(e)) forgetToken();
        setChecking(false);
      },
    );
  }, []);
  if (checking) return <p class="muted">Loading…</p>;
  if (!session) return <Login onSession={setSession} />;
  const logout = () => {
    forgetToken();
    setSession(null);
  };
  return (
    <>
      <header>
        <a class="brand" href="#/pipelines">
          Slipway
        </a>
        <nav aria-label="Main">
          <a href="#/pipelines">Pipelines</a>
          <a href="#/previews">Previews</a>
          <a href="#/deliveries">Deliveries</a>
        </nav>
        <span class="who" data-testid="scope">
          token {session.info.callerTokenId} · {scopeName(session.info.callerScope)}
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </header>
      <main>
        <Route hash={hash} session={session} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
