// One run, live: its nodes, approvals (approve or reject; the server refuses the initiator),
// cancel, retry, and its log lines as they arrive.
import { useState } from "preact/hooks";
import { api, canDeploy, requestId, type Session } from "../api";
import { NodeState, RunState } from "../gen/slipway/v1/release_pb";
import { RunNodes, RunSummary } from "../run_view";
import { isTerminal, useRun } from "../watch";
import { ActionButton, ErrorBox, Time } from "../widgets";

export function RunPage({ session, id }: { session: Session; id: string }) {
  const [reload, setReload] = useState(0);
  const { run, logs, error } = useRun(id, reload);
  const [comment, setComment] = useState("");
  if (!run) return <ErrorBox error={error} />;
  const waiting = run.nodes.filter((n) => n.state === NodeState.AWAITING_APPROVAL);
  const deploy = canDeploy(session);
  return (
    <section>
      <p>
        <a href={`#/pipelines/${encodeURIComponent(run.pipeline)}`}>{run.pipeline}</a> /{" "}
        <a href={`#/pipelines/${encodeURIComponent(run.pipeline)}/${encodeURIComponent(run.stage)}`}>{run.stage}</a>
      </p>
      <h1>Run {run.id}</h1>
      <p>
        <RunSummary run={run} />
      </p>
      <dl class="facts">
        <dt>Started by</dt>
        <dd>
          {run.trigger?.actor || "–"} ({run.trigger?.event})
        </dd>
        <dt>Created</dt>
        <dd>
          <Time t={run.createTime} />
        </dd>
        {run.endTime && (
          <>
            <dt>Ended</dt>
            <dd>
              <Time t={run.endTime} />
            </dd>
          </>
        )}
        {Object.keys(run.args).length > 0 && (
          <>
            <dt>Arguments</dt>
            <dd>
              {Object.entries(run.args)
                .map(([k, v]) => `${k}=${v}`)
                .join(", ")}
            </dd>
          </>
        )}
        {run.waitingReason && (
          <>
            <dt>Waiting</dt>
            <dd>{run.waitingReason}</dd>
          </>
        )}
        {run.error && (
          <>
            <dt>Error</dt>
            <dd class="error">{run.error}</dd>
          </>
        )}
      </dl>
      <ErrorBox error={error} />
      <RunNodes run={run} />
      {deploy && waiting.length > 0 && (
        <div class="approvals">
          <label for="approval-comment">Comment on the approval</label>
          <input id="approval-comment" value={comment} onInput={(e) => setComment((e.currentTarget as HTMLInputElement).value)} />
          {waiting.map((n) => (
            <div key={n.ref} class="buttons">
              <ActionButton kind="primary" label={`Approve ${n.ref}`} run={() => api.releases.approveRun({ id: run.id, node: n.ref, comment })} />
              <ActionButton kind="danger" label={`Reject ${n.ref}`} run={() => api.releases.rejectRun({ id: run.id, node: n.ref, comment })} />
            </div>
          ))}
        </div>
      )}
      <div class="buttons">
        {deploy && !isTerminal(run.state) && run.state !== RunState.CANCELLING && (
          <ActionButton kind="danger" label="Cancel run" run={() => api.releases.cancelRun({ id: run.id, reason: "cancelled from the dashboard" })} />
        )}
        {deploy && (run.state === RunState.FAILED || run.state === RunState.CANCELLED) && (
          <ActionButton
            label="Retry run"
            run={async () => {
              const r = await api.releases.retryRun({ id: run.id, requestId: requestId() });
              window.location.hash = `#/runs/${r.id}`;
              setReload((n) => n + 1);
            }}
          />
        )}
      </div>
      <h2>Logs</h2>
      <pre class="logs" aria-label="Run logs" tabIndex={0} data-testid="logs">
        {logs.map((l, i) => (
          <span key={i}>
            <span class="muted">[{l.node}]</span> {l.line}
            {"\n"}
          </span>
        ))}
      </pre>
    </section>
  );
}
