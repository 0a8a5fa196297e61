// A pipeline as its stages side by side: each stage's current release and versions, URLs, its
// hold and who placed it, the run in progress with live node states, and the last runs.
import { useEffect, useState } from "preact/hooks";
import { api, canDeploy, isNotFound, requestId, type Session } from "../api";
import type { ResourceState, StageStatus } from "../gen/slipway/v1/release_pb";
import { RunNodes, RunSummary } from "../run_view";
import { isTerminal, useRun } from "../watch";
import { ActionButton, ErrorBox, Time, useLoad } from "../widgets";

function Artifact({ r }: { r: ResourceState }) {
  const a = r.artifact;
  const url = r.status["url"];
  return (
    <li>
      <strong>{r.name}</strong> <span data-testid={`version-${r.name}`}>{a?.version || a?.image || a?.sha || "–"}</span>
      {a?.digest && <code class="digest" title={a.digest}> {a.digest.slice(0, 19)}</code>}
      {url && (
        <>
          {" "}
          <a href={url} rel="noreferrer">
            {url}
          </a>
        </>
      )}
    </li>
  );
}

function LiveRun({ id, onEnd }: { id: string; onEnd: () => void }) {
  const { run, error } = useRun(id);
  useEffect(() => {
    if (run && isTerminal(run.state)) onEnd();
  }, [run?.state]);
  if (!run) return <ErrorBox error={error} />;
  return (
    <div class="live" aria-live="polite">
      <RunSummary run={run} />
      <RunNodes run={run} />
    </div>
  );
}

// "version=1.2.3" lines as a run's arguments.
function parseArgs(text: string): { [k: string]: string } {
  const args: { [k: string]: string } = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) args[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return args;
}

export function StartRunForm({ pipeline, stage, onStarted }: { pipeline: string; stage: string; onStarted: (id: string) => void }) {
  const [args, setArgs] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const field = `args-${stage}`;
  return (
    <form
      class="start"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          const run = await api.releases.startRun({ pipeline, stage, args: parseArgs(args), requestId: requestId() });
          setArgs("");
          onStarted(run.id);
        } catch (err) {
          setError(err);
        }
      }}
    >
      <label for={field}>Arguments for {stage} (name=value, one a line)</label>
      <textarea id={field} rows={2} value={args} onInput={(e) => setArgs((e.currentTarget as HTMLTextAreaElement).value)} />
      <button type="submit" class="primary">
        Start run on {stage}
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

function StageCard({ session, pipeline, stage }: { session: Session; pipeline: string; stage: string }) {
  const { value: st, error, reload } = useLoad<StageStatus>(() => api.releases.getStage({ pipeline, stage }), [pipeline, stage]);
  const active = st?.recentRuns.find((r) => !isTerminal(r.state));
  return (
    <article class="stage" aria-label={`Stage ${stage}`} data-stage={stage}>
      <h2>
        <a href={`#/pipelines/${encodeURIComponent(pipeline)}/${encodeURIComponent(stage)}`}>{stage}</a>
      </h2>
      <ErrorBox error={error} />
      {st && (
        <>
          <p>
            Release{" "}
            <strong data-testid={`release-${stage}`}>{st.currentRelease > 0n ? String(st.currentRelease) : "none yet"}</strong>
          </p>
          <ul class="resources">
            {st.resources.map((r) => (
              <Artifact key={r.name} r={r} />
            ))}
          </ul>
          {st.hold && (
            <div class="hold" role="status" data-testid={`hold-${stage}`}>
              Held: {st.hold.reason} — by {st.hold.heldBy}, <Time t={st.hold.holdTime} />
              {canDeploy(session) && (
                <ActionButton label="Unhold" run={async () => { await api.releases.releaseHold({ pipeline, stage }); reload(); }} />
              )}
            </div>
          )}
          {active && <LiveRun key={active.id} id={active.id} onEnd={reload} />}
          <h3>Last runs</h3>
          <ul class="runs">
            {st.recentRuns.map((r) => (
              <li key={r.id}>
                <RunSummary run={r} />
              </li>
            ))}
          </ul>
          {canDeploy(session) && <StartRunForm pipeline={pipeline} stage={stage} onStarted={() => reload()} />}
        </>
      )}
    </article>
  );
}

export function PipelinePage({ session, name }: { session: Session; name: string }) {
  const { value: p, error } = useLoad(() => api.pipelines.getPipeline({ name }), [name]);
  // Where the pipeline's Git file stands, if it is kept in Git (NOT_FOUND: it is not).
  const { value: git, error: gitError } = useLoad(
    () =>
      api.pipelines.getGitOps({ pipeline: name }).catch((e) => {
        if (isNotFound(e)) return undefined;
        throw e;
      }),
    [name],
  );
  return (
    <section>
      <h1>{name}</h1>
      <ErrorBox error={error ?? gitError} />
      {p && (
        <>
          <p class="muted">{p.description}</p>
          {git && git.pipeline === name && (
            <div class="gitops" data-testid="gitops">
              Kept in Git: <code>{git.source}@{git.branch}:{git.path}</code> — {git.status}
              {git.errors.length > 0 && (
                <ul>
                  {git.errors.map((e) => (
                    <li key={e}>{e}</li>
                  ))}
                </ul>
              )}
            </div>
          )}
          <div class="stages">
            {p.stages.map((s) => (
              <StageCard key={s.name} session={session} pipeline={name} stage={s.name} />
            ))}
          </div>
        </>
      )}
    </section>
  );
}
