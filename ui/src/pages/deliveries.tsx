// Webhook deliveries: provider, event, signature verdict, status and reason, and the runs they
// started; redeliver one.
import { api, canDeploy, type Session } from "../api";
import { SignatureVerdict } from "../gen/slipway/v1/delivery_pb";
import { Provider } from "../gen/slipway/v1/pipeline_pb";
import { ActionButton, Badge, ErrorBox, Time, enumName, useLoad } from "../widgets";

export function DeliveriesPage({ session }: { session: Session }) {
  const { value, error, reload } = useLoad(() => api.deliveries.listDeliveries({ pageSize: 100 }), []);
  return (
    <section>
      <h1>Deliveries</h1>
      <div class="toolbar">
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={error} />
      {value && (
        <table class="list" aria-label="Deliveries">
          <thead>
            <tr>
              <th scope="col">Received</th>
              <th scope="col">Provider</th>
              <th scope="col">Event</th>
              <th scope="col">Signature</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
              <th scope="col">Runs started</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {value.deliveries.map((d) => (
              <tr key={d.id} data-delivery={d.id}>
                <td>
                  <Time t={d.receiveTime} />
                </td>
                <td>{enumName(Provider, d.provider)}</td>
                <td>
                  {d.event?.event} {d.event?.branch || d.event?.tag}
                </td>
                <td>
                  <Badge text={enumName(SignatureVerdict, d.signature)} />
                </td>
                <td>{d.status}</td>
                <td>
                  {d.message}
                  {d.matches
                    .filter((m) => m.gitops)
                    .map((m) => (
                      <div key={`gitops-${m.pipeline}`} class="gitops">
                        {m.pipeline}: {m.gitops}
                      </div>
                    ))}
                </td>
                <td>
                  {d.matches
                    .filter((m) => m.runId)
                    .map((m) => (
                      <a key={m.runId} href={`#/runs/${m.runId}`}>
                        {m.runId}{" "}
                      </a>
                    ))}
                </td>
                <td>
                  {canDeploy(session) && (
                    <ActionButton label={`Redeliver ${d.id}`} run={async () => { await api.deliveries.redeliver({ id: d.id }); reload(); }} />
                  )}
                </td>
              </tr>
            ))}
            {value.deliveries.length === 0 && (
              <tr>
                <td colSpan={8} class="muted">
                  No deliveries.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
