// A run's nodes and their states, as WatchRun reports them.
import { NodeState, RunKind, RunState, type Run } from "./gen/slipway/v1/release_pb";
import { Badge, enumName, Time } from "./widgets";

export function RunSummary({ run }: { run: Run }) {
  return (
    <span class="run-summary">
      <a href={`#/runs/${run.id}`}>{run.id}</a> <Badge text={enumName(RunState, run.state)} />{" "}
      {run.kind === RunKind.ROLLBACK && <span>rollback to release {String(run.rollbackTo)} </span>}
      {run.release > 0n && <span>→ release {String(run.release)} </span>}
      <span class="muted">
        {run.trigger?.event} <Time t={run.createTime} />
      </span>
    </span>
  );
}

export function RunNodes({ run }: { run: Run }) {
  return (
    <ol class="nodes" aria-label={`Nodes of ${run.id}`}>
      {run.nodes.map((n) => (
        <li key={n.path} data-node={n.ref} data-state={enumName(NodeState, n.state)}>
          <span class="node-ref">{n.ref || n.path}</span> <Badge text={enumName(NodeState, n.state)} />
          {n.attempts > 1 && <span class="muted"> attempt {n.attempts}</span>}
          {n.error && <span class="error"> {n.error}</span>}
        </li>
      ))}
    </ol>
  );
}
