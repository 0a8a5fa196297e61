// A stage's release history (paged by the server, rendered as a virtualised list), the diff of
// any two releases, and rollback with a confirmation built from the server's dry run: what each
// resource changes to, what is not undone, and the hold that follows.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, canDeploy, requestId, type Session } from "../api";
import type { Release, ReleaseDiff, StageStatus } from "../gen/slipway/v1/release_pb";
import { RunState } from "../gen/slipway/v1/release_pb";
import type { RollbackStageResponse as Dry } from "../gen/slipway/v1/release_service_pb";
import { RunNodes, RunSummary } from "../run_view";
import { isTerminal, useRun } from "../watch";
import { ActionButton, ErrorBox, Time, VirtualList, useLoad } from "../widgets";

const PAGE = 100;
const ROW = 44;

function versions(r: Release): string {
  return r.resources.map((x) => `${x.name} ${x.artifact?.version || x.artifact?.image || "–"}`).join(", ");
}

function Diff({ diff }: { diff: ReleaseDiff }) {
  if (diff.resources.length === 0) return <p>No resource differs.</p>;
  return (
    <ul class="diff" aria-label={`Changes from release ${diff.fromRelease} to ${diff.toRelease}`}>
      {diff.resources.map((r) => (
        <li key={r.resource}>
          <strong>{r.resource}</strong>
          <ul>
            {r.changes.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}

function RollbackFollow({ id, pipeline, stage, target, onDone }: { id: string; pipeline: string; stage: string; target: bigint; onDone: () => void }) {
  const { run, error } = useRun(id);
  const [after, setAfter] = useState<StageStatus | null>(null);
  useEffect(() => {
    if (!run || !isTerminal(run.state)) return;
    onDone();
    api.releases.getStage({ pipeline, stage }).then(setAfter, () => undefined);
  }, [run?.state]);
  if (!run) return <ErrorBox error={error} />;
  return (
    <div aria-live="polite">
      <RunSummary run={run} />
      <RunNodes run={run} />
      {run.state === RunState.SUCCEEDED && after && (
        <div class="result" data-testid="rollback-result">
          <p>
            Release <strong>{String(run.release)}</strong> is <strong>rollback of {String(target)}</strong>.
          </p>
          {after.hold && (
            <p class="hold" role="status">
              Stage held: {after.hold.reason} — by {after.hold.heldBy}{" "}
              <ActionButton
                label="Unhold"
                run={async () => {
                  await api.releases.releaseHold({ pipeline, stage });
                  const now = await api.releases.getStage({ pipeline, stage });
                  setAfter(now);
                  onDone();
                }}
              />
            </p>
          )}
          {!after.hold && <p>The stage is not held.</p>}
        </div>
      )}
      {run.state === RunState.FAILED && <p class="error">The rollback failed: {run.error}</p>}
    </div>
  );
}

function RollbackDialog({ pipeline, stage, target, current, onClose }: { pipeline: string; stage: string; target: bigint; current: bigint; onClose: (changed: boolean) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [dry, setDry] = useState<Dry | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [started, setStarted] = useState<Dry | null>(null);
  const [changed, setChanged] = useState(false);
  useEffect(() => {
    ref.current?.showModal();
    api.releases.rollbackStage({ pipeline, stage, toRelease: target, dryRun: true }).then(setDry, setError);
  }, []);
  const close = () => {
    ref.current?.close();
    onClose(changed);
  };
  return (
    <dialog ref={ref} aria-labelledby="rollback-title" onClose={() => onClose(changed)} onCancel={close}>
      <h2 id="rollback-title">
        Roll back {stage} to release {String(target)}
      </h2>
      <ErrorBox error={error} />
      {!started && dry && (
        <>
          <p>
            From release {String(current)} to release {String(dry.targetRelease)}. This will:
          </p>
          <h3>Change</h3>
          {dry.diff && <Diff diff={dry.diff} />}
          <h3>Not undo</h3>
          <ul data-testid="not-undone">
            {dry.notUndone.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
          <h3>Then hold the stage</h3>
          <p data-testid="hold-preview">
            “{dry.hold?.reason}”, held by {dry.hold?.heldBy}. Triggers will not start runs on {stage} until it is unheld.
          </p>
          <div class="buttons">
            <ActionButton
              kind="danger"
              label={`Roll back to release ${target}`}
              run={async () => {
                const r = await api.releases.rollbackStage({ pipeline, stage, toRelease: target, requestId: requestId() });
                setStarted(r);
              }}
            />
            <button type="button" onClick={close}>
              Cancel
            </button>
          </div>
        </>
      )}
      {started?.run && (
        <>
          <RollbackFollow id={started.run.id} pipeline={pipeline} stage={stage} target={target} onDone={() => setChanged(true)} />
          <button type="button" onClick={close}>
            Close
          </button>
        </>
      )}
    </dialog>
  );
}

export function StagePage({ session, pipeline, stage }: { session: Session; pipeline: string; stage: string }) {
  const status = useLoad(() => api.releases.getStage({ pipeline, stage }), [pipeline, stage]);
  const [releases, setReleases] = useState<Release[]>([]);
  const [next, setNext] = useState<string | null>("");
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(false);
  const [picked, setPicked] = useState<bigint[]>([]);
  const [diff, setDiff] = useState<ReleaseDiff | null>(null);
  const [rollbackTo, setRollbackTo] = useState<bigint | null>(null);
  const [generation, setGeneration] = useState(0);

  const loadMore = async (token: string, replace: boolean) => {
    setLoading(true);
    try {
      const r = await api.releases.listReleases({ pipeline, stage, pageSize: PAGE, pageToken: token });
      setReleases((old) => (replace ? r.releases : [...old, ...r.releases]));
      setNext(r.nextPageToken || null);
      setError(undefined);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    setReleases([]);
    setNext("");
    loadMore("", true);
  }, [pipeline, stage, generation]);

  const current = status.value?.currentRelease ?? 0n;
  const pick = (n: bigint) => setPicked((p) => (p.includes(n) ? p.filter((x) => x !== n) : [...p.slice(-1), n]));

  return (
    <section>
      <p>
        <a href={`#/pipelines/${encodeURIComponent(pipeline)}`}>{pipeline}</a> /
      </p>
      <h1>{stage}: release history</h1>
      <ErrorBox error={status.error ?? error} />
      {status.value?.hold && (
        <p class="hold" role="status">
          Held: {status.value.hold.reason} — by {status.value.hold.heldBy}, <Time t={status.value.hold.holdTime} />
          {canDeploy(session) && (
            <ActionButton label="Unhold" run={async () => { await api.releases.releaseHold({ pipeline, stage }); status.reload(); }} />
          )}
        </p>
      )}
      <div class="toolbar">
        <span>
          {picked.length === 2 ? `Compare ${picked[0]} and ${picked[1]}` : "Tick two releases to compare them."}
        </span>
        <ActionButton
          label="Show diff"
          run={async () => {
            if (picked.length !== 2) return;
            const [a, b] = [...picked].sort((x, y) => (x < y ? -1 : 1));
            setDiff(await api.releases.diffReleases({ pipeline, stage, fromRelease: a, toRelease: b }));
          }}
        />
      </div>
      {diff && <Diff diff={diff} />}
      <VirtualList
        label="Releases"
        items={releases}
        rowHeight={ROW}
        height={Math.min(600, Math.max(ROW * 3, releases.length * ROW))}
        onNearEnd={() => {
          if (next && !loading) loadMore(next, false);
        }}
        row={(r) => (
          <div class="release-row" data-release={String(r.number)}>
            <input
              type="checkbox"
              aria-label={`Compare release ${r.number}`}
              checked={picked.includes(r.number)}
              onChange={() => pick(r.number)}
            />
            <strong>#{String(r.number)}</strong>
            {r.number === current && <span class="badge">current</span>}
            {r.rollbackOf > 0n && <span class="badge badge-rollback">rollback of {String(r.rollbackOf)}</span>}
            <span class="versions">{versions(r)}</span>
            <span class="muted">
              {r.trigger?.event} {r.trigger?.sha?.slice(0, 7)}
            </span>
            <Time t={r.createTime} />
            {canDeploy(session) && r.number !== current && (
              <button type="button" class="danger" onClick={() => setRollbackTo(r.number)}>
                Roll back to release {String(r.number)}
              </button>
            )}
          </div>
        )}
      />
      {releases.length === 0 && !loading && <p class="muted">No releases yet.</p>}
      {rollbackTo !== null && (
        <RollbackDialog
          pipeline={pipeline}
          stage={stage}
          target={rollbackTo}
          current={current}
          onClose={(changed) => {
            setRollbackTo(null);
            if (changed) {
              status.reload();
              setGeneration((g) => g + 1);
            }
          }}
        />
      )}
    </section>
  );
}
